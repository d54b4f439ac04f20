//! Unit tests of the harness itself: argument splitting, the command script, masking, diffs.

use crate::*;

#[test]
fn split_args_quoting() {
    assert_eq!(
        split_args(r#"put foo "Hello World!""#).unwrap(),
        ["put", "foo", "Hello World!"]
    );
    assert_eq!(
        split_args(r#"get "" --prefix"#).unwrap(),
        ["get", "", "--prefix"]
    );
    assert_eq!(
        split_args("put 'a b' c\\ d").unwrap(),
        ["put", "a b", "c d"]
    );
    assert!(split_args("put $(x)").is_err());
}

#[test]
fn unescape_stdin() {
    assert_eq!(
        unescape(r#"value("a") = "b"\n\nx\\y"#),
        "value(\"a\") = \"b\"\n\nx\\y"
    );
}

#[test]
fn masks_status_and_headers() {
    let m = Masker::new([7548723584699153593u64, 2759271418354571410].into());
    assert_eq!(
        m.mask("127.0.0.1:2379, 264ae6bc59e99892, 3.4.23, 2.0 MB, false, false, 2, 34, 34, \n"),
        "127.0.0.1:2379, 264ae6bc59e99892, <version>, <db-size>, <is-leader>, false, <raft-term>, <raft-index>, <raft-applied-index>, \n"
    );
    assert_eq!(
        m.mask(r#"{"header":{"cluster_id":1,"member_id":7548723584699153593,"revision":2,"raft_term":2},"kvs":[{"version":1}]}"#),
        r#"{"header":{"cluster_id":1,"member_id":<member-id>,"revision":2,"raft_term":<raft-term>},"kvs":[{"version":1}]}"#
    );
    // an unknown member id stays visible
    assert!(m.mask(r#"{"member_id":5}"#).contains("\"member_id\":5"));
    assert_eq!(m.mask("x: took = 4.73068ms"), "x: took = <duration>");
    assert_eq!(
        m.mask(r#"{"ts":"2026-11-24T01:58:08.002Z","target":"endpoint://client-0134a117-46ff/127.0.0.1:2379"}"#),
        r#"{"ts":"<ts>","target":"endpoint://client-<uuid>/127.0.0.1:2379"}"#
    );
}

#[test]
fn masks_tables() {
    let t =
        "+---+---+\n|  ENDPOINT | IS LEADER | RAFT TERM |\n+--+\n| a |  true | 2 |\n+---+\n";
    assert_eq!(
        Masker::default().mask(t),
        "+--+\n| ENDPOINT | IS LEADER | RAFT TERM |\n+--+\n| a | <is-leader> | <raft-term> |\n+--+\n"
    );
}

#[test]
fn diff_marks_changes() {
    assert_eq!(line_diff("a\nb\nc\n", "a\nx\nc\n"), "  a\n- b\n+ x\n  c\n");
}
