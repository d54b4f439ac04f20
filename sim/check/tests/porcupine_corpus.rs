//! Every history in Porcupine's test corpus (`shared/testdata/porcupine/`) gets the verdict
//! its `VERDICTS.txt` gives.

use std::path::{Path, PathBuf};
use std::time::Duration;

use detcd_check::{check_file, Format, ModelKind, Verdict};

/// Generous: Porcupine answers each of these in milliseconds.
const BUDGET: Duration = Duration::from_secs(60);

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/porcupine");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "\n!!! SKIPPED: Porcupine corpus not found at {} (shared/ must sit beside the repo)\n",
            dir.display()
        );
        None
    }
}

/// (file, expected linearizable) from a folder's VERDICTS.txt.
fn verdicts(folder: &Path) -> Vec<(PathBuf, bool)> {
    let text = std::fs::read_to_string(folder.join("VERDICTS.txt")).expect("VERDICTS.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (file, verdict) = l.split_once(char::is_whitespace).expect("FILE VERDICT");
            let ok = match verdict.trim() {
                "linearizable" => true,
                "not-linearizable" => false,
                other => panic!("unknown verdict {other:?}"),
            };
            (folder.join(file), ok)
        })
        .collect()
}

fn check_folder(folder: &str, model: ModelKind, format: Format) {
    let Some(dir) = corpus() else { return };
    let cases = verdicts(&dir.join(folder));
    assert!(!cases.is_empty(), "no verdicts in {folder}");
    for (path, linearizable) in cases {
        // Detected, then given: both must agree.
        let report = check_file(&path, model, None, BUDGET).expect("parses");
        assert_eq!(report.format, format, "{}", path.display());
        let given = check_file(&path, model, Some(format), BUDGET).expect("parses");
        assert_eq!(report.verdict, given.verdict);
        match (linearizable, &report.verdict) {
            (true, Verdict::Ok) => assert_eq!(report.exit_code(), 0),
            (false, Verdict::Illegal(info)) => {
                assert_eq!(report.exit_code(), 1);
                assert!(!info.failing.is_empty());
            }
            _ => panic!(
                "{}: expected {}, got {}",
                path.display(),
                if linearizable {
                    "linearizable"
                } else {
                    "not linearizable"
                },
                report.description
            ),
        }
    }
}

#[test]
fn jepsen_etcd_register_histories_get_porcupines_verdicts() {
    check_folder("jepsen", ModelKind::Register, Format::Jepsen);
}

#[test]
fn porcupine_kv_histories_get_porcupines_verdicts() {
    check_folder("kv", ModelKind::KvAppend, Format::PorcupineKv);
}

#[test]
fn a_foreign_format_refuses_a_model_it_does_not_hold() {
    let Some(dir) = corpus() else { return };
    let err = check_file(&dir.join("kv/c01-ok.txt"), ModelKind::Etcd, None, BUDGET).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the porcupine-kv format holds kv-append histories, not etcd"
    );
}

/// Porcupine's biggest kv histories (50 clients), vendored in `testdata/porcupine-kv/`: decided,
/// both ways, well within the budget (speed is measured in BENCH.md, not asserted here).
#[test]
fn porcupines_c50_histories_get_their_verdicts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/porcupine-kv");
    for (file, ok) in [("c50-ok.txt", true), ("c50-bad.txt", false)] {
        let report = check_file(&dir.join(file), ModelKind::KvAppend, Some(Format::PorcupineKv), BUDGET).expect("parses");
        match (&report.verdict, ok) {
            (Verdict::Ok, true) | (Verdict::Illegal(_), false) => {}
            (v, _) => panic!("{file}: expected linearizable = {ok}, got {v:?}"),
        }
    }
}
