//! The Wing-Gong/Lowe search for one partition: is there an order of its operations that
//! respects real time and that the model accepts?
//!
//! Depth-first over configurations (which operations are linearized, and the model state).
//! In a configuration the candidates are the operations called before the first return still
//! pending (anything called after that return must come after that operation). The search
//! tries them in turn with the model, enters the first whose configuration is new (the memo
//! prunes the rest), and backtracks when none is left. It succeeds as soon as every operation
//! that returned is linearized: unknown-outcome operations left over never took effect.
//!
//! Candidates are tried in this order, which only changes speed, except where said:
//! 1. **pure** operations (the model says, [`Model::read_only`], that with this output they
//!    change no state wherever they fit): one that fits is taken and *no alternative is tried*.
//!    This is sound: in any linearization from here such an operation can be moved to now, as
//!    it changes no state and everything that must precede it already is linearized (an
//!    operation that returned before its call returned before the first pending return);
//! 2. other operations that returned, by the model's [`Model::order_hint`] (for etcd the
//!    response's revision, so writes are tried in the order their revisions say);
//! 3. operations of unknown outcome, by hint. They never have to be linearized, so they are
//!    only tried once the definite ones cannot go on; one that would change nothing is skipped
//!    (the configuration with it can do nothing the one without it cannot), and equal ones are
//!    taken in call order (see `Unknowns`).
//!
//! Within a class and hint, operations go by call time, except unknown-outcome ones, latest
//! call first (see `Facts::new`).
//!
//! A configuration in which an operation that returned is already too late (the model says,
//! [`Model::too_late`]) is abandoned at once instead of when that operation's return comes.

use super::bitset::Bitset;
use super::deadline::Deadline;
use super::events::{Event, EventList};
use super::history::{Operation, Time};
use super::memo::{EntryId, Memo, MemoFull, SharedBytes};
use super::Model;

/// How often (in search iterations) the search looks at its deadline.
const DEADLINE_CHECK_EVERY: u64 = 256;

/// The answer for one partition, in the partition's own indices (`0..ops.len()`).
pub(crate) enum SearchResult<S> {
    /// Every operation that returned is linearized.
    Linearizable,
    /// No order works. `prefix` is the longest linearizable prefix found, in order, and `state`
    /// the model state after it.
    Illegal { prefix: Vec<usize>, state: S },
    /// The deadline passed or the memo filled up first.
    Unknown,
}

/// How a candidate is treated; the derived order is the order candidates are tried in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Pure,
    Definite,
    Unknown,
}

/// What the search knows about each operation before it starts.
struct Facts {
    /// Sort key: class, the model's hint, then position in call order.
    rank: Vec<(Class, u64, usize)>,
    unknowns: Unknowns,
}

/// One configuration on the search path: its state and the candidates still to try.
struct Level {
    state: EntryId,
    /// Candidates, best first; `candidates[next..]` are still to try.
    candidates: Vec<usize>,
    next: usize,
    /// The candidate this level took to reach the level above, if any.
    took: Option<usize>,
}

/// Searches `ops` (one partition, any order) for a linearization.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    deadline: &dyn Deadline,
    memory: &SharedBytes,
) -> SearchResult<M::State> {
    let facts = Facts::new(model, ops);
    let mut list = EventList::new(ops);
    let mut linearized = Bitset::new(ops.len());
    let mut memo = Memo::new(ops.len(), memory);
    let mut definite_left = ops.len() - facts.unknowns.by_call.len();
    let definite_total = definite_left;
    // The prefix that linearized the most operations that returned, its state and that count.
    let mut longest: Option<(Vec<usize>, EntryId, usize)> = None;
    let init_state = model.init();
    let init_bytes = model.state_heap_bytes(&init_state);
    let init = match memo.insert(&linearized, init_state, init_bytes) {
        Ok(Some(id)) => id,
        Ok(None) | Err(MemoFull) => unreachable!("a fresh memo takes its first entry"),
    };
    let mut path = vec![facts.level(ops, &list, &linearized, init, definite_left)];
    let mut iterations: u64 = 0;

    while definite_left > 0 {
        if iterations % DEADLINE_CHECK_EVERY == 0 && deadline.expired() {
            return SearchResult::Unknown;
        }
        iterations += 1;
        let level = path
            .last_mut()
            .expect("the path always holds the initial level");
        let state = level.state;
        let Some(&op) = level.candidates.get(level.next) else {
            // Dead end: no candidate works from here.
            // "Longest" counts operations that returned: unknown-outcome ones are filler.
            let progress = definite_total - definite_left;
            if longest.as_ref().is_none_or(|&(_, _, best)| progress > best) {
                let prefix = path.iter().filter_map(|l| l.took).collect();
                longest = Some((prefix, state, progress));
            }
            path.pop();
            let Some(parent) = path.last_mut() else {
                let (prefix, at, _) = longest.expect("recorded just above");
                return SearchResult::Illegal {
                    prefix,
                    state: memo.state(at).clone(),
                };
            };
            let op = parent
                .took
                .take()
                .expect("a parent took the step to its child");
            linearized.clear(op);
            if facts.class(op) != Class::Unknown {
                list.unlift(op);
                definite_left += 1;
            }
            continue;
        };
        level.next += 1;
        let class = facts.class(op);
        let Some(next) = model.step(memo.state(state), &ops[op].input, ops[op].output()) else {
            continue;
        };
        let unchanged = next == *memo.state(state);
        match class {
            Class::Pure => assert!(
                unchanged,
                "model says {} changes no state, but its step did",
                model.describe_operation(&ops[op].input, ops[op].output())
            ),
            Class::Unknown if unchanged => continue,
            Class::Definite | Class::Unknown => {}
        }
        linearized.set(op);
        let bytes = model.state_heap_bytes(&next);
        let fresh = match memo.insert(&linearized, next, bytes) {
            Ok(fresh) => fresh,
            Err(MemoFull) => return SearchResult::Unknown,
        };
        if class == Class::Pure {
            // This pure operation fits, so this configuration is exactly as good as the one
            // with it linearized: no other candidate needs trying, whatever happens next.
            level.next = level.candidates.len();
        }
        let Some(next) = fresh else {
            // Explored before (and failed: every configuration off the path has).
            linearized.clear(op);
            continue;
        };
        level.took = Some(op);
        if class != Class::Unknown {
            list.lift(op);
            definite_left -= 1;
        }
        let mut level = facts.level(ops, &list, &linearized, next, definite_left);
        let doomed = level.candidates.iter().any(|&c| {
            facts.class(c) != Class::Unknown
                && model.too_late(memo.state(next), &ops[c].input, ops[c].output())
        });
        if doomed {
            // An operation that returned can no longer fit: nothing from here can work.
            level.next = level.candidates.len();
        }
        path.push(level);
    }
    assert_eq!(
        linearized.count(),
        path.len() - 1,
        "the linearized set is the path's operations"
    );
    SearchResult::Linearizable
}

