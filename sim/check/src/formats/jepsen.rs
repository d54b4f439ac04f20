//! Jepsen's etcd logs (Knossos lines), for the [`Register`](crate::models::register) model.
//!
//! ```text
//! INFO  jepsen.util - 2  :invoke  :cas  [3 0]
//! INFO  jepsen.util - 2  :fail  :cas  [3 0]        cas ran and did not swap
//! INFO  jepsen.util - 0  :ok  :read  nil              read saw the register absent
//! INFO  jepsen.util - 4  :fail  :read  :timed-out   no effect: the read is dropped
//! INFO  jepsen.util - 1  :info  :write  :timed-out   outcome unknown
//! ```
//!
//! (fields are tab-separated in the files.) An event line is
//! `jepsen.util - PROCESS TYPE F VALUE`; other lines are skipped. Time is the
//! line number (the log is in real-time order). A `:fail` cas with its `[from to]` is a cas
//! that returned false; any other `:fail` had no effect.

use super::pairing::Pairing;
use super::ParseError;
use crate::linearizability::{History, Time};
use crate::models::register::{RegisterInput, RegisterOutput, Value};

const MARKER: &str = "jepsen.util - ";
const EVENT_TYPES: [&str; 4] = [":invoke", ":ok", ":fail", ":info"];

/// The fields of an event line: process, type, function, value (the rest of the line).
fn fields(line: &str) -> Option<(u64, &str, &str, &str)> {
    let rest = &line[line.find(MARKER)? + MARKER.len()..];
    let (process, rest) = token(rest)?;
    let (kind, rest) = token(rest)?;
    if !EVENT_TYPES.contains(&kind) {
        return None;
    }
    let (f, value) = token(rest)?;
    Some((process.parse().ok()?, kind, f, value.trim()))
}

/// The first whitespace-separated token of `s` and what follows it.
fn token(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    (end > 0).then(|| s.split_at(end))
}

/// Whether `line` is an operation event line.
pub(crate) fn is_event_line(line: &str) -> bool {
    fields(line).is_some()
}

/// # Errors
/// [`ParseError`] naming the line when an event line is malformed or events do not pair up.
pub fn parse(text: &str) -> Result<History<RegisterInput, RegisterOutput>, ParseError> {
    let mut pairing = Pairing::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let Some((process, kind, f, value)) = fields(line) else {
            continue;
        };
        let at = Time(n as u64);
        match kind {
            ":invoke" => pairing.invoke(n, process, at, input(n, f, value)?)?,
            ":ok" => {
                let out = output(n, f, value, true)?;
                pairing.ok(n, process, at, |inp| matching(inp, out))?;
            }
            ":fail" if f == ":cas" && value.starts_with('[') => {
                let out = output(n, f, value, false)?;
                pairing.ok(n, process, at, |inp| matching(inp, out))?;
            }
            ":fail" => pairing.fail(n, process, at)?,
            _ => pairing.info(n, process, at)?,
        }
    }
    pairing.finish()
}

fn input(line: usize, f: &str, value: &str) -> Result<RegisterInput, ParseError> {
    match f {
        ":read" if value == "nil" => Ok(RegisterInput::Read),
        ":read" => Err(ParseError::unexpected(
            line,
            "nil as a read's argument",
            value,
        )),
        ":write" => Ok(RegisterInput::Write {
            value: int(line, value)?,
        }),
        ":cas" => {
            let (from, to) = pair(line, value)?;
            Ok(RegisterInput::Cas { from, to })
        }
        _ => Err(ParseError::unexpected(line, ":read, :write or :cas", f)),
    }
}

/// What an `:ok` (or a cas's `:fail`) line says, still to be matched with its invocation.
enum Seen {
    Read(Option<Value>),
    Write(Value),
    Cas(Value, Value, bool),
}

fn output(line: usize, f: &str, value: &str, ok: bool) -> Result<Seen, ParseError> {
    match f {
        ":read" if value == "nil" => Ok(Seen::Read(None)),
        ":read" => Ok(Seen::Read(Some(int(line, value)?))),
        ":write" => Ok(Seen::Write(int(line, value)?)),
        ":cas" => {
            let (from, to) = pair(line, value)?;
            Ok(Seen::Cas(from, to, ok))
        }
        _ => Err(ParseError::unexpected(line, ":read, :write or :cas", f)),
    }
}

fn matching(input: &RegisterInput, seen: Seen) -> Result<RegisterOutput, String> {
    match (input, seen) {
        (RegisterInput::Read, Seen::Read(value)) => Ok(RegisterOutput::Read { value }),
        (RegisterInput::Write { value }, Seen::Write(v)) if *value == v => {
            Ok(RegisterOutput::Write)
        }
        (RegisterInput::Cas { from, to }, Seen::Cas(f, t, ok)) if (*from, *to) == (f, t) => {
            Ok(RegisterOutput::Cas { ok })
        }
        (input, _) => Err(format!("the completion of {input:?}")),
    }
}

fn int(line: usize, s: &str) -> Result<Value, ParseError> {
    s.parse()
        .map_err(|_| ParseError::unexpected(line, "an integer", s))
}

fn pair(line: usize, s: &str) -> Result<(Value, Value), ParseError> {
    let bad = || ParseError::unexpected(line, "[FROM TO], two integers in brackets", s);
    let inner = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(bad)?;
    let mut parts = inner.split_whitespace();
    let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    Ok((int(line, a)?, int(line, b)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linearizability::Outcome;

    const LOG: &str = "\
INFO  jepsen.core - a line that is not an event
INFO  jepsen.util - 0\t:invoke\t:write\t4
INFO  jepsen.util - 1\t:invoke\t:cas\t[4 1]
INFO  jepsen.util - 0\t:ok\t:write\t4
INFO  jepsen.util - 1\t:fail\t:cas\t[4 1]
INFO  jepsen.util - 2\t:invoke\t:read\tnil
INFO  jepsen.util - 2\t:fail\t:read\t:timed-out
INFO  jepsen.util - 3\t:invoke\t:write\t2
INFO  jepsen.util - 3\t:info\t:write\t:timed-out
";

    #[test]
    fn jepsen_events_pair_into_operations() {
        let h = parse(LOG).unwrap();
        let ops = h.operations();
        assert_eq!(ops.len(), 3, "the failed read is dropped");
        assert_eq!(ops[0].input, RegisterInput::Write { value: 4 });
        assert_eq!(ops[0].returned_at(), Some(Time(4)));
        assert_eq!(ops[1].output(), Some(&RegisterOutput::Cas { ok: false }));
        assert_eq!(ops[2].outcome, Outcome::Unknown);
    }

    #[test]
    fn jepsen_errors_name_the_line_and_expectation() {
        let err = parse("INFO  jepsen.util - 0\t:invoke\t:cas\t[4]\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1: expected [FROM TO], two integers in brackets, found \"[4]\""
        );
        let err = parse("INFO  jepsen.util - 0\t:ok\t:read\t3\n").unwrap_err();
        assert_eq!(err, ParseError::NotInvoked { line: 1, client: 0 });
        let mismatched =
            "INFO  jepsen.util - 0\t:invoke\t:write\t4\nINFO  jepsen.util - 0\t:ok\t:write\t5\n";
        assert!(matches!(
            parse(mismatched),
            Err(ParseError::Unexpected { line: 2, .. })
        ));
    }
}
