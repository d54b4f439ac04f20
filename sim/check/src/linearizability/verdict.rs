//! The checker's answer, and on a violation the evidence in words a person can follow.

use std::fmt;

use super::history::{ClientId, Operation, Time};
use super::Model;

/// Whether a history is linearizable with respect to a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Some order of the operations respects real time and the model.
    Ok,
    /// No order works; the evidence for every partition that failed.
    Illegal(ViolationInfo),
    /// The time budget (or the search's memory limit) ran out before an answer.
    Unknown,
}

impl Verdict {
    /// The process exit status for this verdict: 0 linearizable, 1 not, 3 unknown.
    /// (2 is for bad input, see [`crate::CheckError::EXIT_CODE`].)
    pub fn exit_code(&self) -> i32 {
        match self {
            Verdict::Ok => 0,
            Verdict::Illegal(_) => 1,
            Verdict::Unknown => 3,
        }
    }
}

/// Why a history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViolationInfo {
    /// How many independent partitions the model split the history into.
    pub partitions: usize,
    /// Every partition found to have no valid order (at least one).
    pub failing: Vec<PartitionViolation>,
}

/// The evidence for one partition that has no valid order.
///
/// The search found no order; this records where it got furthest: after `longest_prefix` the
/// model is in `state`, operation `first_pending_return` has returned (so it, or something
/// called before its return, must take effect next), and none of `candidates` leads anywhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionViolation {
    /// The partition's position in the model's partition list.
    pub partition: usize,
    /// History indices of the partition's operations, by call time.
    pub operations: Vec<usize>,
    /// The longest linearizable prefix found, in linearization order.
    pub longest_prefix: Vec<OpView>,
    /// The model's state after the prefix, as the model describes it.
    pub state: String,
    /// The earliest return among the operations not in the prefix.
    pub first_pending_return: OpView,
    /// The operations that could have gone next, and what became of each.
    pub candidates: Vec<Candidate>,
}

/// One operation, described for a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpView {
    /// Index in the whole history.
    pub index: usize,
    pub client: ClientId,
    pub call: Time,
    /// `None` for an operation of unknown outcome.
    pub returned: Option<Time>,
    /// The model's description of the operation and its output.
    pub text: String,
}

/// An operation that could have been linearized next after the prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub op: OpView,
    /// `true`: the model refuses it in that state. `false`: the model accepts it, but no order
    /// of the remaining operations works after it.
    pub refused: bool,
}

/// How many operations of the prefix a `Display` shows (the last ones).
const PREFIX_SHOWN_MAX: usize = 20;

impl OpView {
    pub(crate) fn new<M: Model>(
        model: &M,
        index: usize,
        op: &Operation<M::Input, M::Output>,
    ) -> Self {
        OpView {
            index,
            client: op.client,
            call: op.call,
            returned: op.returned_at(),
            text: model.describe_operation(&op.input, op.output()),
        }
    }
}

impl fmt::Display for OpView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ret = match self.returned {
            Some(t) => format!("{t}]"),
            None => "∞)".to_string(),
        };
        write!(
            f,
            "op #{} ({}, [{}, {}): {}",
            self.index, self.client, self.call, ret, self.text
        )
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Ok => write!(f, "linearizable"),
            Verdict::Unknown => write!(
                f,
                "unknown: the search ran out of time budget (or memory) before an answer"
            ),
            Verdict::Illegal(info) => write!(f, "{info}"),
        }
    }
}

impl fmt::Display for ViolationInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "not linearizable: {} of {} partition(s) have no valid order",
            self.failing.len(),
            self.partitions
        )?;
        for p in &self.failing {
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl fmt::Display for PartitionViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "partition {} ({} operations):",
            self.partition,
            self.operations.len()
        )?;
        let n = self.longest_prefix.len();
        let hidden = n.saturating_sub(PREFIX_SHOWN_MAX);
        write!(f, "  longest linearizable prefix found: {n} operation(s)")?;
        if hidden > 0 {
            write!(f, ", the first {hidden} not shown")?;
        }
        writeln!(f)?;
        for (i, op) in self.longest_prefix.iter().enumerate().skip(hidden) {
            writeln!(f, "    {:>4}. {op}", i + 1)?;
        }
        writeln!(f, "  state after it: {}", self.state)?;
        writeln!(
            f,
            "  {} has returned, so it or an operation called before that return must take \
             effect next, but none can:",
            self.first_pending_return
        )?;
        for c in &self.candidates {
            let why = if c.refused {
                "impossible in this state"
            } else {
                "possible, but no order of the remaining operations works after it"
            };
            writeln!(f, "    {}: {why}", c.op)?;
        }
        Ok(())
    }
}
