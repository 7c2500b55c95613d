//! Where a repo's supervisor listens and where programs' logs go.
//!
//! The socket lives in the XDG runtime dir (per login, on tmpfs, gone at
//! reboot like the supervisor itself); logs in the XDG state dir, which
//! survives reboots so yesterday's crash can still be read.
//!
//! Whoever can put a socket in the runtime dir can answer in place of the
//! user's supervisor (and report that `down` stopped programs that still
//! run), so that directory is trusted only when it is the user's and
//! nobody else may write in it, as ssh and tmux require of theirs. This
//! matters for the fallback, `/tmp/devrig-UID`: any user can make that
//! name first. It is checked before any socket there is created or
//! connected to, and each socket's owner (and, on Linux, the user of the
//! process answering on it) before a request is sent.

use crate::private;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// Where the runtime dir was taken from, which says what the user can do
/// about one that cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeSource {
    /// `DEVRIG_RUNTIME_DIR`: the user's own choice, used as it is.
    Named,
    /// `$XDG_RUNTIME_DIR/devrig`.
    Xdg,
    /// `<temp dir>/devrig-UID`, a name any user of the machine can take.
    Fallback,
}

/// The directory holding sockets and lock files: `DEVRIG_RUNTIME_DIR`, else
/// `$XDG_RUNTIME_DIR/devrig`, else a per-user directory in the temp dir
/// (`/tmp/devrig-UID`). Only a name: [`create_runtime_dir`] and
/// [`existing_runtime_dir`] check it before use.
pub fn runtime_dir() -> PathBuf {
    locate().0
}

fn locate() -> (PathBuf, RuntimeSource) {
    if let Some(dir) = std::env::var_os("DEVRIG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return (PathBuf::from(dir), RuntimeSource::Named);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return (PathBuf::from(dir).join("devrig"), RuntimeSource::Xdg);
    }
    let dir = std::env::temp_dir().join(format!("devrig-{}", me()));
    (dir, RuntimeSource::Fallback)
}

fn me() -> u32 {
    rustix::process::getuid().as_raw()
}

/// Creates the runtime dir, 0700, when it is missing; then (also when it
/// was there) checks that it may be trusted with sockets.
pub fn create_runtime_dir() -> Result<PathBuf, TrustError> {
    let (dir, from) = locate();
    // An existing directory is left as it is (whoever made it), and the
    // check below judges it.
    private::create_dir(&dir).map_err(|source| TrustError::Create {
        path: dir.clone(),
        source,
    })?;
    check_dir(&dir, from)?;
    Ok(dir)
}

/// The runtime dir when it exists and may be trusted; `None` when it does
/// not exist (then no supervisor runs).
pub fn existing_runtime_dir() -> Result<Option<PathBuf>, TrustError> {
    let (dir, from) = locate();
    match check_dir(&dir, from) {
        Err(TrustError::Create { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
        Ok(()) => Ok(Some(dir)),
    }
}

fn check_dir(dir: &Path, from: RuntimeSource) -> Result<(), TrustError> {
    let found = Found::at(dir).map_err(|source| TrustError::Create {
        path: dir.to_owned(),
        source,
    })?;
    if found.kind == Kind::Directory && found.uid == me() && found.mode & 0o022 == 0 {
        return Ok(());
    }
    Err(TrustError::Dir {
        path: dir.to_owned(),
        found,
        from,
    })
}

/// The socket of `project`'s supervisor, once its directory and its owner
/// are checked; `None` when there is none (no supervisor runs). A file
/// there that is the user's but no socket is left to `connect` to refuse.
pub fn trusted_socket(project: &str) -> Result<Option<PathBuf>, TrustError> {
    let Some(dir) = existing_runtime_dir()? else {
        return Ok(None);
    };
    let socket = dir.join(format!("{project}.sock"));
    let found = match Found::at(&socket) {
        Ok(found) => found,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(TrustError::Create {
                path: socket,
                source,
            });
        }
    };
    if found.uid != me() {
        return Err(TrustError::Socket {
            path: socket,
            found,
        });
    }
    Ok(Some(socket))
}

/// After connecting to `socket`: the process that answers must run as
/// this user (on Linux, where the kernel says who it is).
pub fn check_peer(socket: &Path, stream: &UnixStream) -> Result<(), TrustError> {
    match crate::sys::peer_uid(stream) {
        Some(uid) if uid != me() => Err(TrustError::Peer {
            path: socket.to_owned(),
            uid,
        }),
        _ => Ok(()),
    }
}

/// What is at a path that must be the user's alone (not followed, when a
/// link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub kind: Kind,
    pub uid: u32,
    /// Permission bits, with setuid, setgid and sticky.
    pub mode: u32,
}

