//! Reading histories: our own JSON Lines format ([`ours`]) and two foreign ones from the
//! Porcupine corpus ([`jepsen`] for the register, [`porcupine_kv`] for kv-append).
//!
//! All three are streams of Jepsen-style events paired per client (see `pairing.rs`): invoke,
//! then ok (an output), fail (no effect: dropped) or info (outcome unknown). The format is
//! detected from the content when not given ([`detect`]). Malformed input is a [`ParseError`]
//! naming the line and what was expected; parsing never panics on input.

mod edn;
pub mod jepsen;
pub mod ours;
mod pairing;
pub mod porcupine_kv;

use std::fmt;
use std::str::FromStr;

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Our JSON Lines format (any model), see [`ours`].
    Ours,
    /// Jepsen's etcd logs, Knossos lines (register model), see [`jepsen`].
    Jepsen,
    /// Porcupine's kv logs, EDN maps (kv-append model), see [`porcupine_kv`].
    PorcupineKv,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Ours, Format::Jepsen, Format::PorcupineKv];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Ours => "ours",
            Format::Jepsen => "jepsen",
            Format::PorcupineKv => "porcupine-kv",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown format {s:?}: expected ours, jepsen or porcupine-kv"))
    }
}

/// How many lines [`detect`] looks at before giving up.
const DETECT_LINES_MAX: usize = 100;

/// Tells the format from the content: our header line, an EDN map, or a Jepsen log line
/// within the first lines. `None` if it is none of them.
pub fn detect(text: &str) -> Option<Format> {
    let lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.clone().next()?;
    if ours::is_header(first) {
        return Some(Format::Ours);
    }
    if first.starts_with("{:") {
        return Some(Format::PorcupineKv);
    }
    lines
        .take(DETECT_LINES_MAX)
        .any(jepsen::is_event_line)
        .then_some(Format::Jepsen)
}

/// Input that is not a valid history. Line numbers count from 1.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("line {line}: expected {expected}, found {found}")]
    Unexpected {
        line: usize,
        expected: String,
        found: String,
    },
    #[error("line {line}: client {client} invokes while its operation from line {open_line} is still open")]
    ClientBusy {
        line: usize,
        client: u64,
        open_line: usize,
    },
    #[error("line {line}: client {client} completes an operation it never invoked")]
    NotInvoked { line: usize, client: u64 },
    #[error("line {line}: the operation returns before its call (on line {call_line})")]
    ReturnBeforeCall { line: usize, call_line: usize },
    #[error("the history is too long: {reason}")]
    TooLong { reason: String },
}

impl ParseError {
    pub(crate) fn unexpected(line: usize, expected: impl Into<String>, found: &str) -> Self {
        /// How much of the offending text an error quotes.
        const QUOTE_CHARS_MAX: usize = 80;
        let mut quoted: String = found.chars().take(QUOTE_CHARS_MAX).collect();
        if quoted.len() < found.len() {
            quoted.push('…');
        }
        ParseError::Unexpected {
            line,
            expected: expected.into(),
            found: format!("{quoted:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_tells_the_three_formats_apart() {
        assert_eq!(
            detect("\n{\"detcd_history\":1,\"model\":\"etcd\"}\n"),
            Some(Format::Ours)
        );
        assert_eq!(
            detect("{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}"),
            Some(Format::PorcupineKv)
        );
        assert_eq!(
            detect("INFO  jepsen.core - starting\nINFO  jepsen.util - 0\t:invoke\t:read\tnil\n"),
            Some(Format::Jepsen)
        );
        assert_eq!(detect("hello\n"), None);
        assert_eq!(detect(""), None);
    }

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
        }
        assert!("edn".parse::<Format>().is_err());
    }
}
