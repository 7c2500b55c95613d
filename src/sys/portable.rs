//! Other Unixes (macOS, the BSDs): no `/proc`, so the process tree comes
//! from `ps` and socket owners from `lsof`, both shipped with macOS; the two
//! Linux `prctl` settings do nothing. See the parent module for what each
//! function promises and what doing without costs.
//!
//! `ps` and `lsof` are run and waited for on the calling thread. In the
//! supervisor that is its loop's one thread, the same that reaps with
//! `waitpid(-1)`, so the two waits never race for a child.

use super::{PortHolder, Transport};
use rustix::process::{Pid, Signal};
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

/// Three renames: `b` aside to `<b>.exchange`, `a` to `b`, the aside to `a`.
pub fn exchange(a: &std::path::Path, b: &std::path::Path) -> io::Result<()> {
    let mut aside = b.as_os_str().to_owned();
    aside.push(".exchange");
    let aside = std::path::PathBuf::from(aside);
    std::fs::rename(b, &aside)?;
    if let Err(e) = std::fs::rename(a, b) {
        // Put it back: the caller still has its old `b`.
        let _ = std::fs::rename(&aside, b);
        return Err(e);
    }
    std::fs::rename(&aside, a)
}

pub fn children_of(parent: i32) -> Vec<i32> {
    process_table()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.ppid == parent)
        .map(|p| p.pid)
        .collect()
}

pub fn running_members(pgid: i32) -> Vec<i32> {
    match process_table() {
        Some(table) => table
            .into_iter()
            .filter(|p| p.pgid == pgid && !p.zombie)
            .map(|p| p.pid)
            .collect(),
        None => {
            let alive = pgid > 1
                && Pid::from_raw(pgid)
                    .is_some_and(|g| rustix::process::test_kill_process_group(g).is_ok());
            if alive { vec![pgid] } else { Vec::new() }
        }
    }
}

pub fn running(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    let pid_text = pid.to_string();
    // `ps -p` of a pid that is gone prints nothing (and fails).
    match output("ps", &["-o", "stat=", "-p", &pid_text]) {
        Some(text) => text.trim().chars().next().is_some_and(|state| state != 'Z'),
        None => Pid::from_raw(pid).is_some_and(|p| {
            // EPERM: it exists, but is another user's.
            !matches!(
                rustix::process::test_kill_process(p),
                Err(rustix::io::Errno::SRCH)
            )
        }),
    }
}

pub fn set_parent_death_signal(_signal: Signal) -> io::Result<()> {
    Ok(())
}

pub fn become_child_subreaper() -> io::Result<()> {
    Ok(())
}

pub fn own_cgroup() -> io::Result<std::path::PathBuf> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "cgroups are Linux's",
    ))
}

pub fn peer_pid(_stream: &std::os::unix::net::UnixStream) -> Option<i32> {
    // macOS has LOCAL_PEERPID, which rustix does not offer; the error
    // that wants this names the socket instead.
    None
}

pub fn peer_uid(_stream: &std::os::unix::net::UnixStream) -> Option<u32> {
    // getpeereid(3) is not in rustix; callers check the socket file's
    // owner, which only its owner (or root) can have replaced.
    None
}

pub fn user_name(uid: u32) -> Option<String> {
    // Directory services (macOS keeps its users there) answer through `id`.
    let name = output("id", &["-nu", &uid.to_string()])?;
    Some(name.trim().to_owned()).filter(|n| !n.is_empty())
}

pub fn engine_nofile_ceiling(_socket: &Path) -> Option<u64> {
    // Docker Desktop's engine runs in a VM: its limits are not this host's.
    None
}

pub fn port_holder(port: u16, transport: Transport) -> Option<PortHolder> {
    let select = match transport {
        Transport::Tcp => format!("-iTCP:{port}"),
        Transport::Udp => format!("-iUDP:{port}"),
    };
    let mut args = vec!["-nP", select.as_str()];
    if transport == Transport::Tcp {
        args.push("-sTCP:LISTEN");
    }
    args.push("-Fpc");
    let (pid, name) = parse_lsof(&output("lsof", &args)?)?;
    // lsof gives the command's name only; ps gives its arguments too.
    let command = output("ps", &["-ww", "-o", "args=", "-p", &pid.to_string()])
        .map(|args| args.trim().to_owned())
        .filter(|args| !args.is_empty())
        .unwrap_or(name);
    Some(PortHolder { pid, command })
}

struct Process {
    pid: i32,
    ppid: i32,
    pgid: i32,
    zombie: bool,
}

/// Every process, from `ps`; `None` when it cannot run.
fn process_table() -> Option<Vec<Process>> {
    let text = output(
        "ps",
        &[
            "-A", "-o", "pid=", "-o", "ppid=", "-o", "pgid=", "-o", "stat=",
        ],
    )?;
    Some(parse_ps(&text))
}

/// `ps -o pid= -o ppid= -o pgid= -o stat=` lines: `  501     1   501 Ss`.
fn parse_ps(text: &str) -> Vec<Process> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            Some(Process {
                pid: fields.next()?.parse().ok()?,
                ppid: fields.next()?.parse().ok()?,
                pgid: fields.next()?.parse().ok()?,
                zombie: fields.next()?.starts_with('Z'),
            })
        })
        .collect()
}

/// The first process in `lsof -F pc` output: a `p` line with its pid, then
/// a `c` line with its command's name (and `f` lines for its files).
fn parse_lsof(text: &str) -> Option<(i32, String)> {
    let mut lines = text.lines();
    let pid = lines.find_map(|l| l.strip_prefix('p'))?.parse().ok()?;
    let name = lines
        .next()
        .and_then(|l| l.strip_prefix('c'))
        .unwrap_or_default();
    Some((pid, name.to_owned()))
}

/// What `program args` prints, when it runs and succeeds.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ps_lines() {
        let table =
            parse_ps("    1     0     1 Ss\n  501     1   501 S+\n  502   501   501 Z\nbogus\n");
        let rows: Vec<(i32, i32, i32, bool)> = table
            .iter()
            .map(|p| (p.pid, p.ppid, p.pgid, p.zombie))
            .collect();
        assert_eq!(
            rows,
            [
                (1, 0, 1, false),
                (501, 1, 501, false),
                (502, 501, 501, true)
            ]
        );
    }

    #[test]
    fn reads_lsof_fields() {
        assert_eq!(
            parse_lsof("p4242\ncpython3.12\nf5\n"),
            Some((4242, "python3.12".to_owned()))
        );
        assert_eq!(parse_lsof(""), None);
    }

    // Where the tools exist (on Linux, next to /proc), the fallback must
    // agree with what the kernel says.
    #[cfg(target_os = "linux")]
    #[test]
    fn agrees_with_proc() {
        if output("ps", &["-o", "pid=", "-p", "1"]).is_none() {
            return;
        }
        let mut leader = super::super::tests::sleeping_leader();
        let pid = leader.id() as i32;
        let me = rustix::process::getpid().as_raw_pid();
        assert!(running(pid));
        assert!(children_of(me).contains(&pid));
        assert_eq!(
            running_members(pid),
            super::super::linux::running_members(pid)
        );
        leader.kill().unwrap();
        leader.wait().unwrap();
        assert!(!running(pid));
        assert!(running_members(pid).is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn lsof_names_this_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if which::which("lsof").is_err() {
            return;
        }
        let holder = port_holder(port, Transport::Tcp).expect("this test process holds it");
        assert_eq!(holder.pid, rustix::process::getpid().as_raw_pid());
        assert_eq!(
            Some(holder),
            super::super::linux::port_holder(port, Transport::Tcp)
        );
    }
}