/// What kind of file a [`Found`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Directory,
    Symlink,
    Socket,
    Other,
}

impl Found {
    fn at(path: &Path) -> io::Result<Found> {
        let meta = std::fs::symlink_metadata(path)?;
        let kind = meta.file_type();
        Ok(Found {
            kind: if kind.is_dir() {
                Kind::Directory
            } else if kind.is_symlink() {
                Kind::Symlink
            } else if kind.is_socket() {
                Kind::Socket
            } else {
                Kind::Other
            },
            uid: meta.uid(),
            mode: meta.mode() & 0o7777,
        })
    }

    /// Why a directory found so is not trusted, as one clause list:
    /// "it belongs to x (uid 1001), not to you, and its mode is 0777
    /// (anyone may write in it)".
    fn describe_dir(&self) -> String {
        let mut parts = Vec::new();
        match self.kind {
            Kind::Directory => {}
            Kind::Symlink => parts.push("it is a symbolic link, not a directory".to_owned()),
            Kind::Socket | Kind::Other => parts.push("it is not a directory".to_owned()),
        }
        if self.uid != me() {
            parts.push(format!("it belongs to {}, not to you", owner(self.uid)));
        }
        let writers = if self.mode & 0o002 != 0 {
            " (anyone may write in it)"
        } else if self.mode & 0o020 != 0 {
            " (its group may write in it)"
        } else {
            ""
        };
        parts.push(format!("its mode is {:04o}{writers}", self.mode));
        let last = parts.pop().unwrap_or_default();
        if parts.is_empty() {
            last
        } else {
            format!("{}, and {last}", parts.join(", "))
        }
    }
}

/// A runtime dir or socket that devrig will not use: someone else could
/// answer in place of the user's supervisor there.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(
        "refusing to use {} for devrig's sockets: {}",
        path.display(),
        found.describe_dir()
    )]
    Dir {
        path: PathBuf,
        found: Found,
        from: RuntimeSource,
    },
    #[error(
        "refusing to connect to {}: the socket belongs to {}, not to you",
        path.display(),
        owner(found.uid)
    )]
    Socket { path: PathBuf, found: Found },
    #[error(
        "refusing to talk to the process on {}: it runs as {}, not as you",
        path.display(),
        owner(*uid)
    )]
    Peer { path: PathBuf, uid: u32 },
    #[error("cannot create devrig's runtime directory {}: {source}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl TrustError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        const WHY: &str = "the sockets there control your programs, so the directory must be yours and writable by you only, as ssh and tmux require";
        match self {
            TrustError::Dir { path, found, from } => {
                let fix = if found.uid == me() && found.kind == Kind::Directory {
                    format!("make it yours alone (`chmod 700 {}`)", quoted(path))
                } else if found.uid == me() {
                    format!("remove it (`rm {}`) and devrig makes it again", quoted(path))
                } else {
                    format!(
                        "remove it as root or as its owner (`rm -rf {}`) and devrig makes it again",
                        quoted(path)
                    )
                };
                match from {
                    RuntimeSource::Fallback => format!(
                        "{WHY}: {fix}, or set XDG_RUNTIME_DIR to a directory that is yours alone (devrig then uses $XDG_RUNTIME_DIR/devrig)"
                    ),
                    RuntimeSource::Xdg => format!(
                        "{WHY}: {fix}; XDG_RUNTIME_DIR itself should be yours alone (normally /run/user/{})",
                        me()
                    ),
                    RuntimeSource::Named => format!(
                        "{WHY}: {fix}, or point DEVRIG_RUNTIME_DIR at a directory that is yours alone"
                    ),
                }
            }
            TrustError::Socket { path, .. } => format!(
                "someone else put it there; remove it (`rm {}`), and check who may write in {}",
                quoted(path),
                path.parent().unwrap_or(path).display()
            ),
            TrustError::Peer { .. } => {
                "another user's process took the socket's place: stop it, then run devrig again"
                    .to_owned()
            }
            TrustError::Create { .. } => {
                "check its parent's permissions, or set DEVRIG_RUNTIME_DIR to a directory that is yours alone".to_owned()
            }
        }
    }
}

