//! Linearizability checking in the manner of Porcupine: the Wing-Gong/Lowe search with
//! P-compositionality, memoization and a time budget.
//!
//! A history is linearizable with respect to a sequential [`Model`] when its operations can be
//! put in one order that (1) keeps every operation that returned before another was called
//! ahead of it, and (2) the model accepts, step by step, from its initial state.
//!
//! - **Search**: depth-first over configurations, candidates from Lowe's event list; see
//!   `search.rs` for the order candidates are tried in and the three sound prunings
//!   (a fitting read is taken without alternatives, an operation already too late ends a
//!   path, an unknown-outcome operation that changes nothing is not taken).
//! - **Memoization**: a (linearized set, state) pair seen before is pruned; states must be
//!   `Hash + Eq`. Memory is bounded (`memo.rs`); past the bound the answer is "unknown".
//! - **P-compositionality**: the model's optional [`Model::partition`] splits the history into
//!   independent sub-histories, checked separately and in parallel (`check.rs`).
//! - **Time budget**: the search polls a [`Deadline`] and answers [`Verdict::Unknown`] when it
//!   expires, never hanging.
//! - **Unknown outcomes**: an operation with [`Outcome::Unknown`] has its return at +infinity
//!   and no output: the model's `step` receives `None` and must accept any output. It may be
//!   linearized at any point after its call, or never (the search succeeds once every
//!   operation that returned is placed).
//!
//! The model API is Porcupine's: `init`, a pure `step`, optional `partition`, and
//! `describe_*`; plus three optional speed hints (`read_only`, `order_hint`, `too_late`)
//! that default to "no hint", each with the contract it must keep for the check to stay sound.
//! A model is a page of code:
//!
//! ```
//! use detcd_check::linearizability::{check, Model, NoDeadline, History, Operation,
//!     Outcome, ClientId, Time, Verdict};
//!
//! /// A counter with `add(n)` returning nothing and `read()` returning the value.
//! struct Counter;
//! #[derive(PartialEq, Eq)]
//! enum In { Add(u32), Read }
//!
//! impl Model for Counter {
//!     type State = u32;
//!     type Input = In;
//!     type Output = Option<u32>; // what read returned; None for add
//!     fn init(&self) -> u32 { 0 }
//!     fn step(&self, s: &u32, input: &In, output: Option<&Option<u32>>) -> Option<u32> {
//!         match input {
//!             In::Add(n) => Some(s + n),
//!             In::Read => match output {
//!                 None => Some(*s), // unknown outcome: any value is fine
//!                 Some(seen) => (*seen == Some(*s)).then_some(*s),
//!             },
//!         }
//!     }
//!     fn describe_operation(&self, i: &In, _: Option<&Option<u32>>) -> String {
//!         match i { In::Add(n) => format!("add({n})"), In::Read => "read()".into() }
//!     }
//!     fn describe_state(&self, s: &u32) -> String { s.to_string() }
//! }
//!
//! let op = |call, ret, input, output| Operation { client: ClientId(0), call: Time(call),
//!     input, outcome: Outcome::Returned { at: Time(ret), output } };
//! let ok = History::new(vec![op(0, 5, In::Add(2), None), op(1, 3, In::Read, Some(2))]).unwrap();
//! assert_eq!(check(&Counter, &ok, &NoDeadline), Verdict::Ok);
//! let bad = History::new(vec![op(0, 1, In::Add(2), None), op(2, 3, In::Read, Some(0))]).unwrap();
//! assert!(matches!(check(&Counter, &bad, &NoDeadline), Verdict::Illegal(_)));
//! ```

mod bitset;
mod check;
mod deadline;
mod events;
mod history;
mod memo;
mod search;
mod verdict;

use std::hash::Hash;
use std::time::Duration;

pub use check::check;
pub use deadline::{Deadline, Expired, NoDeadline};
pub use history::{ClientId, History, InvalidHistory, Operation, Outcome, Time};
pub use verdict::{Candidate, OpView, PartitionViolation, Verdict, ViolationInfo};

/// A sequential specification of an object.
///
/// `step` must be pure: the same state, input and output always give the same answer.
pub trait Model: Sync {
    /// The object's state. Equal states must behave identically from then on (memoization
    /// merges them), so leave out anything the future does not depend on.
    type State: Clone + Eq + Hash;
    /// Equal inputs must mean equal requests: the search treats unknown-outcome operations
    /// with equal inputs as interchangeable.
    type Input: Eq + Sync;
    type Output: Sync;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after `input` takes effect in `state` and the client sees `output`; `None` if
    /// that cannot happen. `output` is `None` for an operation of unknown outcome: accept any
    /// output then (the operation may still be impossible in `state`, e.g. expiring a lease
    /// that does not exist).
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Optional hint: `true` only if the operation, with this output, changes no state
    /// wherever it fits (`step` returns the same state or `None`): a read, a cas that failed.
    /// The search then takes such an operation as soon as it fits without trying alternatives,
    /// which cuts the search a lot on read-heavy histories. A wrong `true` makes the checker
    /// unsound (it is asserted when seen). Not asked for operations of unknown outcome.
    /// Default: `false`.
    fn read_only(&self, _input: &Self::Input, _output: Option<&Self::Output>) -> bool {
        false
    }

    /// Optional hint: candidates with a lower hint are tried first. Only speed depends on it.
    /// A good hint is when the operation took effect, as far as the output tells (etcd: the
    /// response's revision). Default: 0 (call order).
    fn order_hint(&self, _input: &Self::Input, _output: Option<&Self::Output>) -> u64 {
        0
    }

    /// Optional hint: `true` only if the operation, with this output, can fit neither in
    /// `state` nor in any state reachable from it (etcd: the response's revision is already
    /// passed). The search then abandons a configuration as soon as an operation that
    /// returned has become impossible, rather than when its return comes. A wrong `true` makes
    /// the checker unsound. Not asked for operations of unknown outcome. Default: `false`.
    fn too_late(
        &self,
        _state: &Self::State,
        _input: &Self::Input,
        _output: Option<&Self::Output>,
    ) -> bool {
        false
    }

    /// Optional: about how many bytes `state` owns on the heap (strings, maps), so the memo's
    /// memory bound counts what the search really holds. Default: 0 (only the inline size).
    fn state_heap_bytes(&self, _state: &Self::State) -> usize {
        0
    }

    /// Splits the history into independent sub-histories, as lists of operation indices that
    /// together name every operation exactly once. Only sound if the state is a product of
    /// independent parts and each operation touches one part. Default: one partition.
    fn partition(&self, history: &[Operation<Self::Input, Self::Output>]) -> Vec<Vec<usize>> {
        vec![(0..history.len()).collect()]
    }

    /// The operation and what the client saw, for a person: `put("a", "1") -> rev 5`.
    fn describe_operation(&self, input: &Self::Input, output: Option<&Self::Output>) -> String;

    /// The state, for a person.
    fn describe_state(&self, state: &Self::State) -> String;
}

/// [`check`] with a wall-clock time budget.
pub fn check_within<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    budget: Duration,
) -> Verdict {
    check(model, history, &crate::io::WallClockDeadline::after(budget))
}
