//! A pseudo-terminal for tests that must see devrig as a developer does:
//! devrig (or a command) started with the terminal as its controlling
//! terminal, everything it writes collected.

use super::World;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const TIMEOUT: Duration = Duration::from_secs(20);

/// devrig started on a pseudo-terminal (its controlling terminal, as in a
/// shell); everything it writes is collected.
pub struct Terminal {
    child: Child,
    master: OwnedFd,
    /// Kept until devrig exits, to compare its modes before and after.
    slave: Option<OwnedFd>,
    output: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    pub name: String,
    /// The terminal's modes before the command started.
    pub initial: libc::termios,
}

impl Terminal {
    /// devrig with `args`, in `world`'s isolated environment.
    pub fn spawn(world: &World, args: &[&str]) -> Terminal {
        let mut cmd = world.command();
        cmd.args(args);
        Terminal::spawn_command(cmd)
    }

    /// `cmd` with the terminal as its stdin, stdout, stderr and controlling
    /// terminal.
    pub fn spawn_command(cmd: StdCommand) -> Terminal {
        Terminal::open(cmd, None)
    }

    /// As [`Terminal::spawn_command`], on a terminal of `rows` × `cols`
    /// (progress bars draw only where there is a width).
    pub fn spawn_sized(cmd: StdCommand, rows: u16, cols: u16) -> Terminal {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        Terminal::open(cmd, Some(size))
    }

    fn open(mut cmd: StdCommand, size: Option<libc::winsize>) -> Terminal {
        let (mut master, mut slave) = (-1, -1);
        let size_ptr = size.as_ref().map_or(std::ptr::null(), |s| s as *const _);
        // SAFETY: valid out-pointers; the name and modes may be null, the
        // size is null or points to a winsize that outlives the call.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                size_ptr,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: openpty opened both.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        // SAFETY: ttyname returns a static buffer, copied at once.
        let name = unsafe { std::ffi::CStr::from_ptr(libc::ttyname(slave.as_raw_fd())) }
            .to_string_lossy()
            .into_owned();
        cmd.stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave.try_clone().expect("dup")));
        // SAFETY: async-signal-safe calls only; makes the pty devrig's
        // controlling terminal, as a login shell's would be.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() == -1 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let initial = modes(&slave);
        let child = cmd.spawn().expect("devrig starts");
        drop(cmd);
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut from = File::from(master.try_clone().expect("dup"));
        let sink = Arc::clone(&output);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once no one holds the slave end.
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        });
        Terminal {
            child,
            master,
            slave: Some(slave),
            output,
            reader: Some(reader),
            name,
            initial,
        }
    }

    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().expect("lock")).replace('\r', "")
    }

    pub fn wait_for(&self, text: &str) {
        let start = Instant::now();
        while !self.output().contains(text) {
            assert!(
                start.elapsed() < TIMEOUT,
                "no {text:?} within {TIMEOUT:?}; output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The terminal's modes now.
    pub fn termios(&self) -> libc::termios {
        modes(self.slave.as_ref().expect("slave kept"))
    }

    pub fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: no pointers.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    pub fn type_bytes(&self, bytes: &[u8]) {
        use std::io::Write;
        let mut to = File::from(self.master.try_clone().expect("dup"));
        to.write_all(bytes).expect("write to the terminal");
    }

    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if start.elapsed() > TIMEOUT {
                let _ = self.child.kill();
                panic!("devrig did not exit; output:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for devrig to exit; returns its exit code and all its output.
    pub fn finish(mut self) -> (i32, String) {
        let status = self.wait_exit();
        self.slave = None;
        if let Some(reader) = self.reader.take() {
            reader.join().expect("reader");
        }
        (status.code().unwrap_or(-1), self.output())
    }
}

fn modes(tty: &OwnedFd) -> libc::termios {
    // SAFETY: plain data filled in by tcgetattr.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::tcgetattr(tty.as_raw_fd(), &mut t) }, 0);
    t
}
