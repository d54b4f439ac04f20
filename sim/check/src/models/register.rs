//! A single register with read, write and compare-and-set, initially absent: the object of
//! Jepsen's etcd tests (`testdata/porcupine/jepsen`).
//!
//! `write(v)` sets the value; `cas(a, b)` sets it to `b` iff it is `a`, and says whether it did;
//! `read()` returns the value or "absent". An unknown-outcome `cas` still only succeeds when the
//! value matches: what is unknown is whether and when it ran, not the rules.

use serde::{Deserialize, Serialize};

use crate::linearizability::Model;

/// A register value (Jepsen uses small integers).
pub type Value = i64;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case", deny_unknown_fields)]
pub enum RegisterInput {
    Read,
    Write { value: Value },
    Cas { from: Value, to: Value },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case", deny_unknown_fields)]
pub enum RegisterOutput {
    /// `None`: the register was absent.
    Read {
        value: Option<Value>,
    },
    Write,
    /// Whether the value matched `from` and was replaced.
    Cas {
        ok: bool,
    },
}

impl RegisterOutput {
    /// Whether this output answers `input` (same operation kind).
    pub fn answers(&self, input: &RegisterInput) -> bool {
        matches!(
            (input, self),
            (RegisterInput::Read, RegisterOutput::Read { .. })
                | (RegisterInput::Write { .. }, RegisterOutput::Write)
                | (RegisterInput::Cas { .. }, RegisterOutput::Cas { .. })
        )
    }
}

/// The register model. State: the value, `None` while absent.
pub struct Register;

impl Model for Register {
    type State = Option<Value>;
    type Input = RegisterInput;
    type Output = RegisterOutput;

    fn init(&self) -> Option<Value> {
        None
    }

    fn step(
        &self,
        state: &Option<Value>,
        input: &RegisterInput,
        output: Option<&RegisterOutput>,
    ) -> Option<Option<Value>> {
        if let Some(out) = output {
            assert!(
                out.answers(input),
                "register: {out:?} does not answer {input:?}"
            );
        }
        match (input, output) {
            (RegisterInput::Read, None) => Some(*state),
            (RegisterInput::Read, Some(RegisterOutput::Read { value })) => {
                (value == state).then_some(*state)
            }
            (RegisterInput::Write { value }, _) => Some(Some(*value)),
            (RegisterInput::Cas { from, to }, out) => {
                let matched = *state == Some(*from);
                let agrees = match out {
                    Some(RegisterOutput::Cas { ok }) => *ok == matched,
                    _ => true,
                };
                agrees.then_some(if matched { Some(*to) } else { *state })
            }
            (RegisterInput::Read, Some(_)) => unreachable!("checked by `answers`"),
        }
    }

    fn read_only(&self, input: &RegisterInput, output: Option<&RegisterOutput>) -> bool {
        matches!(
            (input, output),
            (RegisterInput::Read, _) | (_, Some(RegisterOutput::Cas { ok: false }))
        )
    }

    fn describe_operation(&self, input: &RegisterInput, output: Option<&RegisterOutput>) -> String {
        let call = match input {
            RegisterInput::Read => "read()".to_string(),
            RegisterInput::Write { value } => format!("write({value})"),
            RegisterInput::Cas { from, to } => format!("cas({from}, {to})"),
        };
        let ret = match output {
            None => " -> outcome unknown".to_string(),
            Some(RegisterOutput::Read { value: Some(v) }) => format!(" -> {v}"),
            Some(RegisterOutput::Read { value: None }) => " -> absent".to_string(),
            Some(RegisterOutput::Write) => String::new(),
            Some(RegisterOutput::Cas { ok: true }) => " -> swapped".to_string(),
            Some(RegisterOutput::Cas { ok: false }) => " -> not swapped".to_string(),
        };
        call + &ret
    }

    fn describe_state(&self, state: &Option<Value>) -> String {
        match state {
            Some(v) => format!("the register holds {v}"),
            None => "the register is absent".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::testing::{assert_illegal, assert_ok, ops};

    fn read(v: Option<Value>) -> RegisterOutput {
        RegisterOutput::Read { value: v }
    }

    #[test]
    fn a_read_overlapping_a_write_may_see_either_value() {
        let h = |seen| {
            ops()
                .ok(
                    0,
                    0,
                    10,
                    RegisterInput::Write { value: 1 },
                    RegisterOutput::Write,
                )
                .ok(1, 5, 6, RegisterInput::Read, read(seen))
        };
        assert_ok(h(None).check(&Register));
        assert_ok(h(Some(1)).check(&Register));
        assert_illegal(h(Some(2)).check(&Register));
    }

    #[test]
    fn a_read_after_a_write_returned_sees_it() {
        let h = |seen| {
            ops()
                .ok(
                    0,
                    0,
                    1,
                    RegisterInput::Write { value: 1 },
                    RegisterOutput::Write,
                )
                .ok(1, 2, 3, RegisterInput::Read, read(seen))
        };
        assert_ok(h(Some(1)).check(&Register));
        let why = assert_illegal(h(None).check(&Register));
        assert!(why.contains("read() -> absent"), "{why}");
        assert!(why.contains("the register holds 1"), "{why}");
    }

    #[test]
    fn a_cas_succeeds_exactly_when_the_value_matches() {
        let h = |ok| {
            ops()
                .ok(
                    0,
                    0,
                    1,
                    RegisterInput::Write { value: 3 },
                    RegisterOutput::Write,
                )
                .ok(
                    0,
                    2,
                    3,
                    RegisterInput::Cas { from: 3, to: 4 },
                    RegisterOutput::Cas { ok },
                )
        };
        assert_ok(h(true).check(&Register));
        assert_illegal(h(false).check(&Register));
    }

    #[test]
    fn a_timed_out_write_may_take_effect_late_or_never() {
        let h = || ops().unknown(0, 0, RegisterInput::Write { value: 1 });
        let later_read = |seen| h().ok(1, 5, 6, RegisterInput::Read, read(seen));
        assert_ok(later_read(Some(1)).check(&Register));
        assert_ok(later_read(None).check(&Register));
        // Seen, then unseen: once it took effect it cannot be undone.
        assert_illegal(
            later_read(Some(1))
                .ok(1, 7, 8, RegisterInput::Read, read(None))
                .check(&Register),
        );
        // It cannot take effect before its call.
        assert_illegal(
            ops()
                .ok(1, 0, 1, RegisterInput::Read, read(Some(1)))
                .unknown(0, 2, RegisterInput::Write { value: 1 })
                .check(&Register),
        );
    }
}
