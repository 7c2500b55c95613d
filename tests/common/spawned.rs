//! devrig started in the background, for tests that act while it runs
//! (follow its output, signal it, kill it): what it writes is collected as
//! it comes, so a test waits for a line instead of sleeping.

use super::world::wait_for;
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long [`Spawned::wait_for_stdout`] and [`Spawned::wait`] wait.
pub const TIMEOUT: Duration = Duration::from_secs(30);

pub struct Spawned {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Detached when done with: they end when the pipes close.
    readers: Vec<JoinHandle<()>>,
}

impl Spawned {
    /// Starts `cmd` with stdin closed and stdout and stderr collected.
    pub fn start(mut cmd: Command) -> Spawned {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("devrig starts");
        let (stdout, stderr) = (Arc::default(), Arc::default());
        let readers = vec![
            collect(child.stdout.take().map(|p| Box::new(p) as _), &stdout),
            collect(child.stderr.take().map(|p| Box::new(p) as _), &stderr),
        ];
        Spawned {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    pub fn pid(&self) -> i64 {
        i64::from(self.child.id())
    }

    /// Its stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().expect("lock")).into_owned()
    }

    /// Its stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("lock")).into_owned()
    }

    /// Waits until `done` holds for its stdout so far.
    pub fn wait_for_stdout(&self, what: &str, done: impl Fn(&str) -> bool) {
        wait_for(what, TIMEOUT, || done(&self.stdout()));
    }

    /// Waits until `done` holds for its stderr so far.
    pub fn wait_for_stderr(&self, what: &str, done: impl Fn(&str) -> bool) {
        wait_for(what, TIMEOUT, || done(&self.stderr()));
    }

    /// Sends it `signal`.
    pub fn signal(&self, signal: libc::c_int) {
        super::process::kill(self.pid(), signal);
    }

    /// Kills it with SIGKILL; returns its stdout and stderr.
    pub fn kill(mut self) -> (String, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.drain()
    }

    /// Waits for it to exit by itself; returns how, and its stdout and stderr.
    pub fn wait(mut self) -> (ExitStatus, String, String) {
        let mut status = None;
        wait_for("devrig to exit", TIMEOUT, || {
            status = self.child.try_wait().expect("wait");
            status.is_some()
        });
        let (stdout, stderr) = self.drain();
        (status.expect("exited"), stdout, stderr)
    }

    /// What it wrote, once the pipes close; a process it left behind that
    /// holds them open keeps them from closing, so after [`TIMEOUT`] it is
    /// what came until then.
    fn drain(&mut self) -> (String, String) {
        let began = std::time::Instant::now();
        while !self.readers.iter().all(JoinHandle::is_finished) && began.elapsed() < TIMEOUT {
            std::thread::sleep(Duration::from_millis(10));
        }
        (self.stdout(), self.stderr())
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // A test that failed half-way leaves no devrig behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(pipe: Option<Box<dyn Read + Send>>, sink: &Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    let sink = Arc::clone(sink);
    std::thread::spawn(move || {
        let Some(mut pipe) = pipe else { return };
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().expect("lock").extend_from_slice(&buf[..n]);
        }
    })
}
