//! Background jobs: an etcdctl running in the background, its output collected as it comes.

use crate::*;
use std::io::Read;
use std::process::{Child, Command as Proc, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An etcdctl running in the background (`&JOB` lines), its output collected as it comes.
pub struct Job {
    child: Child,
    stdout: std::sync::Arc<Mutex<Vec<u8>>>,
    stderr: std::sync::Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Job {
    /// Starts `etcdctl ARGS` (endpoints added as [`Etcdctl::run`] does) with no input.
    pub fn start<S: AsRef<str>>(ctl: &Etcdctl, args: &[S]) -> Job {
        let mut cmd = ctl.command(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        let collect = |mut r: Box<dyn Read + Send>| {
            let buf = std::sync::Arc::new(Mutex::new(Vec::new()));
            let b = buf.clone();
            let t = std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = r.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    b.lock().unwrap().extend_from_slice(&chunk[..n]);
                }
            });
            (buf, t)
        };
        let (stdout, t1) = collect(Box::new(child.stdout.take().unwrap()));
        let (stderr, t2) = collect(Box::new(child.stderr.take().unwrap()));
        Job { child, stdout, stderr, readers: vec![t1, t2] }
    }

    /// What the job printed so far.
    pub fn peek(&self) -> Output {
        let text = |b: &Mutex<Vec<u8>>| String::from_utf8_lossy(&b.lock().unwrap()).into_owned();
        Output { stdout: text(&self.stdout), stderr: text(&self.stderr), code: 0, timed_out: false }
    }

    /// Interrupts the job (SIGINT) and waits up to `timeout` for it to exit (then kills it). The
    /// exit code of a process ended by a signal is 128 + the signal, as a shell reports it.
    pub fn stop(mut self, timeout: Duration) -> Output {
        let _ = Proc::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        let status = loop {
            match self.child.try_wait().expect("try_wait") {
                Some(s) => break s,
                None if Instant::now() >= deadline => {
                    timed_out = true;
                    let _ = self.child.kill();
                    break self.child.wait().expect("wait");
                }
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        for t in self.readers.drain(..) {
            let _ = t.join();
        }
        let mut out = self.peek();
        out.code = exit_code(status);
        out.timed_out = timed_out;
        out
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The exit code, or 128 + the signal for a process a signal ended (as a shell reports it).
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(-1)
}