/// `devrig-x (uid 1001)`, or `uid 1001` for a user without a name.
fn owner(uid: u32) -> String {
    match crate::sys::user_name(uid) {
        Some(name) => format!("{name} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

fn quoted(path: &Path) -> String {
    shell_words::quote(&path.display().to_string()).into_owned()
}

/// The directory holding every repo's log directory: `DEVRIG_LOG_DIR`,
/// else `$XDG_STATE_HOME/devrig/logs` (`~/.local/state/devrig/logs`).
pub fn log_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("DEVRIG_LOG_DIR").filter(|d| !d.is_empty()) {
        PathBuf::from(dir)
    } else {
        directories::ProjectDirs::from("", "", "devrig")
            .and_then(|d| d.state_dir().map(|s| s.join("logs")))
            .unwrap_or_else(|| std::env::temp_dir().join("devrig-logs"))
    }
}

/// The directory holding one repo's program logs.
pub fn log_dir(project: &str) -> PathBuf {
    log_root().join(project)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn refusal(dir: &Path) -> String {
        check_dir(dir, RuntimeSource::Fallback)
            .unwrap_err()
            .to_string()
            .replace(&dir.display().to_string(), "DIR")
    }

    #[test]
    fn only_a_directory_of_ones_own_that_nobody_else_may_write_in_is_trusted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("devrig-1");
        private::create_dir(&dir).unwrap();
        assert!(check_dir(&dir, RuntimeSource::Fallback).is_ok());
        // Others may read and enter: nobody else can put a socket there.
        chmod(&dir, 0o755);
        assert!(check_dir(&dir, RuntimeSource::Fallback).is_ok());
        chmod(&dir, 0o770);
        assert_eq!(
            refusal(&dir),
            "refusing to use DIR for devrig's sockets: its mode is 0770 (its group may write in it)"
        );
        chmod(&dir, 0o1777);
        assert_eq!(
            refusal(&dir),
            "refusing to use DIR for devrig's sockets: its mode is 1777 (anyone may write in it)"
        );
        // A link is not followed, even to a good directory.
        chmod(&dir, 0o700);
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(
            refusal(&link).starts_with(
                "refusing to use DIR for devrig's sockets: it is a symbolic link, not a directory, and its mode is"
            ),
            "{}",
            refusal(&link)
        );
        let err = check_dir(&link, RuntimeSource::Fallback).unwrap_err();
        assert!(err.hint().contains("remove it (`rm "), "{}", err.hint());
    }

    #[test]
    fn the_hint_says_what_the_source_of_the_name_allows() {
        let found = Found {
            kind: Kind::Directory,
            uid: me().wrapping_add(1),
            mode: 0o777,
        };
        let hint = |from| {
            TrustError::Dir {
                path: PathBuf::from("/tmp/devrig 1"),
                found: found.clone(),
                from,
            }
            .hint()
        };
        assert!(hint(RuntimeSource::Fallback).contains(
            "remove it as root or as its owner (`rm -rf '/tmp/devrig 1'`) and devrig makes it again, or set XDG_RUNTIME_DIR"
        ));
        assert!(hint(RuntimeSource::Xdg).contains("XDG_RUNTIME_DIR itself should be yours alone"));
        assert!(hint(RuntimeSource::Named).contains("or point DEVRIG_RUNTIME_DIR at"));
    }
}
