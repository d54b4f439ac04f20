//! Our history format: JSON Lines, version 1.
//!
//! The first non-blank line is a header naming the format version and the model; then one
//! event per line, Jepsen-style, in the order the recorder saw them:
//!
//! ```text
//! {"detcd_history":1,"model":"etcd"}
//! {"client":0,"kind":"invoke","time_ns":1000,"input":{"f":"put","key":"a","value":"1"}}
//! {"client":1,"kind":"invoke","time_ns":1200,"input":{"f":"range","keys":{"key":"a"}}}
//! {"client":0,"kind":"ok","time_ns":2000,"output":{"f":"put","revision":2}}
//! {"client":1,"kind":"ok","time_ns":2100,"output":{"f":"range","revision":2,"kvs":[
//!     {"key":"a","value":"1","create_revision":2,"mod_revision":2,"version":1}]}}
//! {"client":2,"kind":"invoke","time_ns":3000,"input":{"f":"delete","keys":{"prefix":"a"}}}
//! {"client":2,"kind":"info","time_ns":9000}
//! ```
//! (the `range` output is on one line in a real file.)
//!
//! Events, per client (a client has at most one operation open):
//! - `invoke` with `input`: the client sent the request at `time_ns`;
//! - `ok` with `output`: it saw this response at `time_ns`;
//! - `fail`: it learned the request definitely had no effect (the operation is dropped);
//! - `info`: it gave up without knowing: the operation may take effect at any time after its
//!   call, or never (`time_ns` of an `info` does not bound it). An `invoke` with no completion
//!   by the end of the file counts the same.
//!
//! `time_ns` is any clock shared by all clients (the simulator's virtual time); only order
//! matters and equal times count as concurrent. Unknown fields are errors. `input` and
//! `output` are the model's request and response, tagged by `"f"`:
//! - register: `{"f":"read"}` -> `{"f":"read","value":3}` (`null`: absent);
//!   `{"f":"write","value":3}` -> `{"f":"write"}`; `{"f":"cas","from":1,"to":2}` ->
//!   `{"f":"cas","ok":true}`;
//! - kv-append: `{"f":"get","key":"k"}` -> `{"f":"get","value":"..."}`;
//!   `{"f":"put"|"append","key":"k","value":"v"}` -> `{"f":"put"|"append"}`;
//! - etcd: [`Request`] and
//!   [`Response`]: `range`, `put`, `delete`, `txn`,
//!   `lease_grant`, `lease_revoke`, `lease_expire`; key sets are `{"key":k}`,
//!   `{"prefix":p}`, `{"range":[start,end]}` or `{"from":start}`; a refusal is
//!   `{"f":"error","error":"lease_not_found"}`.
//!
//! Writing: a recorder streams [`header_line`] and one [`event_line`] per event as its clients
//! see them; [`render`] writes a finished [`History`].
//!
//! Versioning: a reader rejects a header whose `detcd_history` it does not know. Adding
//! optional fields keeps the version; changing the meaning of one bumps it.
//!
//! Writing: a recorder writes [`header_line`], then one [`event_line`] per [`Recorded`] event
//! as it happens; [`render`] writes a whole in-memory [`History`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::pairing::Pairing;
use super::ParseError;
use crate::linearizability::{History, Model, Outcome};
use crate::models::etcd::{Etcd, Request, Response};
use crate::models::kv_append::{KvAppend, KvInput, KvOutput};
use crate::models::register::{Register, RegisterInput, RegisterOutput};
use crate::models::ModelKind;

/// The format version this code reads and writes.
pub const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    detcd_history: u32,
    model: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Invoke,
    Ok,
    Fail,
    Info,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Event<I, O> {
    client: u64,
    kind: Kind,
    time_ns: u64,
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    input: Option<I>,
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    output: Option<O>,
}

fn none<T>() -> Option<T> {
    None
}

