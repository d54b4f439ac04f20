//! Processes: running a command with a hard timeout; `Etcdctl`.

use crate::*;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command as Proc, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Result of one process run.
#[derive(Debug, Clone)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    /// Exit code; -1 if killed by a signal or by the timeout.
    pub code: i32,
    pub timed_out: bool,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.code == 0 && !self.timed_out
    }
}

/// Runs `cmd` feeding `stdin`, with a hard `timeout` after which the child is killed.
pub fn run_with_timeout(mut cmd: Proc, stdin: &[u8], timeout: Duration) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut sin = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = sin.write_all(&input); // EPIPE if the child does not read: fine
    });
    let mut sout = child.stdout.take().unwrap();
    let mut serr = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = sout.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = serr.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status: ExitStatus = loop {
        match child.try_wait().expect("try_wait") {
            Some(s) => break s,
            None if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait");
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let _ = writer.join();
    let stdout = String::from_utf8_lossy(&out_t.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap()).into_owned();
    Output {
        stdout,
        stderr,
        code: if timed_out { -1 } else { exit_code(status) },
        timed_out,
    }
}

/// `ETCDCTL_API=3 etcdctl --endpoints=... ARGS`.
#[derive(Debug, Clone)]
pub struct Etcdctl {
    pub bin: PathBuf,
    /// Comma-separated `host:port` list, added as `--endpoints=` unless the args have one.
    pub endpoints: String,
    pub timeout: Duration,
}

impl Etcdctl {
    pub fn new(endpoints: impl Into<String>) -> Self {
        Etcdctl {
            bin: etcdctl_bin(),
            endpoints: endpoints.into(),
            timeout: Duration::from_secs(30),
        }
    }

    /// The etcdctl process for `args`, with `--endpoints` added unless the args name endpoints.
    pub fn command<S: AsRef<str>>(&self, args: &[S]) -> Proc {
        let mut cmd = Proc::new(&self.bin);
        cmd.env("ETCDCTL_API", "3");
        // No ETCDCTL_* from the caller's environment may change the output.
        for (k, _) in std::env::vars_os() {
            if let Some(k) = k.to_str() {
                if k.starts_with("ETCDCTL_") && k != "ETCDCTL_API" {
                    cmd.env_remove(k);
                }
            }
        }
        if !args.iter().any(|a| a.as_ref().starts_with("--endpoints")) {
            cmd.arg(format!("--endpoints={}", self.endpoints));
        }
        cmd.args(args.iter().map(|a| a.as_ref()));
        cmd
    }

    pub fn run<S: AsRef<str>>(&self, args: &[S], stdin: &[u8]) -> Output {
        run_with_timeout(self.command(args), stdin, self.timeout)
    }

    /// Runs and panics (with both streams) unless it exits 0; returns stdout.
    pub fn run_ok<S: AsRef<str>>(&self, args: &[S]) -> String {
        let out = self.run(args, b"");
        let shown: Vec<&str> = args.iter().map(|a| a.as_ref()).collect();
        assert!(
            out.ok(),
            "etcdctl {shown:?} failed (exit {}{}):\nstdout: {}\nstderr: {}",
            out.code,
            if out.timed_out { ", timed out" } else { "" },
            out.stdout,
            out.stderr
        );
        out.stdout
    }
}
