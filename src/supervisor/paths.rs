//! Where a repo's supervisor listens and where programs' logs go.
//!
//! The socket lives in the XDG runtime dir (per login, on tmpfs, gone at
//! reboot like the supervisor itself); logs in the XDG state dir, which
//! survives reboots so yesterday's crash can still be read.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

/// The directory holding sockets and lock files: `DEVRIG_RUNTIME_DIR`, else
/// `$XDG_RUNTIME_DIR/devrig`, else a per-user directory under /tmp.
pub fn runtime_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DEVRIG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("devrig");
    }
    let uid = rustix::process::getuid().as_raw();
    std::env::temp_dir().join(format!("devrig-{uid}"))
}

/// The directory holding one repo's program logs: `DEVRIG_LOG_DIR`, else
/// `$XDG_STATE_HOME/devrig/logs` (`~/.local/state/devrig/logs`).
pub fn log_dir(project: &str) -> PathBuf {
    let base = if let Some(dir) = std::env::var_os("DEVRIG_LOG_DIR").filter(|d| !d.is_empty()) {
        PathBuf::from(dir)
    } else {
        directories::ProjectDirs::from("", "", "devrig")
            .and_then(|d| d.state_dir().map(|s| s.join("logs")))
            .unwrap_or_else(|| std::env::temp_dir().join("devrig-logs"))
    };
    base.join(project)
}

pub fn socket(project: &str) -> PathBuf {
    runtime_dir().join(format!("{project}.sock"))
}

/// Held by the running supervisor, so a second one never starts.
pub fn lock(project: &str) -> PathBuf {
    runtime_dir().join(format!("{project}.lock"))
}

/// Where the supervisor's own diagnostics go (it has no terminal): a
/// directory of its own beside the programs' logs, since a program may be
/// named `supervisor` and no program's log is ever in a subdirectory.
pub fn supervisor_log(project: &str) -> PathBuf {
    log_dir(project).join("devrig").join("supervisor.log")
}

/// A program's log. The config admits only names without `/` (and `.log`
/// is appended, so neither `.` nor `..` is a directory): the path never
/// leaves the project's log directory.
pub fn program_log(project: &str, program: &str) -> PathBuf {
    log_dir(project).join(format!("{program}.log"))
}

/// Creates the runtime dir readable by its owner only: the socket controls
/// processes.
pub fn create_runtime_dir() -> io::Result<PathBuf> {
    let dir = runtime_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    Ok(dir)
}
