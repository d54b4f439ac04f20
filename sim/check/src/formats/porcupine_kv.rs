//! Porcupine's kv logs (Jepsen EDN maps, one event per line), for the
//! [`KvAppend`](crate::models::kv_append) model.
//!
//! ```text
//! {:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}
//! {:process 0, :type :ok, :f :append, :key "4", :value "x 0 1 y"}
//! {:process 1, :type :invoke, :f :get, :key "5", :value nil}
//! {:process 1, :type :ok, :f :get, :key "5", :value ""}
//! ```
//!
//! Time is the line number. `:fail` drops the operation, `:info` makes its outcome unknown.
//! A get that returns `nil` read "" (a key is "" until written). Blank lines are skipped.

use super::edn::{self, Value};
use super::pairing::Pairing;
use super::ParseError;
use crate::linearizability::{History, Time};
use crate::models::kv_append::{KvInput, KvOutput};

struct Event {
    process: u64,
    kind: String,
    f: String,
    key: String,
    value: Option<String>,
}

/// # Errors
/// [`ParseError`] naming the line when a map is malformed or events do not pair up.
pub fn parse(text: &str) -> Result<History<KvInput, KvOutput>, ParseError> {
    let mut pairing = Pairing::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let e = event(n, line)?;
        let at = Time(n as u64);
        match e.kind.as_str() {
            "invoke" => {
                let input = input(n, line, &e)?;
                pairing.invoke(n, e.process, at, input)?;
            }
            "ok" => pairing.ok(n, e.process, at, |inp| output(inp, &e))?,
            "fail" => pairing.fail(n, e.process, at)?,
            "info" => pairing.info(n, e.process, at)?,
            _ => {
                return Err(ParseError::unexpected(
                    n,
                    ":type :invoke, :ok, :fail or :info",
                    line,
                ))
            }
        }
    }
    pairing.finish()
}

fn event(n: usize, line: &str) -> Result<Event, ParseError> {
    let (mut process, mut kind, mut f, mut key, mut value) = (None, None, None, None, None);
    for (k, v) in edn::parse_map(n, line)? {
        match (k, v) {
            ("process", Value::Int(p)) if p >= 0 => process = Some(p as u64),
            ("type", Value::Keyword(t)) => kind = Some(t.to_string()),
            ("f", Value::Keyword(t)) => f = Some(t.to_string()),
            ("key", Value::Str(s)) => key = Some(s),
            ("key", Value::Int(i)) => key = Some(i.to_string()),
            ("value", Value::Str(s)) => value = Some(Some(s)),
            ("value", Value::Nil) => value = Some(None),
            ("process" | "type" | "f" | "key" | "value", _) => {
                return Err(ParseError::unexpected(
                    n,
                    format!("{k}: a non-negative integer process, :keyword type and f, string key and value"),
                    line,
                ))
            }
            _ => {} // Other fields (:time, :index, ...) carry nothing the check needs.
        }
    }
    let missing = |what: &str| ParseError::unexpected(n, format!("a map with {what}"), line);
    Ok(Event {
        process: process.ok_or_else(|| missing(":process"))?,
        kind: kind.ok_or_else(|| missing(":type"))?,
        f: f.ok_or_else(|| missing(":f"))?,
        key: key.ok_or_else(|| missing(":key"))?,
        value: value.ok_or_else(|| missing(":value"))?,
    })
}

fn input(n: usize, line: &str, e: &Event) -> Result<KvInput, ParseError> {
    let key = e.key.clone();
    match (e.f.as_str(), &e.value) {
        ("get", _) => Ok(KvInput::Get { key }),
        ("put", Some(v)) => Ok(KvInput::Put {
            key,
            value: v.clone(),
        }),
        ("append", Some(v)) => Ok(KvInput::Append {
            key,
            value: v.clone(),
        }),
        ("put" | "append", None) => Err(ParseError::unexpected(n, "a string :value", line)),
        _ => Err(ParseError::unexpected(n, ":f :get, :put or :append", line)),
    }
}

fn output(input: &KvInput, e: &Event) -> Result<KvOutput, String> {
    let same_key = input.key() == e.key;
    match (input, e.f.as_str()) {
        (KvInput::Get { .. }, "get") if same_key => Ok(KvOutput::Get {
            value: e.value.clone().unwrap_or_default(),
        }),
        (KvInput::Put { value, .. }, "put") if same_key && e.value.as_ref() == Some(value) => {
            Ok(KvOutput::Put)
        }
        (KvInput::Append { value, .. }, "append")
            if same_key && e.value.as_ref() == Some(value) =>
        {
            Ok(KvOutput::Append)
        }
        (input, _) => Err(format!(
            "the completion of {input:?} (same :f, :key and :value)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linearizability::Outcome;

    #[test]
    fn kv_events_pair_into_operations() {
        let log = r#"{:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}
{:process 1, :type :invoke, :f :get, :key "4", :value nil}
{:process 0, :type :ok, :f :append, :key "4", :value "x 0 1 y"}
{:process 1, :type :ok, :f :get, :key "4", :value "x 0 1 y"}
{:process 2, :type :invoke, :f :put, :key "5", :value "z"}
"#;
        let h = parse(log).unwrap();
        let ops = h.operations();
        assert_eq!(ops.len(), 3);
        assert_eq!(
            ops[1].output(),
            Some(&KvOutput::Get {
                value: "x 0 1 y".into()
            })
        );
        assert_eq!(ops[2].outcome, Outcome::Unknown, "never completed");
    }

    #[test]
    fn kv_errors_name_the_line() {
        let err = parse("\n{:process 0, :type :invoke, :f :get}\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("line 2: expected a map with :key"),
            "{err}"
        );
        let err =
            parse("{:process 0, :type :invoke, :f :cas, :key \"1\", :value \"a\"}").unwrap_err();
        assert!(
            err.to_string().contains(":f :get, :put or :append"),
            "{err}"
        );
    }
}
