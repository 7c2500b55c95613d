//! A program in the foreground in its own pseudo-terminal (`serve`,
//! `foreground`), so it sees a terminal (colors, prompts, debuggers) while
//! devrig relays input, output, signals and window size, as devservices does
//! with Python's `pty.spawn`.

use super::pty;
use rustix::process::{Pid, Signal};
use rustix::stdio::{stdin, stdout};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("the program's command is empty")]
    EmptyCommand,
    #[error("cannot open a pseudo-terminal: {0}")]
    Pty(#[source] io::Error),
    #[error("cannot put the terminal in raw mode: {0}")]
    RawMode(#[source] io::Error),
    #[error("cannot listen for signals: {0}")]
    Signals(#[source] io::Error),
    #[error("cannot start `{program}` in {}: {source}", dir.display())]
    Spawn {
        program: String,
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("lost track of `{program}`: {source}")]
    Wait {
        program: String,
        #[source]
        source: io::Error,
    },
}

/// A program to run in the foreground.
#[derive(Debug, Clone)]
pub struct Foreground {
    pub argv: Vec<String>,
    /// Added to devrig's own environment.
    pub env: Vec<(String, String)>,
    pub dir: PathBuf,
}

/// How long output still in the terminal is copied after the program exits.
/// Bounded because a background child of the program may hold the terminal
/// open forever.
const DRAIN: Duration = Duration::from_secs(1);

/// Runs `program` in a new pseudo-terminal until it exits and returns its
/// exit code, 128+N when signal N killed it (as shells report it).
///
/// stdin is copied to the terminal (in raw mode when stdin is a terminal
/// itself), the terminal's output to stdout; SIGINT, SIGTERM and SIGWINCH
/// sent to devrig are passed on.
pub fn run_foreground(program: &Foreground) -> Result<i32, SupervisorError> {
    let (exe, args) = program
        .argv
        .split_first()
        .ok_or(SupervisorError::EmptyCommand)?;
    let size = pty::window_size(stdin()).or_else(|| pty::window_size(stdout()));
    let term = pty::open(size).map_err(SupervisorError::Pty)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(SupervisorError::Signals)?;
    runtime.block_on(async {
        // Listening before the program starts: a signal sent the moment it
        // prints its first line must not kill devrig instead.
        let mut interrupt = signal(SignalKind::interrupt()).map_err(SupervisorError::Signals)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(SupervisorError::Signals)?;
        let mut winch = signal(SignalKind::window_change()).map_err(SupervisorError::Signals)?;

        // Raw before the program starts, so no key typed early is taken by
        // devrig's terminal instead of the program's.
        let raw = pty::RawMode::enable(stdin()).map_err(SupervisorError::RawMode)?;
        let mut child = spawn(exe, args, program, &term.slave)?;
        // Only the program holds the terminal's slave end now, so reading the
        // master ends (EIO) once the program and its children are gone.
        drop(term.slave);
        let master = term.master;
        let output_done = copy_output(&master).map_err(SupervisorError::Pty)?;
        copy_input(&master).map_err(SupervisorError::Pty)?;

        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                _ = interrupt.recv() => forward(&master, child.id(), Signal::INT),
                _ = terminate.recv() => forward(&master, child.id(), Signal::TERM),
                _ = winch.recv() => {
                    if let Some(size) = pty::window_size(stdin()).or_else(|| pty::window_size(stdout())) {
                        // A failed resize only leaves the old size.
                        let _ = pty::set_window_size(&master, size);
                    }
                }
            }
        }
        .map_err(|source| SupervisorError::Wait {
            program: exe.clone(),
            source,
        })?;
        let _ = output_done.recv_timeout(DRAIN);
        drop(raw);
        Ok(status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or(1))
    })
}

fn spawn(
    exe: &str,
    args: &[String],
    program: &Foreground,
    slave: &OwnedFd,
) -> Result<tokio::process::Child, SupervisorError> {
    let spawn_error = |source| SupervisorError::Spawn {
        program: exe.to_owned(),
        dir: program.dir.clone(),
        source,
    };
    let stdio = || slave.try_clone().map(Stdio::from).map_err(spawn_error);
    let mut command = tokio::process::Command::new(exe);
    command
        .args(args)
        .envs(program.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&program.dir)
        .stdin(stdio()?)
        .stdout(stdio()?)
        .stderr(stdio()?);
    // A new session whose controlling terminal is the pty (stdin by now)
    // makes Ctrl-C, job control and `tty` work in the program as in a
    // terminal. std has no safe way to make these calls in the child: they
    // must run between fork and exec, and `pre_exec` is unsafe by nature.
    // SAFETY: the closure makes only async-signal-safe calls (setsid and the
    // TIOCSCTTY ioctl through rustix: raw syscalls on Linux, libc's
    // wrappers elsewhere), allocates nothing (an `Errno` becomes an
    // `io::Error` in place) and touches no memory shared with the parent.
    unsafe {
        command.pre_exec(|| {
            rustix::process::setsid()?;
            rustix::process::ioctl_tiocsctty(stdin())?;
            Ok(())
        });
    }
    command.spawn().map_err(spawn_error)
}

/// Signals go where the terminal would send them: the terminal's foreground
/// process group (the program, or the job it runs in front), else the
/// program's own group (it leads its session), else the program.
fn forward(master: &OwnedFd, pid: Option<u32>, sig: Signal) {
    let pid = pid.and_then(|p| Pid::from_raw(i32::try_from(p).ok()?));
    if let Some(group) = pty::foreground_group(master).or(pid)
        // A gone target only returns ESRCH.
        && rustix::process::kill_process_group(group, sig).is_err()
        && let Some(pid) = pid
    {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// Copies the terminal's output to stdout on a thread; the receiver hears
/// when the terminal closed.
fn copy_output(master: &OwnedFd) -> io::Result<mpsc::Receiver<()>> {
    let mut from = File::from(master.try_clone()?);
    let (done, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stdout = io::stdout().lock();
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if stdout
                        .write_all(&buf[..n])
                        .and_then(|_| stdout.flush())
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // EIO: every holder of the slave end is gone.
                Err(_) => break,
            }
        }
        let _ = done.send(());
    });
    Ok(done_rx)
}

/// Copies stdin to the terminal on a thread. At the end of stdin it just
/// stops, as `pty.spawn` does: a server is not told to quit by an empty stdin.
/// The thread is left blocked in `read` when the program exits first; the
/// process ends soon after.
fn copy_input(master: &OwnedFd) -> io::Result<()> {
    let mut to = File::from(master.try_clone()?);
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    });
    Ok(())
}
