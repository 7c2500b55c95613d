//! cgroup v2 directories, where the host lets devrig make them: the one
//! way to find every process a program started, whatever it does to get
//! away (`setsid`, a double fork, reparenting to init). A process group is
//! left with one `setsid`; a cgroup is left only by someone writing the
//! process into another one, which needs rights a program does not get by
//! forking.
//!
//! devrig needs no controller (no CPU or memory limits): only the
//! membership, `cgroup.procs`, `cgroup.events` and `cgroup.kill`. So a
//! child cgroup works below any cgroup the user may write to: root's, a
//! systemd-delegated user service's, the unified hierarchy of a hybrid
//! host (`/sys/fs/cgroup/unified`). Where none is writable (a session scope
//! owned by root, a container's read-only `/sys/fs/cgroup`, another OS)
//! [`Cgroup::of_this_process`] or [`Cgroup::create_child`] fails and the
//! caller falls back to process groups.
//!
//! Only the discovery differs between systems ([`super::imp`]); the rest is
//! files under a directory, the same wherever such a directory exists.

use rustix::process::{Pid, Signal};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A cgroup v2 directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    dir: PathBuf,
}

/// A cgroup's `cgroup.procs`, open for writing, for a child to move
/// itself in between fork and exec (see [`Entrance::enter`]).
pub struct Entrance(OwnedFd);

impl Cgroup {
    /// The cgroup the calling process is in, as a directory of the
    /// cgroup2 file system. Fails elsewhere than Linux, and where no
    /// cgroup2 file system is mounted (or this process's cgroup is not
    /// below where it is mounted).
    pub fn of_this_process() -> io::Result<Cgroup> {
        super::imp::own_cgroup().map(|dir| Cgroup { dir })
    }

    /// The cgroup at `dir`, as another process named it.
    pub fn at(dir: impl Into<PathBuf>) -> Cgroup {
        Cgroup { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The child cgroup `name`, made unless it exists. Fails where this
    /// user may not make one (`EACCES`, `EROFS`).
    pub fn create_child(&self, name: &str) -> io::Result<Cgroup> {
        let dir = self.dir.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(e),
        }
        Ok(Cgroup { dir })
    }

    /// Moves the calling process (all its threads) into this cgroup.
    pub fn move_self(&self) -> io::Result<()> {
        // `0` is the writer itself.
        std::fs::OpenOptions::new()
            .write(true)
            .open(self.dir.join("cgroup.procs"))?
            .write_all(b"0")
    }

    /// The door a child about to exec goes through to enter this cgroup.
    /// Opened close-on-exec: the program never holds it.
    pub fn entrance(&self) -> io::Result<Entrance> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(self.dir.join("cgroup.procs"))?;
        Ok(Entrance(file.into()))
    }

    /// The processes in this cgroup (not in its children), zombies left
    /// out: the kernel lists a process only until it exits. Empty when the
    /// cgroup is gone.
    pub fn members(&self) -> Vec<i32> {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Whether a process that has not exited is in this cgroup or below.
    /// False once the cgroup is gone.
    pub fn is_populated(&self) -> bool {
        std::fs::read_to_string(self.dir.join("cgroup.events"))
            .ok()
            .is_some_and(|events| populated(&events))
    }

    /// Sends `signal` to every process in this cgroup; how many got it.
    pub fn signal(&self, signal: Signal) -> usize {
        self.members()
            .into_iter()
            .filter_map(Pid::from_raw)
            .filter(|pid| rustix::process::kill_process(*pid, signal).is_ok())
            .count()
    }

    /// Sends `signal` to every process in this cgroup that is not in
    /// process group `pgid`, which the caller signals itself: a second
    /// SIGINT is "stop now, skip the clean-up" to many programs.
    pub fn signal_outside(&self, signal: Signal, pgid: i32) -> usize {
        self.members()
            .into_iter()
            .filter_map(Pid::from_raw)
            .filter(|pid| {
                rustix::process::getpgid(Some(*pid)).is_ok_and(|g| g.as_raw_pid() != pgid)
            })
            .filter(|pid| rustix::process::kill_process(*pid, signal).is_ok())
            .count()
    }

    /// SIGKILL to every process in this cgroup and below, at once: through
    /// `cgroup.kill` (Linux 5.14), which no fork can race; on an older
    /// kernel, SIGKILL to each member until none is left (a process killed
    /// forks no more, so each round leaves fewer).
    pub fn kill(&self) -> io::Result<()> {
        match std::fs::OpenOptions::new()
            .write(true)
            .open(self.dir.join("cgroup.kill"))
        {
            Ok(mut file) => file.write_all(b"1"),
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.dir.is_dir() => {
                for _ in 0..100 {
                    if self.signal(Signal::KILL) == 0 {
                        break;
                    }
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Removes this cgroup, which must have no process and no child left.
    /// Gone already counts as removed.
    pub fn remove(&self) -> io::Result<()> {
        match std::fs::remove_dir(&self.dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// Removes the child cgroups that are empty, then this one if it is;
    /// what still has a process stays (`EBUSY`), and the first such error
    /// is returned.
    pub fn remove_tree(&self) -> io::Result<()> {
        let mut first = None;
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir())
                && let Err(e) = Cgroup::at(entry.path()).remove_tree()
            {
                first.get_or_insert(e);
            }
        }
        if let Err(e) = self.remove() {
            first.get_or_insert(e);
        }
        first.map_or(Ok(()), Err)
    }
}

impl Entrance {
    /// Moves the calling process into the cgroup. Meant for a `pre_exec`
    /// closure, between fork and exec: one `write` of a constant to a file
    /// descriptor opened before the fork, which allocates nothing and is
    /// async-signal-safe (a raw syscall on Linux).
    pub fn enter(&self) -> io::Result<()> {
        rustix::io::write(self.0.as_fd(), b"0")?;
        Ok(())
    }
}

/// Whether a `cgroup.events` text says `populated 1`.
fn populated(events: &str) -> bool {
    events
        .lines()
        .any(|l| l.split_whitespace().eq(["populated", "1"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_populated_from_cgroup_events() {
        assert!(populated("populated 1\nfrozen 0\n"));
        assert!(!populated("populated 0\nfrozen 0\n"));
        assert!(!populated(""));
    }

    #[test]
    fn a_missing_cgroup_has_no_member_and_removes_as_gone() {
        let gone = Cgroup::at("/no/such/cgroup");
        assert!(gone.members().is_empty());
        assert!(!gone.is_populated());
        assert_eq!(gone.signal(Signal::TERM), 0);
        assert!(gone.remove().is_ok());
        assert!(gone.kill().is_err());
    }
}
