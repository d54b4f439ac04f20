//! The Wing-Gong/Lowe search for one partition: is there an order of its operations that
//! respects real time and that the model accepts?
//!
//! Depth-first. At each point the candidates are the operations called before the first
//! return still pending (anything called after that return must come after that operation).
//! The search tries each candidate with the model, takes the first whose (linearized set,
//! state) is new, and starts over from the new point. When no candidate works, it backtracks.
//!
//! Candidates come in three phases. First the read-only operations that returned (as the
//! model says, [`Model::read_only`]): one that fits is taken and no alternative is tried,
//! because a read that fits now can be moved to now in any linearization (it changes no state,
//! and everything that must precede it already does). Then the other operations that returned,
//! walking Lowe's event list up to its first return. Then the operations of unknown outcome
//! called by then. An
//! unknown-outcome operation never has to be linearized (it may never have taken effect), so
//! it is only tried once the definite ones cannot go on; taking it eagerly would multiply
//! the configurations by every subset of pending timeouts. The search succeeds as soon as every
//! operation that returned is linearized: the unknown ones left over never took effect.

use super::bitset::Bitset;
use super::deadline::Deadline;
use super::events::{Event, EventList};
use super::history::{Operation, Time};
use super::memo::{EntryId, Memo, MemoFull};
use super::Model;

/// How often (in search iterations) the search looks at its deadline.
const DEADLINE_CHECK_EVERY: u64 = 512;

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

/// Where the search looks for its next candidate.
#[derive(Clone, Copy)]
enum Cursor {
    /// Phase 0: an event-list slot; only read-only operations qualify.
    Reads(u32),
    /// Phase 1: an event-list slot (a definite operation's call, or the first return); only
    /// operations that are not read-only qualify.
    Event(u32),
    /// Phase 2: position in `Unknowns::by_call`; only operations called at or before `by`
    /// (the first pending return's time) qualify.
    Unknown { pos: usize, by: Time },
    /// No candidate works from this configuration.
    DeadEnd,
}

/// The operations of unknown outcome, by call time.
///
/// Symmetry: unknown-outcome operations with equal inputs are interchangeable once called
/// (same effect, any output, no return to respect), so the search only takes them in call
/// order: the `k`th use of an input goes to the `k`th such operation. Any linearization can be
/// rearranged this way, because the set of operations available only grows as it proceeds.
struct Unknowns {
    by_call: Vec<usize>,
    /// `pos[op]`: where `op` sits in `by_call` (unused for definite operations).
    pos: Vec<usize>,
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
        let mut pos = vec![usize::MAX; ops.len()];
        let mut twin = vec![None; ops.len()];
        for (p, &op) in by_call.iter().enumerate() {
            pos[op] = p;
            twin[op] = by_call[p.saturating_sub(TWIN_LOOKBACK_MAX)..p]
                .iter()
                .rev()
                .copied()
                .find(|&o| ops[o].input == ops[op].input);
        }
        Unknowns { by_call, pos, twin }
    }

    /// The first operation at or after `from`, called by `by`, not linearized, and whose twin
    /// (if any) is.
    fn next<I, O>(
        &self,
        ops: &[&Operation<I, O>],
        linearized: &Bitset,
        from: usize,
        by: Time,
    ) -> Option<(usize, usize)> {
        self.by_call[from.min(self.by_call.len())..]
            .iter()
            .enumerate()
            .take_while(|&(_, &op)| ops[op].call <= by)
            .find(|&(_, &op)| {
                !linearized.contains(op) && self.twin[op].is_none_or(|t| linearized.contains(t))
            })
            .map(|(k, &op)| (from + k, op))
    }
}

/// One linearized operation on the search stack.
struct Frame {
    op: usize,
    /// The state before `op`.
    before: EntryId,
    /// Where to resume trying candidates if `op` leads nowhere.
    resume: Resume,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// A read-only operation that fit: the configuration before it was as good as the one
    /// after, so if this fails, that failed too.
    Nowhere,
    AfterCall,
    Unknown { by: Time },
}

