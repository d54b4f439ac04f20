//! Lowe's event list: call and return events in time order, as a doubly linked list in which
//! an operation can be lifted out (linearized) and put back (backtracked) in O(1).
//!
//! Worked example, ops A = [1, 4], B = [2, 6], C = [3, 5]:
//!
//! ```text
//!   head -> call A -> call B -> call C -> ret A -> ret C -> ret B
//!   lift(A):  head -> call B -> call C -> ret C -> ret B  (A's call and return leave together)
//!   unlift(A) restores the first line exactly; lifts and unlifts must nest like a stack.
//! ```
//!
//! The search only ever looks at the calls before the first return: those are the operations
//! that may be linearized next (anything called after that return must come after that op).
//! Operations of unknown outcome are not in the list at all: they never return, so they never
//! bound anything, and the search keeps them aside (see `search.rs`).

use super::history::{Operation, Time};

/// Slot index of the list's head sentinel.
const HEAD: u32 = 0;
/// "No slot": the end of the list.
const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Head,
    Call(usize),
    Return(usize),
}

/// Invariants:
/// - slot 0 is the head sentinel and is never lifted;
/// - an op's call slot comes before its return slot; operations of unknown outcome have
///   neither (their slots are `NIL`);
/// - lifts and unlifts nest like a stack (the search backtracks in reverse order).
pub(crate) struct EventList {
    events: Vec<Event>,
    prev: Vec<u32>,
    next: Vec<u32>,
    call_slot: Vec<u32>,
    return_slot: Vec<u32>,
}

impl EventList {
    /// Builds the list for `ops` (indexed `0..ops.len()`), ordered by time, calls before returns
    /// at equal times (so touching operations count as concurrent), then by operation index.
    pub(crate) fn new<I, O>(ops: &[&Operation<I, O>]) -> Self {
        let mut order: Vec<(Time, u8, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            if let Some(at) = op.returned_at() {
                order.push((op.call, 0, i));
                order.push((at, 1, i));
            }
        }
        order.sort_unstable();
        let slots = order.len() + 1;
        assert!(slots < NIL as usize, "too many events for u32 slots");
        let mut list = EventList {
            events: Vec::with_capacity(slots),
            prev: Vec::with_capacity(slots),
            next: Vec::with_capacity(slots),
            call_slot: vec![NIL; ops.len()],
            return_slot: vec![NIL; ops.len()],
        };
        list.events.push(Event::Head);
        for (_, kind, op) in order {
            let slot = list.events.len() as u32;
            if kind == 0 {
                list.events.push(Event::Call(op));
                list.call_slot[op] = slot;
            } else {
                list.events.push(Event::Return(op));
                list.return_slot[op] = slot;
            }
        }
        for slot in 0..slots as u32 {
            list.prev.push(if slot == HEAD { NIL } else { slot - 1 });
            list.next.push(if slot as usize + 1 == slots {
                NIL
            } else {
                slot + 1
            });
        }
        list
    }

    /// The first event after the head, if any.
    pub(crate) fn first(&self) -> Option<u32> {
        self.after(HEAD)
    }

    pub(crate) fn after(&self, slot: u32) -> Option<u32> {
        let n = self.next[slot as usize];
        (n != NIL).then_some(n)
    }

    pub(crate) fn event(&self, slot: u32) -> Event {
        self.events[slot as usize]
    }

    /// Takes `op`'s call and return events out of the list.
    pub(crate) fn lift(&mut self, op: usize) {
        assert_ne!(
            self.call_slot[op], NIL,
            "op {op} of unknown outcome is not listed"
        );
        self.unlink(self.call_slot[op]);
        self.unlink(self.return_slot[op]);
    }

    /// Puts back the events of `op`, which must be the most recently lifted operation.
    pub(crate) fn unlift(&mut self, op: usize) {
        // Reverse order of `lift`: the return's saved neighbours are only valid once the
        // events lifted after it are back, and the call's once the return is back.
        self.relink(self.return_slot[op]);
        self.relink(self.call_slot[op]);
    }

    fn unlink(&mut self, slot: u32) {
        assert_ne!(slot, HEAD, "the head is never lifted");
        let (p, n) = (self.prev[slot as usize], self.next[slot as usize]);
        self.next[p as usize] = n;
        if n != NIL {
            self.prev[n as usize] = p;
        }
    }

    fn relink(&mut self, slot: u32) {
        let (p, n) = (self.prev[slot as usize], self.next[slot as usize]);
        assert_eq!(self.next[p as usize], n, "unlift out of stack order");
        self.next[p as usize] = slot;
        if n != NIL {
            self.prev[n as usize] = slot;
        }
    }

    #[cfg(test)]
    fn walk(&self) -> Vec<Event> {
        let mut out = vec![];
        let mut s = self.first();
        while let Some(slot) = s {
            out.push(self.event(slot));
            s = self.after(slot);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::history::{ClientId, Outcome};
    use super::*;

    fn op(call: u64, ret: Option<u64>) -> Operation<(), ()> {
        Operation {
            client: ClientId(0),
            call: Time(call),
            input: (),
            outcome: ret.map_or(Outcome::Unknown, |at| Outcome::Returned {
                at: Time(at),
                output: (),
            }),
        }
    }

    #[test]
    fn lift_and_unlift_restore_the_list_exactly() {
        let ops = [op(1, Some(4)), op(2, Some(6)), op(3, Some(5)), op(0, None)];
        let refs: Vec<_> = ops.iter().collect();
        let mut list = EventList::new(&refs);
        let all = vec![
            Event::Call(0),
            Event::Call(1),
            Event::Call(2),
            Event::Return(0),
            Event::Return(2),
            Event::Return(1),
        ];
        assert_eq!(list.walk(), all, "the unknown op is not listed");
        list.lift(0);
        list.lift(2);
        assert_eq!(list.walk(), vec![Event::Call(1), Event::Return(1)]);
        list.unlift(2);
        list.unlift(0);
        assert_eq!(list.walk(), all);
    }

    #[test]
    fn calls_sort_before_returns_at_the_same_time() {
        let ops = [op(0, Some(3)), op(3, Some(5))];
        let refs: Vec<_> = ops.iter().collect();
        let list = EventList::new(&refs);
        assert_eq!(
            list.walk(),
            vec![
                Event::Call(0),
                Event::Call(1),
                Event::Return(0),
                Event::Return(1)
            ]
        );
    }
}