/// A model whose operations our format can carry.
pub trait JsonModel:
    Model<Input: Serialize + DeserializeOwned, Output: Serialize + DeserializeOwned>
{
    const KIND: ModelKind;

    /// Why `input` is not a valid request, if it is not.
    fn input_error(_input: &Self::Input) -> Option<String> {
        None
    }

    /// Whether `output` can answer `input` (the same kind of operation).
    fn answers(input: &Self::Input, output: &Self::Output) -> bool;
}

impl JsonModel for Register {
    const KIND: ModelKind = ModelKind::Register;
    fn answers(input: &RegisterInput, output: &RegisterOutput) -> bool {
        output.answers(input)
    }
}

impl JsonModel for KvAppend {
    const KIND: ModelKind = ModelKind::KvAppend;
    fn answers(input: &KvInput, output: &KvOutput) -> bool {
        output.answers(input)
    }
}

impl JsonModel for Etcd {
    const KIND: ModelKind = ModelKind::Etcd;
    fn input_error(input: &Request) -> Option<String> {
        input.nesting_error()
    }
    fn answers(input: &Request, output: &Response) -> bool {
        output.answers(input)
    }
}

/// Whether `line` is our header (any version).
pub(crate) fn is_header(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v.get("detcd_history").is_some())
}

/// Reads a history for model `M`.
///
/// # Errors
/// [`ParseError`] naming the line: a missing or unknown header, a history for another model,
/// an event that is not valid JSON of the documented shape, or events that do not pair up.
pub fn parse<M: JsonModel>(text: &str) -> Result<History<M::Input, M::Output>, ParseError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    let Some((n, first)) = lines.next() else {
        return Err(ParseError::unexpected(1, "a header line", ""));
    };
    header::<M>(n, first)?;
    let mut pairing = Pairing::new();
    for (n, line) in lines {
        let e: Event<M::Input, M::Output> = serde_json::from_str(line).map_err(|err| {
            ParseError::unexpected(
                n,
                format!("an event {{client, kind, time_ns, input|output}} ({err})"),
                line,
            )
        })?;
        let at = crate::linearizability::Time(e.time_ns);
        let shape = |want: &str| ParseError::unexpected(n, want, line);
        match (e.kind, e.input, e.output) {
            (Kind::Invoke, Some(input), None) => {
                if let Some(why) = M::input_error(&input) {
                    return Err(ParseError::unexpected(n, why, line));
                }
                pairing.invoke(n, e.client, at, input)?;
            }
            (Kind::Ok, None, Some(output)) => pairing.ok(n, e.client, at, |input| {
                if M::answers(input, &output) {
                    Ok(output)
                } else {
                    Err("an output of the same kind (\"f\") as the input".to_string())
                }
            })?,
            (Kind::Fail, None, None) => pairing.fail(n, e.client, at)?,
            (Kind::Info, None, None) => pairing.info(n, e.client, at)?,
            (Kind::Invoke, ..) => return Err(shape("an invoke with an input and no output")),
            (Kind::Ok, ..) => return Err(shape("an ok with an output and no input")),
            (Kind::Fail | Kind::Info, ..) => {
                return Err(shape("a fail or info without input or output"))
            }
        }
    }
    pairing.finish()
}

fn header<M: JsonModel>(n: usize, line: &str) -> Result<(), ParseError> {
    let h: Header = serde_json::from_str(line).map_err(|_| {
        ParseError::unexpected(
            n,
            format!(
                "a header {{\"detcd_history\":{VERSION},\"model\":\"{}\"}}",
                M::KIND
            ),
            line,
        )
    })?;
    if h.detcd_history != VERSION {
        return Err(ParseError::unexpected(
            n,
            format!("format version {VERSION}"),
            &h.detcd_history.to_string(),
        ));
    }
    if h.model != M::KIND.name() {
        return Err(ParseError::unexpected(
            n,
            format!("a history for model {}", M::KIND),
            &h.model,
        ));
    }
    Ok(())
}

