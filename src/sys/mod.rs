//! The one door to what differs between operating systems: the process
//! tree the supervisor and the guardian watch, the kernel's help in keeping
//! programs from outliving the supervisor (a child subreaper, the
//! parent-death signal, a cgroup per program: [`Cgroup`]), who holds a
//! port, and free disk.
//!
//! Everything Linux-only (`/proc`, `prctl`) lives in `linux`; other Unixes
//! (macOS above all) get `portable`, which asks `ps` and `lsof` where Linux
//! reads `/proc`, and does without the two `prctl` settings (each function
//! below says what that costs). Portable POSIX calls (signals, sessions,
//! terminals) are made through `rustix` where they are used, not here.
//!
//! Pids are raw `pid_t` numbers (`i32`), as the supervisor and its protocol
//! carry them; a number that names no process is simply not found.

use rustix::process::Signal;
use std::io;
use std::path::Path;

pub use cgroup::{Cgroup, Entrance};

mod cgroup;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as imp;

// Compiled for the test build on Linux too, so its parsing and its `ps` and
// `lsof` calls are checked against `/proc` there; on Linux only the tests
// use it.
#[cfg(any(not(target_os = "linux"), test))]
#[cfg_attr(target_os = "linux", allow(dead_code))]
mod portable;
#[cfg(not(target_os = "linux"))]
use portable as imp;

/// Processes whose parent is `parent`. The supervisor, a child subreaper,
/// uses it to find what a program's children left behind: processes that
/// left the program's group and then lost their parent, so were handed to
/// the supervisor.
///
/// Zombies are included (they are children until reaped). Empty when
/// `parent` has none or is no process. Elsewhere than Linux the answer
/// comes from `ps`; empty when `ps` cannot run.
pub fn children_of(parent: i32) -> Vec<i32> {
    imp::children_of(parent)
}

/// The processes of group `pgid` that still run. Zombies are left out:
/// they are dead, only waiting for a parent that may never reap them (a
/// killed supervisor's orphans wait for init), so a group of zombies
/// counts as stopped.
///
/// Elsewhere than Linux the answer comes from `ps`; when `ps` cannot run, a
/// group that still answers a signal counts as running its leader (zombies
/// then count too).
pub fn running_members(pgid: i32) -> Vec<i32> {
    imp::running_members(pgid)
}

/// Whether process `pid` exists and is not a zombie: a `devrig foreground`
/// that was killed is a zombie until its shell reaps it, and gone for the
/// supervisor's purposes from the start.
///
/// Elsewhere than Linux the answer comes from `ps`; when `ps` cannot run,
/// whether `pid` answers a signal (zombies then count).
pub fn running(pid: i32) -> bool {
    imp::running(pid)
}

/// Asks the kernel to send the calling process `signal` when its parent
/// dies. Meant for a `pre_exec` closure, between fork and exec: it makes
/// only async-signal-safe calls (a raw syscall on Linux, nothing elsewhere).
///
/// It reaches only the process itself, not the rest of its group, and only
/// when the *thread* that forked it ends, so it is a last line of defence
/// behind the guardian. Elsewhere than Linux it does nothing: the guardian
/// process alone covers a supervisor that dies without stopping its
/// programs.
pub fn set_parent_death_signal(signal: Signal) -> io::Result<()> {
    imp::set_parent_death_signal(signal)
}

/// Makes the calling process a child subreaper: orphans among its
/// descendants are handed to it rather than to init, so it can reap them
/// and, when it exits, stop them ([`children_of`] finds them).
///
/// Elsewhere than Linux it does nothing and succeeds. The consequence: a
/// process that leaves its program's group and loses its parent goes to
/// launchd (or init), out of the supervisor's reach; the guardian still
/// stops each program's whole group, but not such an escapee.
pub fn become_child_subreaper() -> io::Result<()> {
    imp::become_child_subreaper()
}

/// Which kind of socket a port belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

/// A process holding a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortHolder {
    pub pid: i32,
    /// Its command line, arguments joined by spaces.
    pub command: String,
}

/// The process with a socket on local `port`, to name in an error when a
/// port is taken. Any address counts (`127.0.0.1`, `0.0.0.0`, `::`), and
/// for TCP any socket bound to the port, not only the listener.
///
/// `None` when the holder is not visible: another user's process (its
/// file descriptors cannot be read without privileges), a container (the
/// engine's NAT rules hold the port with no socket). Elsewhere than Linux the
/// answer comes from `lsof` (TCP: listening sockets only) and the command
/// line from `ps`; `None` when `lsof` cannot run.
pub fn port_holder(port: u16, transport: Transport) -> Option<PortHolder> {
    imp::port_holder(port, transport)
}

/// The most open files (`ulimits.nofile`) a container of the Docker engine
/// listening on the unix socket `socket` can be given: with
/// `CAP_SYS_RESOURCE` the engine may raise its containers' limits up to the
/// kernel's `nr_open`; without it (a rootless or confined engine, this
/// VM's), only up to its own hard limit, and asking more fails at start
/// with runc's `error setting rlimit type 7`.
///
/// `None` when that cannot be read: another OS, the socket served by
/// something other than `dockerd` (an SSH forward to a remote engine), or
/// a process of another user.
pub fn engine_nofile_ceiling(socket: &Path) -> Option<u64> {
    imp::engine_nofile_ceiling(socket)
}

