//! The entry point the simulator's CLI calls: read a history file, check it, report.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::formats::{detect, jepsen, ours, porcupine_kv, Format, ParseError};
use crate::io::{read_text, WallClockDeadline};
use crate::linearizability::{check, Deadline, History, Model, Verdict};
use crate::models::etcd::Etcd;
use crate::models::kv_append::KvAppend;
use crate::models::register::Register;
use crate::models::ModelKind;

/// The outcome of checking one history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub verdict: Verdict,
    pub model: ModelKind,
    /// The format read (given or detected).
    pub format: Format,
    /// Operations in the history (after dropping those that definitely had no effect).
    pub operations: usize,
    /// The verdict for a person: a summary line, and on a violation the evidence.
    pub description: String,
}

impl Report {
    /// 0 linearizable, 1 not linearizable, 3 unknown (time budget spent). Bad input is 2
    /// ([`CheckError::EXIT_CODE`]).
    pub fn exit_code(&self) -> i32 {
        self.verdict.exit_code()
    }
}

/// Why a history could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot tell the history's format (expected our header line, an EDN map or Jepsen log lines); give it with --format")]
    UnknownFormat,
    #[error("the {format} format holds {holds} histories, not {model}")]
    ModelMismatch {
        format: Format,
        model: ModelKind,
        holds: ModelKind,
    },
    #[error("bad history: {0}")]
    Parse(#[from] ParseError),
}

impl CheckError {
    /// The process exit status for bad input or usage.
    pub const EXIT_CODE: i32 = 2;
}

/// Checks the history in `path` against `model`, reading it as `format` (detected from the
/// content when `None`), giving up with [`Verdict::Unknown`] after `budget`.
///
/// # Errors
/// [`CheckError`] when the file cannot be read, its format cannot be told, the format does not
/// hold histories for `model`, or it is malformed (the error names the line).
pub fn check_file(
    path: &Path,
    model: ModelKind,
    format: Option<Format>,
    budget: Duration,
) -> Result<Report, CheckError> {
    let text = read_text(path).map_err(|source| CheckError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    check_text(&text, model, format, &WallClockDeadline::after(budget))
}

/// [`check_file`] on text already in memory, with any [`Deadline`].
///
/// # Errors
/// As [`check_file`], except for reading.
pub fn check_text(
    text: &str,
    model: ModelKind,
    format: Option<Format>,
    deadline: &dyn Deadline,
) -> Result<Report, CheckError> {
    let format = format
        .or_else(|| detect(text))
        .ok_or(CheckError::UnknownFormat)?;
    let mismatch = |holds| CheckError::ModelMismatch {
        format,
        model,
        holds,
    };
    let (verdict, operations) = match (format, model) {
        (Format::Ours, ModelKind::Etcd) => run(&Etcd, &ours::parse::<Etcd>(text)?, deadline),
        (Format::Ours, ModelKind::Register) => {
            run(&Register, &ours::parse::<Register>(text)?, deadline)
        }
        (Format::Ours, ModelKind::KvAppend) => {
            run(&KvAppend, &ours::parse::<KvAppend>(text)?, deadline)
        }
        (Format::Jepsen, ModelKind::Register) => run(&Register, &jepsen::parse(text)?, deadline),
        (Format::PorcupineKv, ModelKind::KvAppend) => {
            run(&KvAppend, &porcupine_kv::parse(text)?, deadline)
        }
        (Format::Jepsen, _) => return Err(mismatch(ModelKind::Register)),
        (Format::PorcupineKv, _) => return Err(mismatch(ModelKind::KvAppend)),
    };
    let description = format!("{model} model, {format} format, {operations} operations: {verdict}");
    Ok(Report {
        verdict,
        model,
        format,
        operations,
        description,
    })
}

fn run<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    deadline: &dyn Deadline,
) -> (Verdict, usize) {
    (check(model, history, deadline), history.len())
}