/// One event as a recorder writes it (see the module doc for what each means).
#[derive(Clone, Copy, Debug)]
pub enum Recorded<'a, I, O> {
    Invoke(&'a I),
    Ok(&'a O),
    Fail,
    Info,
}

/// The header line for a history of model `M` (no newline).
pub fn header_line<M: JsonModel>() -> String {
    let header = Header {
        detcd_history: VERSION,
        model: M::KIND.name().to_string(),
    };
    serde_json::to_string(&header).expect("a header serializes")
}

/// One event line (no newline). A recorder writes the header, then these in the order it saw
/// the events; each client's own events must come in order (invoke, then its completion).
pub fn event_line<M: JsonModel>(
    client: u64,
    time_ns: u64,
    event: Recorded<'_, M::Input, M::Output>,
) -> String {
    let (kind, input, output) = match event {
        Recorded::Invoke(input) => (Kind::Invoke, Some(input), None),
        Recorded::Ok(output) => (Kind::Ok, None, Some(output)),
        Recorded::Fail => (Kind::Fail, None, None),
        Recorded::Info => (Kind::Info, None, None),
    };
    let e = Event {
        client,
        kind,
        time_ns,
        input,
        output,
    };
    serde_json::to_string(&e).expect("model types serialize")
}

/// Writes `history` in our format: each operation as an invoke at its call and an `ok` at its
/// return, or an `info` right after the invoke when its outcome is unknown.
///
/// # Panics
/// If one client's operations overlap (the format allows one open operation per client).
pub fn render<M: JsonModel>(history: &History<M::Input, M::Output>) -> String {
    let mut out = header_line::<M>();
    out.push('\n');
    // (time, rank, op): at one time, returns of earlier calls, then calls, then the returns
    // of operations called at that very time (so an instant op's invoke precedes its ok).
    let mut events: Vec<(u64, u8, usize, Kind)> = Vec::new();
    for (i, op) in history.operations().iter().enumerate() {
        events.push((op.call.0, 1, i, Kind::Invoke));
        match op.returned_at() {
            Some(at) if at == op.call => events.push((at.0, 2, i, Kind::Ok)),
            Some(at) => events.push((at.0, 0, i, Kind::Ok)),
            None => events.push((op.call.0, 2, i, Kind::Info)),
        }
    }
    events.sort_unstable_by_key(|&(t, rank, i, _)| (t, rank, i));
    let mut open = std::collections::BTreeSet::new();
    for (time_ns, _, i, kind) in events {
        let op = &history.operations()[i];
        let event = match (kind, &op.outcome) {
            (Kind::Invoke, _) => {
                assert!(
                    open.insert(op.client),
                    "{} has overlapping operations",
                    op.client
                );
                Recorded::Invoke(&op.input)
            }
            (_, Outcome::Returned { output, .. }) => Recorded::Ok(output),
            (_, Outcome::Unknown) => Recorded::Info,
        };
        if kind != Kind::Invoke {
            open.remove(&op.client);
        }
        out.push_str(&event_line::<M>(op.client.0, time_ns, event));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linearizability::{ClientId, Operation, Time};

    const ETCD: &str = r#"
{"detcd_history":1,"model":"etcd"}
{"client":0,"kind":"invoke","time_ns":1000,"input":{"f":"put","key":"a","value":"1"}}
{"client":1,"kind":"invoke","time_ns":1200,"input":{"f":"range","keys":{"key":"a"}}}
{"client":0,"kind":"ok","time_ns":2000,"output":{"f":"put","revision":2}}
{"client":1,"kind":"ok","time_ns":2100,"output":{"f":"range","revision":2,"kvs":[{"key":"a","value":"1","create_revision":2,"mod_revision":2,"version":1}]}}
{"client":2,"kind":"invoke","time_ns":3000,"input":{"f":"delete","keys":{"prefix":"a"}}}
{"client":2,"kind":"info","time_ns":9000}
{"client":3,"kind":"invoke","time_ns":3000,"input":{"f":"lease_grant","id":5,"ttl_s":10}}
{"client":3,"kind":"fail","time_ns":3500}
"#;

    #[test]
    fn the_documented_example_parses() {
        let h = parse::<Etcd>(ETCD).unwrap();
        assert_eq!(h.len(), 3, "the failed grant is dropped");
        assert_eq!(h.operations()[2].outcome, Outcome::Unknown);
    }

    #[test]
    fn render_then_parse_is_the_identity() {
        let op = |client, call, ret: Option<u64>, value| Operation {
            client: ClientId(client),
            call: Time(call),
            input: RegisterInput::Write { value },
            outcome: ret.map_or(Outcome::Unknown, |at| Outcome::Returned {
                at: Time(at),
                output: RegisterOutput::Write,
            }),
        };
        let ops = vec![
            op(0, 0, Some(5), 1),
            op(0, 5, Some(5), 2),
            op(0, 6, Some(9), 3),
            op(1, 2, None, 4),
            op(1, 3, Some(4), 5),
        ];
        let h = History::new(ops.clone()).unwrap();
        let text = render::<Register>(&h);
        let mut back = parse::<Register>(&text).unwrap().operations().to_vec();
        back.sort_by_key(|o| (o.call, o.client));
        let mut want = ops;
        want.sort_by_key(|o| (o.call, o.client));
        assert_eq!(back, want, "{text}");
    }

    #[test]
    fn recorded_events_write_the_documented_format() {
        use crate::models::etcd::{KeySet, Revision};
        let put = Request::Put {
            key: "a".into(),
            value: "1".into(),
            lease: None,
            prev_kv: false,
        };
        let read = Request::Range {
            keys: KeySet::Key("a".into()),
        };
        let lines = [
            header_line::<Etcd>(),
            event_line::<Etcd>(0, 1000, Recorded::Invoke(&put)),
            event_line::<Etcd>(1, 1200, Recorded::Invoke(&read)),
            event_line::<Etcd>(
                0,
                2000,
                Recorded::Ok(&Response::Put {
                    revision: Revision(2),
                    prev_kv: None,
                }),
            ),
            event_line::<Etcd>(1, 2100, Recorded::Info),
            event_line::<Etcd>(1, 3000, Recorded::Invoke(&read)),
            event_line::<Etcd>(1, 3100, Recorded::Fail),
        ];
        assert_eq!(lines[0], r#"{"detcd_history":1,"model":"etcd"}"#);
        assert_eq!(lines[4], r#"{"client":1,"kind":"info","time_ns":2100}"#);
        let h = parse::<Etcd>(&lines.join("\n")).unwrap();
        assert_eq!(h.len(), 2, "the failed read is dropped");
        assert_eq!(h.operations()[1].outcome, Outcome::Unknown);
    }

    #[test]
    fn errors_name_the_line_and_what_was_expected() {
        let cases = [
            ("{\"detcd_history\":2,\"model\":\"etcd\"}", 1, "format version 1"),
            ("{\"detcd_history\":1,\"model\":\"register\"}", 1, "model etcd"),
            ("{\"detcd_history\":1,\"model\":\"etcd\"}\n\n{\"client\":0}", 3, "an event"),
            (
                "{\"detcd_history\":1,\"model\":\"etcd\"}\n{\"client\":0,\"kind\":\"invoke\",\"time_ns\":1}",
                2,
                "an invoke with an input",
            ),
            (
                "{\"detcd_history\":1,\"model\":\"etcd\"}\n{\"client\":0,\"kind\":\"invoke\",\"time_ns\":1,\"input\":{\"f\":\"txn\",\"success\":[{\"f\":\"lease_revoke\",\"id\":1}]}}",
                2,
                "a txn may only hold",
            ),
            (
                "{\"detcd_history\":1,\"model\":\"etcd\"}\n{\"client\":0,\"kind\":\"invoke\",\"time_ns\":1,\"input\":{\"f\":\"put\",\"key\":\"a\",\"value\":\"1\"}}\n{\"client\":0,\"kind\":\"ok\",\"time_ns\":2,\"output\":{\"f\":\"delete\",\"revision\":2,\"deleted\":0}}",
                3,
                "same kind",
            ),
        ];
        for (text, line, expected) in cases {
            let err = parse::<Etcd>(text).unwrap_err();
            let msg = err.to_string();
            assert!(msg.starts_with(&format!("line {line}: ")), "{msg}");
            assert!(msg.contains(expected), "{msg}");
        }
    }
}
