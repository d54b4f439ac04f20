//! The Wing-Gong/Lowe search for one partition: is there an order of its operations that
//! respects real time and that the model accepts?
//!
//! Depth-first over the event list. At each point the candidates are the calls before the first
//! return still in the list; the search tries each with the model, lifts the first one whose
//! (linearized set, state) is new, and restarts from the head. Reaching a return means the
//! operation that returns there cannot be postponed any longer and no candidate led to success:
//! backtrack. Operations of unknown outcome have no return event, so they never force a
//! backtrack; the search succeeds once every operation *with* a return is linearized, which
//! leaves the unknown ones either linearized somewhere or never taking effect.

use super::bitset::Bitset;
use super::deadline::Deadline;
use super::events::{Event, EventList};
use super::history::Operation;
use super::memo::{EntryId, Memo, MemoFull};
use super::Model;

/// How often (in search iterations) the search looks at its deadline.
const DEADLINE_CHECK_EVERY: u64 = 512;

/// The answer for one partition, in the partition's own indices (`0..ops.len()`).
pub(crate) enum SearchResult<S> {
    /// Every operation that returned is linearized, in this order.
    Linearizable,
    /// No order works. `prefix` is the longest linearizable prefix found, in order, and `state`
    /// the model state after it.
    Illegal { prefix: Vec<usize>, state: S },
    /// The deadline passed or the memo filled up first.
    Unknown,
}

/// Searches `ops` (one partition, any order) for a linearization.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    deadline: &dyn Deadline,
) -> SearchResult<M::State> {
    let mut list = EventList::new(ops);
    let mut linearized = Bitset::new(ops.len());
    let mut memo = Memo::new(ops.len());
    let mut definite_left = ops.iter().filter(|op| op.returned_at().is_some()).count();
    // Each frame: the operation linearized and the state before it.
    let mut stack: Vec<(usize, EntryId)> = Vec::new();
    let mut longest: Option<(Vec<usize>, EntryId)> = None;
    let mut state = match memo.insert(&linearized, model.init()) {
        Ok(Some(id)) => id,
        Ok(None) | Err(MemoFull) => unreachable!("a fresh memo takes its first entry"),
    };
    let mut cursor = list.first();
    let mut iterations: u64 = 0;

    while definite_left > 0 {
        if iterations % DEADLINE_CHECK_EVERY == 0 && deadline.expired() {
            return SearchResult::Unknown;
        }
        iterations += 1;
        let slot = cursor.expect("an operation with a return is left, so a return event is ahead");
        match list.event(slot) {
            Event::Head => unreachable!("the cursor never points at the head"),
            Event::Call(op) => {
                let next = model.step(memo.state(state), &ops[op].input, ops[op].output());
                let fresh = match next {
                    None => None,
                    Some(next) => {
                        linearized.set(op);
                        match memo.insert(&linearized, next) {
                            Ok(fresh) => fresh,
                            Err(MemoFull) => return SearchResult::Unknown,
                        }
                    }
                };
                match fresh {
                    Some(next) => {
                        stack.push((op, state));
                        state = next;
                        list.lift(op);
                        if ops[op].returned_at().is_some() {
                            definite_left -= 1;
                        }
                        cursor = list.first();
                    }
                    None => {
                        // Refused by the model, or a configuration already explored.
                        linearized.clear(op);
                        cursor = list.after(slot);
                    }
                }
            }
            Event::Return(_) => {
                // The operation returning here must already be linearized, and no candidate
                // before it works from this state: this path is a dead end.
                if longest.as_ref().is_none_or(|(p, _)| stack.len() > p.len()) {
                    longest = Some((stack.iter().map(|&(op, _)| op).collect(), state));
                }
                let Some((op, before)) = stack.pop() else {
                    let (prefix, at) = longest.expect("recorded just above");
                    return SearchResult::Illegal {
                        prefix,
                        state: memo.state(at).clone(),
                    };
                };
                state = before;
                linearized.clear(op);
                list.unlift(op);
                if ops[op].returned_at().is_some() {
                    definite_left += 1;
                }
                cursor = list.after(list.call_slot(op));
            }
        }
    }
    assert_eq!(
        linearized.count(),
        stack.len(),
        "the linearized set is the stack's operations"
    );
    SearchResult::Linearizable
}