impl Facts {
    fn new<M: Model>(model: &M, ops: &[&Operation<M::Input, M::Output>]) -> Self {
        let unknowns = Unknowns::new(ops);
        let mut by_call: Vec<usize> = (0..ops.len()).collect();
        by_call.sort_by_key(|&i| (ops[i].call, i));
        let mut rank = vec![(Class::Definite, 0, 0); ops.len()];
        for (position, &i) in by_call.iter().enumerate() {
            let (input, output) = (&ops[i].input, ops[i].output());
            let class = match output {
                None => Class::Unknown,
                Some(_) if model.read_only(input, output) => Class::Pure,
                Some(_) => Class::Definite,
            };
            // Unknown outcomes: the most recently called first. When the definite operations
            // are stuck, an operation that timed out just before is the likeliest to have
            // taken effect; one called long ago would most likely have been needed earlier.
            let order = match class {
                Class::Unknown => usize::MAX - position,
                Class::Pure | Class::Definite => position,
            };
            rank[i] = (class, model.order_hint(input, output), order);
        }
        Facts { rank, unknowns }
    }

    fn class(&self, op: usize) -> Class {
        self.rank[op].0
    }

    /// The configuration after `linearized`, with its candidates in the order to try them.
    fn level<I, O>(
        &self,
        ops: &[&Operation<I, O>],
        list: &EventList,
        linearized: &Bitset,
        state: EntryId,
        definite_left: usize,
    ) -> Level {
        let mut candidates = Vec::new();
        let mut slot = list.first();
        let mut by = None;
        while let Some(s) = slot.filter(|_| definite_left > 0) {
            match list.event(s) {
                Event::Call(op) => candidates.push(op),
                Event::Return(op) => {
                    by = ops[op].returned_at();
                    break;
                }
                Event::Head => unreachable!("the head is never after anything"),
            }
            slot = list.after(s);
        }
        if let Some(by) = by {
            candidates.extend(self.unknowns.available(ops, linearized, by));
        }
        candidates.sort_unstable_by_key(|&op| self.rank[op]);
        Level {
            state,
            candidates,
            next: 0,
            took: None,
        }
    }
}

/// The operations of unknown outcome, by call time.
///
/// Symmetry: unknown-outcome operations with equal inputs are interchangeable once called
/// (same effect, any output, no return to respect), so the search only takes them in call
/// order: the `k`th use of an input goes to the `k`th such operation. Any linearization can be
/// rearranged this way, because the set of operations available only grows as it proceeds.
struct Unknowns {
    by_call: Vec<usize>,
    /// `twin[op]`: the previous operation in `by_call` with an equal input, if any.
    twin: Vec<Option<usize>>,
}

/// How many earlier unknown-outcome operations are compared with each one to find its twin;
/// beyond that the symmetry goes unused (sound, just slower).
const TWIN_LOOKBACK_MAX: usize = 4096;

impl Unknowns {
    fn new<I: Eq, O>(ops: &[&Operation<I, O>]) -> Self {
        let mut by_call: Vec<usize> = (0..ops.len())
            .filter(|&i| ops[i].returned_at().is_none())
            .collect();
        by_call.sort_by_key(|&i| (ops[i].call, i));
        let mut twin = vec![None; ops.len()];
        for (p, &op) in by_call.iter().enumerate() {
            twin[op] = by_call[p.saturating_sub(TWIN_LOOKBACK_MAX)..p]
                .iter()
                .rev()
                .copied()
                .find(|&o| ops[o].input == ops[op].input);
        }
        Unknowns { by_call, twin }
    }

    /// The operations called by `by`, not linearized, and whose twin (if any) is.
    fn available<'a, I, O>(
        &'a self,
        ops: &'a [&Operation<I, O>],
        linearized: &'a Bitset,
        by: Time,
    ) -> impl Iterator<Item = usize> + 'a {
        self.by_call
            .iter()
            .copied()
            .take_while(move |&op| ops[op].call <= by)
            .filter(move |&op| {
                !linearized.contains(op) && self.twin[op].is_none_or(|t| linearized.contains(t))
            })
    }
}