/// Searches `ops` (one partition, any order) for a linearization.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    deadline: &dyn Deadline,
) -> SearchResult<M::State> {
    let mut list = EventList::new(ops);
    let unknowns = Unknowns::new(ops);
    let mut linearized = Bitset::new(ops.len());
    let mut memo = Memo::new(ops.len());
    let mut definite_left = ops.len() - unknowns.by_call.len();
    let mut stack: Vec<Frame> = Vec::new();
    let mut longest: Option<(Vec<usize>, EntryId)> = None;
    let mut state = match memo.insert(&linearized, model.init()) {
        Ok(Some(id)) => id,
        Ok(None) | Err(MemoFull) => unreachable!("a fresh memo takes its first entry"),
    };
    let first = |list: &EventList| {
        list.first()
            .expect("an operation with a return is left, so its events are listed")
    };
    let mut cursor = if definite_left > 0 {
        Cursor::Reads(first(&list))
    } else {
        Cursor::DeadEnd
    };
    let mut iterations: u64 = 0;

    while definite_left > 0 {
        if iterations % DEADLINE_CHECK_EVERY == 0 && deadline.expired() {
            return SearchResult::Unknown;
        }
        iterations += 1;
        // The next candidate, and where to go if it fails; `None` at a dead end.
        let candidate = match cursor {
            Cursor::Reads(slot) | Cursor::Event(slot) => {
                let reads = matches!(cursor, Cursor::Reads(_));
                match list.event(slot) {
                    Event::Head => unreachable!("the cursor never points at the head"),
                    Event::Call(op) => {
                        let after = list.after(slot).expect("a call is followed by its return");
                        if model.read_only(&ops[op].input) != reads {
                            cursor = if reads { Cursor::Reads(after) } else { Cursor::Event(after) };
                            continue;
                        }
                        let (skip, resume) = if reads {
                            (Cursor::Reads(after), Resume::Nowhere)
                        } else {
                            (Cursor::Event(after), Resume::AfterCall)
                        };
                        Some((op, skip, resume))
                    }
                    Event::Return(op) => {
                        cursor = if reads {
                            Cursor::Event(first(&list))
                        } else {
                            let by = ops[op].returned_at().expect("listed operations returned");
                            Cursor::Unknown { pos: 0, by }
                        };
                        continue;
                    }
                }
            }
            Cursor::Unknown { pos, by } => unknowns
                .next(ops, &linearized, pos, by)
                .map(|(p, op)| (op, Cursor::Unknown { pos: p + 1, by }, Resume::Unknown { by })),
            Cursor::DeadEnd => None,
        };
        let Some((op, skip, resume)) = candidate else {
            // Dead end: every candidate fails from here.
            if longest.as_ref().is_none_or(|(p, _)| stack.len() > p.len()) {
                longest = Some((stack.iter().map(|f| f.op).collect(), state));
            }
            let Some(frame) = stack.pop() else {
                let (prefix, at) = longest.expect("recorded just above");
                return SearchResult::Illegal {
                    prefix,
                    state: memo.state(at).clone(),
                };
            };
            state = frame.before;
            linearized.clear(frame.op);
            if let Resume::Nowhere | Resume::AfterCall = frame.resume {
                list.unlift(frame.op);
                definite_left += 1;
            }
            cursor = match frame.resume {
                Resume::Nowhere => Cursor::DeadEnd,
                Resume::AfterCall => {
                    let after = list.after(list.call_slot(frame.op));
                    Cursor::Event(after.expect("a call is followed by its return"))
                }
                Resume::Unknown { by } => Cursor::Unknown {
                    pos: unknowns.pos[frame.op] + 1,
                    by,
                },
            };
            continue;
        };
        let fresh = match model.step(memo.state(state), &ops[op].input, ops[op].output()) {
            None => None,
            // An unknown-outcome operation that changes nothing is better left for later: the
            // configuration with it linearized can do nothing this one cannot.
            Some(next) if matches!(resume, Resume::Unknown { .. }) && next == *memo.state(state) => {
                None
            }
            Some(next) => {
                if resume == Resume::Nowhere {
                    assert!(
                        next == *memo.state(state),
                        "model says {} is read-only, but its step changed the state",
                        model.describe_operation(&ops[op].input, ops[op].output())
                    );
                }
                linearized.set(op);
                match memo.insert(&linearized, next) {
                    Ok(Some(fresh)) => Some(fresh),
                    Ok(None) if resume == Resume::Nowhere => {
                        // A read that fits leads to a configuration already explored and
                        // failed, so this one fails too.
                        linearized.clear(op);
                        cursor = Cursor::DeadEnd;
                        continue;
                    }
                    Ok(None) => None,
                    Err(MemoFull) => return SearchResult::Unknown,
                }
            }
        };
        let Some(next) = fresh else {
            // Refused by the model, or a configuration already explored.
            linearized.clear(op);
            cursor = skip;
            continue;
        };
        stack.push(Frame {
            op,
            before: state,
            resume,
        });
        state = next;
        if let Resume::Nowhere | Resume::AfterCall = resume {
            list.lift(op);
            definite_left -= 1;
        }
        if definite_left > 0 {
            cursor = Cursor::Reads(first(&list));
        }
    }
    assert_eq!(
        linearized.count(),
        stack.len(),
        "the linearized set is the stack's operations"
    );
    SearchResult::Linearizable
}
