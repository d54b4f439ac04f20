//! The shared command script `tests/golden/commands.txt` and the golden-file text of a result.

use crate::*;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stdin {
    None,
    /// `@bytes:N`: N bytes of `x`.
    Bytes(usize),
    /// Text with `\n` and `\\` escapes (as bash's `printf %b` for these).
    Text(String),
}

impl Stdin {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Stdin::None => Vec::new(),
            Stdin::Bytes(n) => vec![b'x'; *n],
            Stdin::Text(t) => unescape(t).into_bytes(),
        }
    }
}

/// What a line of `commands.txt` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Runs etcdctl and waits for it (the default).
    Run,
    /// `&JOB<TAB>ARGS`: starts etcdctl in the background as job JOB, then waits [`SETTLE`].
    /// Records nothing and takes no number.
    Start,
    /// `NAME<TAB>=JOB`: after [`SETTLE`], records what JOB has printed so far (it keeps running).
    Peek { job: String },
    /// `NAME<TAB>^JOB`: after [`SETTLE`], interrupts JOB (SIGINT, as Ctrl-C), waits for it to exit
    /// and records everything it printed and its exit code.
    Stop { job: String },
    /// `@sleep<TAB>SECONDS`: waits. Records nothing and takes no number.
    Sleep { seconds: u64 },
}

/// How long a background job gets to start (connect, create its watch, take or queue for its lock)
/// or to print what the commands before it caused, before the next line runs.
pub const SETTLE: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone)]
pub struct Command {
    /// 1-based position among the recorded lines (0 for lines that record nothing).
    pub index: usize,
    pub name: String,
    pub kind: Kind,
    /// `NAME>VAR`: after the command, VAR holds the first 16-hex-digit word of its stdout (a lease
    /// ID), and `{VAR}` in later ARGS is replaced by it.
    pub capture: Option<String>,
    /// ARGS as written in the file (for Peek/Stop: the job's ARGS).
    pub args: String,
    pub argv: Vec<String>,
    /// STDIN as written in the file ("" for none).
    pub stdin_spec: String,
    pub stdin: Stdin,
}

impl Command {
    /// `NNN-name.txt`.
    pub fn file_name(&self) -> String {
        format!("{:03}-{}.txt", self.index, self.name)
    }

    /// Whether the line produces a record (and so a golden file).
    pub fn recorded(&self) -> bool {
        matches!(self.kind, Kind::Run | Kind::Peek { .. } | Kind::Stop { .. })
    }

    /// `argv` with every `{VAR}` replaced by its captured value.
    pub fn argv_with(&self, vars: &std::collections::BTreeMap<String, String>) -> Vec<String> {
        self.argv
            .iter()
            .map(|a| {
                let mut a = a.clone();
                for (k, v) in vars {
                    a = a.replace(&format!("{{{k}}}"), v);
                }
                a
            })
            .collect()
    }
}

/// The first word of `out` that looks like an etcdctl lease ID (16 lower-case hex digits).
pub fn first_hex16(out: &str) -> Option<String> {
    out.split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.len() == 16 && w.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .map(String::from)
}

/// Parses `commands.txt`: `NAME<TAB>ARGS[<TAB>STDIN]`, `#` comments, blank lines; see [`Kind`] for
/// the background-job and sleep lines.
pub fn parse_commands(text: &str) -> Vec<Command> {
    let mut cmds: Vec<Command> = Vec::new();
    let mut jobs: std::collections::BTreeMap<String, (String, Vec<String>)> = std::collections::BTreeMap::new();
    let mut index = 0;
    for (ln, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |e: String| -> String { format!("commands.txt:{}: {e}", ln + 1) };
        let mut parts = line.splitn(3, '\t');
        let head = parts.next().unwrap().to_string();
        let args = parts.next().unwrap_or_else(|| panic!("{}", at("no ARGS field".into()))).to_string();
        let stdin_spec = parts.next().unwrap_or("").to_string();
        let (head, capture) = match head.split_once('>') {
            Some((h, v)) => (h.to_string(), Some(v.to_string())),
            None => (head, None),
        };
        let stdin = if stdin_spec.is_empty() {
            Stdin::None
        } else if let Some(n) = stdin_spec.strip_prefix("@bytes:") {
            Stdin::Bytes(n.parse().unwrap_or_else(|_| panic!("{}", at("bad @bytes:N".into()))))
        } else {
            Stdin::Text(stdin_spec.clone())
        };
        let (name, kind, args, argv) = if head == "@sleep" {
            let seconds = args.trim().parse().unwrap_or_else(|_| panic!("{}", at("@sleep wants whole seconds".into())));
            (head.clone(), Kind::Sleep { seconds }, args, vec![])
        } else if let Some(job) = head.strip_prefix('&') {
            let argv = split_args(&args).unwrap_or_else(|e| panic!("{}", at(e)));
            assert!(jobs.insert(job.to_string(), (args.clone(), argv.clone())).is_none(), "{}", at(format!("job {job} started twice")));
            (job.to_string(), Kind::Start, args, argv)
        } else if let Some(job) = args.strip_prefix('=').or_else(|| args.strip_prefix('^')) {
            let (jargs, jargv) = jobs.get(job).cloned().unwrap_or_else(|| panic!("{}", at(format!("no job {job} started before"))));
            let kind = if args.starts_with('=') { Kind::Peek { job: job.to_string() } } else { Kind::Stop { job: job.to_string() } };
            (head.clone(), kind, jargs, jargv)
        } else {
            let argv = split_args(&args).unwrap_or_else(|e| panic!("{}", at(e)));
            (head.clone(), Kind::Run, args, argv)
        };
        let mut cmd = Command { index: 0, name, kind, capture, args, argv, stdin_spec, stdin };
        if cmd.recorded() {
            index += 1;
            cmd.index = index;
        }
        cmds.push(cmd);
    }
    assert!(index < 1000, "NNN-name.txt numbering has three digits");
    cmds
}