/// The pid of the process at the other end of a connected unix socket,
/// as the kernel recorded it when the peer listened or connected
/// (`SO_PEERCRED`). `None` elsewhere than Linux.
pub fn peer_pid(stream: &std::os::unix::net::UnixStream) -> Option<i32> {
    imp::peer_pid(stream)
}

/// The user the process at the other end of a connected unix socket runs
/// as (`SO_PEERCRED`), so that a client can tell its own supervisor from
/// another user's. `None` elsewhere than Linux, where callers rely on the
/// socket file's owner instead.
pub fn peer_uid(stream: &std::os::unix::net::UnixStream) -> Option<u32> {
    imp::peer_uid(stream)
}

/// The login name of `uid`, to name an owner in a message. On Linux from
/// `/etc/passwd` (users known only to a directory service are `None`);
/// elsewhere from `id -nu`. `None` when it is not known.
pub fn user_name(uid: u32) -> Option<String> {
    imp::user_name(uid)
}

/// Swaps two directories (or files) of one filesystem: afterwards `a` holds
/// what `b` held and the other way round. `devenv sync` puts a freshly
/// unpacked toolchain in place of the one in use this way, so that no
/// moment exists without one.
///
/// Atomic on Linux (`renameat2(RENAME_EXCHANGE)`). Elsewhere it is three
/// renames through `<b>.exchange`: cut between them (a `kill -9`), `b` is
/// missing and `<b>.exchange` holds its old contents, which the caller puts
/// back on its next run.
pub fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    imp::exchange(a, b)
}

/// Bytes available to unprivileged users on the filesystem holding `path`
/// (`f_bavail`, not `f_bfree`: root's reserve is no use to the engine).
/// `None` when `path` does not exist or cannot be read. The same call on
/// every Unix.
pub fn available_space(path: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(path).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    use std::time::{Duration, Instant};

    fn sleeper() -> std::process::Child {
        Command::new("sleep").arg("30").spawn().unwrap()
    }

    /// A `sleep` that leads a process group of its own.
    pub(super) fn sleeping_leader() -> std::process::Child {
        Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap()
    }

    /// Waits up to five seconds for `done`.
    fn eventually(mut done: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    fn this_process() -> i32 {
        rustix::process::getpid().as_raw_pid()
    }

    #[test]
    fn children_of_finds_a_spawned_child() {
        let mut child = sleeper();
        let found = children_of(this_process());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found.contains(&(child.id() as i32)), "{found:?}");
        assert!(children_of(child.id() as i32).is_empty());
    }

    #[test]
    fn running_is_false_for_a_zombie_and_a_reaped_pid() {
        let mut child = sleeper();
        let pid = child.id() as i32;
        assert!(running(pid));
        child.kill().unwrap();
        // Not reaped yet: a zombie, which is not running.
        assert!(eventually(|| !running(pid)));
        child.wait().unwrap();
        assert!(!running(pid));
        assert!(!running(0));
        assert!(!running(-1));
    }

    #[test]
    fn running_members_leaves_out_zombies() {
        let mut leader = sleeping_leader();
        let pgid = leader.id() as i32;
        assert_eq!(running_members(pgid), [pgid]);
        leader.kill().unwrap();
        assert!(eventually(|| running_members(pgid).is_empty()));
        leader.wait().unwrap();
        assert!(running_members(pgid).is_empty());
    }

    #[test]
    fn port_holder_names_this_process() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let holder = port_holder(port, Transport::Tcp).expect("this test process holds it");
        assert_eq!(holder.pid, this_process());
        assert!(!holder.command.is_empty());
        drop(listener);
        assert_eq!(port_holder(port, Transport::Tcp), None);
    }

    #[test]
    fn user_name_and_peer_uid_name_this_user() {
        let me = rustix::process::getuid().as_raw();
        let from_id = Command::new("id").arg("-nu").output().unwrap();
        let expected = String::from_utf8(from_id.stdout).unwrap();
        assert_eq!(user_name(me).as_deref(), Some(expected.trim()));
        assert_eq!(portable::user_name(me).as_deref(), Some(expected.trim()));
        assert_eq!(user_name(u32::MAX - 7), None);
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(peer_uid(&a), Some(me));
    }

    #[test]
    fn exchange_swaps_two_directories() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for (d, text) in [(&a, "new"), (&b, "old")] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("f"), text).unwrap();
        }
        exchange(&a, &b).unwrap();
        assert_eq!(std::fs::read_to_string(b.join("f")).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(a.join("f")).unwrap(), "old");
        portable::exchange(&a, &b).unwrap();
        assert_eq!(std::fs::read_to_string(b.join("f")).unwrap(), "old");
        assert!(!dir.path().join("b.exchange").exists());
    }

    #[test]
    fn available_space_of_an_existing_path_only() {
        assert!(available_space(Path::new("/")).is_some_and(|free| free > 0));
        assert_eq!(available_space(Path::new("/no/such/dir")), None);
    }
}
