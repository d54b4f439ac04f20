//! A key-value store of strings with get, put and append, every key initially "": the object
//! of Porcupine's kv tests (`testdata/porcupine/kv`).
//!
//! Keys are independent, so [`KvAppend::partition`] checks each key's operations on their own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::linearizability::{Model, Operation};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case", deny_unknown_fields)]
pub enum KvInput {
    Get { key: String },
    Put { key: String, value: String },
    Append { key: String, value: String },
}

impl KvInput {
    pub fn key(&self) -> &str {
        match self {
            KvInput::Get { key } | KvInput::Put { key, .. } | KvInput::Append { key, .. } => key,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case", deny_unknown_fields)]
pub enum KvOutput {
    Get { value: String },
    Put,
    Append,
}

impl KvOutput {
    /// Whether this output answers `input` (same operation kind).
    pub fn answers(&self, input: &KvInput) -> bool {
        matches!(
            (input, self),
            (KvInput::Get { .. }, KvOutput::Get { .. })
                | (KvInput::Put { .. }, KvOutput::Put)
                | (KvInput::Append { .. }, KvOutput::Append)
        )
    }
}

/// The kv-append model.
pub struct KvAppend;

/// The store: `(key, value)` pairs.
///
/// Invariants (so equal stores are equal values, as memoization needs):
/// - sorted by key, each key at most once;
/// - no value is "" (an absent key reads as "").
///
/// A sorted `Vec` rather than a map: per-key partitions hold one key, and the search keeps
/// millions of states, where a map's node would cost ten times the memory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct KvState(Vec<(String, String)>);

impl KvState {
    pub fn get(&self, key: &str) -> &str {
        self.find(key).map_or("", |i| self.0[i].1.as_str())
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// This store with `key` set to `value`.
    fn with(&self, key: &str, value: String) -> KvState {
        let mut next = self.clone();
        match (next.find(key), value.is_empty()) {
            (Ok(i), true) => {
                next.0.remove(i);
            }
            (Ok(i), false) => next.0[i].1 = value,
            (Err(_), true) => {}
            (Err(i), false) => next.0.insert(i, (key.to_string(), value)),
        }
        next
    }
}

impl Model for KvAppend {
    type State = KvState;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> KvState {
        KvState::default()
    }

    fn step(&self, state: &KvState, input: &KvInput, output: Option<&KvOutput>) -> Option<KvState> {
        if let Some(out) = output {
            assert!(out.answers(input), "kv: {out:?} does not answer {input:?}");
        }
        let current = state.get(input.key());
        let next = match input {
            KvInput::Get { .. } => {
                return match output {
                    Some(KvOutput::Get { value }) if value != current => None,
                    _ => Some(state.clone()),
                };
            }
            KvInput::Put { value, .. } => value.clone(),
            KvInput::Append { value, .. } => format!("{current}{value}"),
        };
        Some(state.with(input.key(), next))
    }

    fn read_only(&self, input: &KvInput, _output: Option<&KvOutput>) -> bool {
        matches!(input, KvInput::Get { .. })
    }

    fn partition(&self, history: &[Operation<KvInput, KvOutput>]) -> Vec<Vec<usize>> {
        let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, op) in history.iter().enumerate() {
            by_key.entry(op.input.key()).or_default().push(i);
        }
        by_key.into_values().collect()
    }

    fn describe_operation(&self, input: &KvInput, output: Option<&KvOutput>) -> String {
        let ret = match output {
            None => " -> outcome unknown".to_string(),
            Some(KvOutput::Get { value }) => format!(" -> {value:?}"),
            Some(KvOutput::Put | KvOutput::Append) => String::new(),
        };
        let call = match input {
            KvInput::Get { key } => format!("get({key:?})"),
            KvInput::Put { key, value } => format!("put({key:?}, {value:?})"),
            KvInput::Append { key, value } => format!("append({key:?}, {value:?})"),
        };
        call + &ret
    }

    fn state_heap_bytes(&self, state: &KvState) -> usize {
        state.0.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() + state.0.capacity() * std::mem::size_of::<(String, String)>()
    }

    fn describe_state(&self, state: &KvState) -> String {
        if state.0.is_empty() {
            return "every key is \"\"".to_string();
        }
        let keys: Vec<String> = state
            .0
            .iter()
            .map(|(k, v)| format!("{k:?} = {v:?}"))
            .collect();
        keys.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::testing::{assert_illegal, assert_ok, ops};

    fn append(key: &str, value: &str) -> KvInput {
        KvInput::Append {
            key: key.into(),
            value: value.into(),
        }
    }

    fn get(key: &str) -> KvInput {
        KvInput::Get { key: key.into() }
    }

    fn got(value: &str) -> KvOutput {
        KvOutput::Get {
            value: value.into(),
        }
    }

    #[test]
    fn appends_concatenate_in_linearization_order() {
        let h = |seen| {
            ops()
                .ok(0, 0, 10, append("k", "a"), KvOutput::Append)
                .ok(1, 0, 10, append("k", "b"), KvOutput::Append)
                .ok(2, 11, 12, get("k"), got(seen))
        };
        assert_ok(h("ab").check(&KvAppend));
        assert_ok(h("ba").check(&KvAppend));
        assert_illegal(h("a").check(&KvAppend));
    }

    #[test]
    fn keys_are_checked_independently_and_all_count() {
        let h = |seen_y| {
            ops()
                .ok(0, 0, 1, append("x", "1"), KvOutput::Append)
                .ok(0, 2, 3, get("x"), got("1"))
                .ok(
                    1,
                    0,
                    1,
                    KvInput::Put {
                        key: "y".into(),
                        value: "2".into(),
                    },
                    KvOutput::Put,
                )
                .ok(1, 2, 3, get("y"), got(seen_y))
        };
        assert_ok(h("2").check(&KvAppend));
        let why = assert_illegal(h("").check(&KvAppend));
        assert!(why.contains("1 of 2 partition"), "{why}");
        assert!(why.contains("\"y\" = \"2\""), "{why}");
    }

    #[test]
    fn a_timed_out_append_may_be_seen_or_not() {
        let h = |seen| {
            ops()
                .unknown(0, 0, append("k", "a"))
                .ok(1, 3, 4, get("k"), got(seen))
        };
        assert_ok(h("a").check(&KvAppend));
        assert_ok(h("").check(&KvAppend));
        assert_illegal(h("aa").check(&KvAppend));
    }
}
