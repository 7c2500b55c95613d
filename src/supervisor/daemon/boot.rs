//! A supervisor's start: one per repo (a lock file decides), a child
//! subreaper, the cgroup its programs go in (where the host allows), its
//! guardian, the writer thread, its socket; then the loop until shutdown,
//! and the socket gone after it.

use super::tracking::Tracking;
use super::{DaemonError, Supervisor, writer};
use crate::supervisor::guardian::Line;
use crate::supervisor::paths;
use crate::supervisor::say::say;
use crate::sys;
use std::io;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::UnixListener;

/// How long a new supervisor waits for an exiting one's lock.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Runs the supervisor for `project` until it is told to shut down (or
/// gets SIGTERM/SIGINT/SIGHUP). Returns at once when another supervisor
/// for the project is already running.
pub fn run(project: &str) -> Result<(), DaemonError> {
    let dir = paths::create_runtime_dir()?;
    // Held by the running supervisor, so a second one never starts.
    let lock_path = dir.join(format!("{project}.lock"));
    let socket = dir.join(format!("{project}.sock"));
    let lock = crate::private::create(&lock_path).map_err(|source| DaemonError::Path {
        path: lock_path.clone(),
        source,
    })?;
    // Busy: another supervisor runs (then it serves), or one is on its way
    // out after a `down` (then this one takes over once it is gone).
    let waiting = Instant::now();
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                if std::os::unix::net::UnixStream::connect(&socket).is_ok()
                    || waiting.elapsed() > LOCK_WAIT
                {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(DaemonError::Path {
                    path: lock_path,
                    source,
                });
            }
        }
    }
    sys::become_child_subreaper().map_err(DaemonError::Setup)?;
    // Before the guardian starts, so that it stays in the supervisor's own
    // cgroup, outside the programs'.
    let tracking = Tracking::set_up(project);
    say(&tracking.describe());
    let (guard_read, guard_write) = io::pipe().map_err(DaemonError::Guardian)?;
    let exe = std::env::current_exe().map_err(DaemonError::Guardian)?;
    let mut guardian = Command::new(exe);
    guardian
        .arg("__guard")
        .stdin(Stdio::from(OwnedFd::from(guard_read)))
        .stdout(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut guardian, 0);
    let guardian_pid = guardian.spawn().map_err(DaemonError::Guardian)?.id();
    drop(guardian);
    let health = writer::LogHealth::default();
    let (writer, writer_thread) =
        writer::start(guard_write, health.clone()).map_err(DaemonError::Setup)?;
    if let Tracking::Cgroups(base) = &tracking {
        // Should this supervisor die, the guardian removes what is left.
        writer.guardian(Line::Tidy {
            cgroup: base.dir().to_owned(),
        });
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Setup)?;
    let result = runtime.block_on(async {
        // Only one supervisor holds the lock, so a socket file left here
        // belongs to a dead one.
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket).map_err(|source| DaemonError::Listen {
            path: socket.clone(),
            source,
        })?;
        // Its directory already keeps others out; the socket itself does
        // too, whatever the umask made of it.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| DaemonError::Listen {
                    path: socket.clone(),
                    source,
                },
            )?;
        }
        let mut supervisor = Supervisor::new(project, tracking, (writer, health), guardian_pid);
        supervisor.serve(listener, &socket).await
    });
    let _ = std::fs::remove_file(&socket);
    // Everything written (the output copiers went with the runtime), then
    // the guardian's pipe closes.
    drop(runtime);
    writer_thread.join();
    drop(lock);
    result
}