/// Splits like a POSIX shell with plain quoting only: whitespace separates words; 'single quotes'
/// are literal; "double quotes" allow \" \\ \$ \`; a backslash outside quotes escapes the next char.
pub fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated ' in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(format!("unterminated \" in {s:?}")),
                        },
                        Some(c @ ('$' | '`')) => {
                            return Err(format!("{c} is not supported in {s:?}"))
                        }
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated \" in {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            '$' | '`' | '*' | '?' | '[' | '|' | '&' | ';' | '<' | '>' | '(' | ')' | '~' => {
                return Err(format!("shell metacharacter {c} is not supported in {s:?}"));
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// `\n` → newline, `\t` → tab, `\\` → backslash; other backslashes stay.
pub fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The text of one golden file (must match what `scripts/etcd-reference.sh` writes):
/// ```text
/// $ etcdctl ARGS
/// < STDIN            (only if the command has stdin)
/// --- stdout
/// ...                (trailing newlines trimmed; nothing if empty)
/// --- stderr
/// ...
/// --- exit CODE
/// ```
pub fn record(cmd: &Command, out: &Output) -> String {
    let background = matches!(cmd.kind, Kind::Peek { .. } | Kind::Stop { .. });
    let mut s = format!("$ etcdctl {}{}\n", cmd.args, if background { " &" } else { "" });
    if !cmd.stdin_spec.is_empty() {
        s += &format!("< {}\n", cmd.stdin_spec);
    }
    let section = |s: &mut String, title: &str, body: &str| {
        s.push_str(title);
        s.push('\n');
        let body = body.trim_end_matches('\n');
        if !body.is_empty() {
            s.push_str(body);
            s.push('\n');
        }
    };
    section(&mut s, "--- stdout", &out.stdout);
    section(&mut s, "--- stderr", &out.stderr);
    match cmd.kind {
        Kind::Peek { .. } => s += "--- running\n",
        _ => {
            if matches!(cmd.kind, Kind::Stop { .. }) {
                s += "--- interrupted (SIGINT)\n";
            }
            if out.timed_out {
                s += "--- timed out (killed)\n";
            }
            s += &format!("--- exit {}\n", out.code);
        }
    }
    s
}

/// `rec` with the lines of each section sorted, for commands whose output order is the order in
/// which concurrent answers arrived (`endpoint health` with several endpoints).
pub fn sort_section_lines(rec: &str) -> String {
    let mut out = String::new();
    let mut section: Vec<&str> = Vec::new();
    for line in rec.lines() {
        if line.starts_with("--- ") || line.starts_with("$ ") || line.starts_with("< ") {
            section.sort_unstable();
            for l in section.drain(..) {
                out += l;
                out.push('\n');
            }
            out += line;
            out.push('\n');
        } else {
            section.push(line);
        }
    }
    section.sort_unstable();
    for l in section {
        out += l;
        out.push('\n');
    }
    out
}

/// Whether the order of `c`'s output lines depends on timing (see [`sort_section_lines`]).
pub fn order_is_timing(c: &Command) -> bool {
    c.argv.len() >= 2 && c.argv[0] == "endpoint" && c.argv[1] == "health" && !c.argv.iter().any(|a| a.starts_with("--endpoints"))
}
