//! The public API on text in our format: verdicts, exit codes, unknown outcomes, the time
//! budget, bad input, and a violation report a person can follow.

use detcd_check::linearizability::{Expired, NoDeadline};
use detcd_check::{check_text, CheckError, Format, ModelKind, Verdict};

const HEADER: &str = r#"{"detcd_history":1,"model":"register"}"#;

fn history(events: &[&str]) -> String {
    let mut text = format!("{HEADER}\n");
    for e in events {
        text.push_str(e);
        text.push('\n');
    }
    text
}

fn verdict(text: &str) -> Verdict {
    check_text(text, ModelKind::Register, None, &NoDeadline)
        .expect("valid input")
        .verdict
}

const TIMED_OUT_WRITE: [&str; 2] = [
    r#"{"client":0,"kind":"invoke","time_ns":0,"input":{"f":"write","value":7}}"#,
    r#"{"client":0,"kind":"info","time_ns":50}"#,
];

fn read_at(time_ns: u64, value: &str) -> [String; 2] {
    [
        format!(r#"{{"client":1,"kind":"invoke","time_ns":{time_ns},"input":{{"f":"read"}}}}"#),
        format!(
            r#"{{"client":1,"kind":"ok","time_ns":{},"output":{{"f":"read","value":{value}}}}}"#,
            time_ns + 10
        ),
    ]
}

fn with_reads(reads: &[(u64, &str)]) -> String {
    let mut events: Vec<String> = TIMED_OUT_WRITE.iter().map(|s| s.to_string()).collect();
    for &(t, v) in reads {
        events.extend(read_at(t, v));
    }
    history(&events.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn a_timed_out_write_whose_effect_is_observed_later_is_accepted() {
    assert_eq!(
        verdict(&with_reads(&[(100, "null"), (200, "7")])),
        Verdict::Ok
    );
}

#[test]
fn a_timed_out_write_that_is_never_observed_is_accepted() {
    assert_eq!(
        verdict(&with_reads(&[(100, "null"), (200, "null")])),
        Verdict::Ok
    );
}

#[test]
fn a_timed_out_write_cannot_be_undone_once_observed() {
    let report = check_text(
        &with_reads(&[(100, "7"), (200, "null")]),
        ModelKind::Register,
        Some(Format::Ours),
        &NoDeadline,
    )
    .unwrap();
    assert_eq!(report.exit_code(), 1);
    let text = report.description;
    // The evidence: the prefix, the state after it, and why each next step fails.
    assert!(
        text.contains("longest linearizable prefix found: 2 operation(s)"),
        "{text}"
    );
    assert!(
        text.contains("state after it: the register holds 7"),
        "{text}"
    );
    assert!(
        text.contains("read() -> absent: impossible in this state"),
        "{text}"
    );
}

#[test]
fn an_expired_budget_answers_unknown_with_exit_code_3() {
    let report = check_text(
        &with_reads(&[(100, "7")]),
        ModelKind::Register,
        None,
        &Expired,
    )
    .unwrap();
    assert_eq!(report.verdict, Verdict::Unknown);
    assert_eq!(report.exit_code(), 3);
}

#[test]
fn bad_input_is_a_typed_error_with_exit_code_2() {
    let err = check_text("not a history\n", ModelKind::Etcd, None, &NoDeadline).unwrap_err();
    assert!(matches!(err, CheckError::UnknownFormat));
    assert_eq!(CheckError::EXIT_CODE, 2);

    let text = history(&[r#"{"client":0,"kind":"ok","time_ns":5,"output":{"f":"write"}}"#]);
    let err = check_text(&text, ModelKind::Register, None, &NoDeadline).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad history: line 2: client 0 completes an operation it never invoked"
    );

    let text = history(&[
        r#"{"client":0,"kind":"invoke","time_ns":9,"input":{"f":"read"}}"#,
        r#"{"client":0,"kind":"ok","time_ns":5,"output":{"f":"read","value":null}}"#,
    ]);
    let err = check_text(&text, ModelKind::Register, None, &NoDeadline).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad history: line 3: the operation returns before its call (on line 2)"
    );
}

#[test]
fn truncated_or_garbled_input_never_panics() {
    let good = with_reads(&[(100, "7"), (200, "7")]);
    for cut in 0..good.len() {
        if good.is_char_boundary(cut) {
            let _ = check_text(&good[..cut], ModelKind::Register, None, &NoDeadline);
            let _ = check_text(
                &good[..cut],
                ModelKind::Etcd,
                Some(Format::Ours),
                &NoDeadline,
            );
            let _ = check_text(
                &good[..cut],
                ModelKind::Register,
                Some(Format::Jepsen),
                &NoDeadline,
            );
            let _ = check_text(
                &good[..cut],
                ModelKind::KvAppend,
                Some(Format::PorcupineKv),
                &NoDeadline,
            );
        }
    }
}
