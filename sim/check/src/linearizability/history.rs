//! What clients saw: operations with a call time, a return time (or none) and their values.
//!
//! A history is the checker's only input. Example, two clients on a register:
//!
//! ```text
//!   client 0  |--write(1)--|                      call 0,  return 10
//!   client 1        |-------read() -> 1-------|   call 5,  return 30
//!   client 2                 |--write(2)--- ?     call 12, outcome unknown (timed out)
//! ```
//!
//! The unknown write has no return time: it may take effect at any point after its call, or
//! never. Its output is unknown, so the model must accept any output for it.

use std::fmt;

/// Who issued an operation. Only used to describe operations to a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {}", self.0)
    }
}

/// A point on the history's clock.
///
/// - Only the order of times matters: nanoseconds in our format, line numbers in the foreign ones.
/// - Two events at the same time count as concurrent (a call at `t` may take effect before a
///   return at `t`): the lenient reading, so touching intervals never cause a false alarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<O> {
    /// The client saw this output at time `at`.
    Returned { at: Time, output: O },
    /// The client never learned what happened (timeout, crash): the operation may take effect at
    /// any time after its call, or never, and its output is unconstrained.
    Unknown,
}

/// One operation as a client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    pub client: ClientId,
    /// When the client sent it.
    pub call: Time,
    pub input: I,
    /// Invariant (checked by [`History::new`]): a return is not before the call.
    pub outcome: Outcome<O>,
}

impl<I, O> Operation<I, O> {
    /// The output the client saw, or `None` when the outcome is unknown.
    pub fn output(&self) -> Option<&O> {
        match &self.outcome {
            Outcome::Returned { output, .. } => Some(output),
            Outcome::Unknown => None,
        }
    }

    /// When the client saw the output, or `None` (= +infinity) when the outcome is unknown.
    pub fn returned_at(&self) -> Option<Time> {
        match &self.outcome {
            Outcome::Returned { at, .. } => Some(*at),
            Outcome::Unknown => None,
        }
    }
}

/// A list of operations, in any order.
///
/// Invariants:
/// - every operation's return time is not before its call time;
/// - it has at most [`History::OPERATIONS_MAX`] operations (event numbers fit in `u32`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History<I, O> {
    operations: Vec<Operation<I, O>>,
}

/// A history that breaks [`History`]'s invariants.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidHistory {
    #[error("operation {index} returns at {returned} before its call at {call}")]
    ReturnBeforeCall {
        index: usize,
        call: Time,
        returned: Time,
    },
    #[error("{count} operations is more than the {max} a history may have")]
    TooLong { count: usize, max: usize },
}

impl<I, O> History<I, O> {
    /// The most operations one history may hold, so its call and return events (two per
    /// operation) can be numbered with a `u32`.
    pub const OPERATIONS_MAX: usize = (u32::MAX / 2 - 1) as usize;

    /// # Errors
    /// [`InvalidHistory`] when an operation returns before its call or there are too many.
    pub fn new(operations: Vec<Operation<I, O>>) -> Result<Self, InvalidHistory> {
        if operations.len() > Self::OPERATIONS_MAX {
            return Err(InvalidHistory::TooLong {
                count: operations.len(),
                max: Self::OPERATIONS_MAX,
            });
        }
        for (index, op) in operations.iter().enumerate() {
            if let Some(returned) = op.returned_at() {
                if returned < op.call {
                    return Err(InvalidHistory::ReturnBeforeCall {
                        index,
                        call: op.call,
                        returned,
                    });
                }
            }
        }
        Ok(History { operations })
    }

    pub fn operations(&self) -> &[Operation<I, O>] {
        &self.operations
    }

    pub fn len(&self) -> usize {
        self.operations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(call: u64, ret: Option<u64>) -> Operation<(), ()> {
        Operation {
            client: ClientId(0),
            call: Time(call),
            input: (),
            outcome: match ret {
                Some(at) => Outcome::Returned {
                    at: Time(at),
                    output: (),
                },
                None => Outcome::Unknown,
            },
        }
    }

    #[test]
    fn history_rejects_a_return_before_its_call() {
        let err = History::new(vec![op(0, Some(1)), op(5, Some(4))]).unwrap_err();
        assert_eq!(
            err,
            InvalidHistory::ReturnBeforeCall {
                index: 1,
                call: Time(5),
                returned: Time(4)
            }
        );
    }

    #[test]
    fn history_accepts_instant_and_unknown_operations() {
        assert!(History::new(vec![op(3, Some(3)), op(4, None)]).is_ok());
    }
}
