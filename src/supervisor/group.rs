//! Signals to whole process groups. Every program leads its own group, so
//! a dev server's reloader, its workers and a shell's background jobs are
//! stopped with it rather than orphaned.

use std::io;

/// Sends `signal` to every process of group `pgid`. `Ok(false)` when the
/// group has no process left.
pub fn signal(pgid: i32, signal: i32) -> io::Result<bool> {
    if pgid <= 1 {
        // Never address "every process" (-1) or our own group (0).
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: kill takes no pointers.
    if unsafe { libc::kill(-pgid, signal) } == 0 {
        return Ok(true);
    }
    match io::Error::last_os_error() {
        e if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
        e => Err(e),
    }
}

/// Whether group `pgid` still has a process (zombies count until reaped).
pub fn alive(pgid: i32) -> bool {
    signal(pgid, 0).unwrap_or(false)
}

/// The processes of group `pgid` that still run (zombies left out: they
/// are dead, only waiting for a parent that may never reap them).
pub fn running_members(pgid: i32) -> Vec<i32> {
    proc_stats()
        .filter(|(_, stat)| stat.state != 'Z' && stat.pgrp == pgid)
        .map(|(pid, _)| pid)
        .collect()
}

/// Whether process `pid` exists and is not a zombie.
pub fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|text| {
            let after = &text[text.rfind(')')? + 1..];
            after.split_whitespace().next().map(|state| state != "Z")
        })
        .unwrap_or(false)
}

struct Stat {
    state: char,
    ppid: u32,
    pgrp: i32,
}

/// Every process's `/proc/PID/stat`: `pid (comm) state ppid pgrp …`, where
/// comm may hold spaces and parentheses.
fn proc_stats() -> impl Iterator<Item = (i32, Stat)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let mut fields = text[text.rfind(')')? + 1..].split_whitespace();
            let state = fields.next()?.chars().next()?;
            let ppid = fields.next()?.parse().ok()?;
            let pgrp = fields.next()?.parse().ok()?;
            Some((pid, Stat { state, ppid, pgrp }))
        })
}

/// `TERM`, `SIGTERM`, `15` → 15.
pub fn signal_number(name: &str) -> Option<i32> {
    if let Ok(n) = name.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let name = name.trim_start_matches("SIG");
    Some(match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        "STOP" => libc::SIGSTOP,
        "CONT" => libc::SIGCONT,
        "ABRT" => libc::SIGABRT,
        "WINCH" => libc::SIGWINCH,
        "ALRM" => libc::SIGALRM,
        _ => return None,
    })
}

/// Processes whose parent is `parent`, from /proc: what a subreaper
/// inherited when a program's child left its group and then lost its parent.
pub fn children_of(parent: u32) -> Vec<i32> {
    proc_stats()
        .filter(|(_, stat)| stat.ppid == parent)
        .map(|(pid, _)| pid)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names() {
        assert_eq!(signal_number("TERM"), Some(libc::SIGTERM));
        assert_eq!(signal_number("SIGINT"), Some(libc::SIGINT));
        assert_eq!(signal_number("9"), Some(9));
        assert_eq!(signal_number("0"), None);
        assert_eq!(signal_number("BOGUS"), None);
    }

    #[test]
    fn refuses_to_signal_everything() {
        assert!(signal(0, 0).is_err());
        assert!(signal(1, 0).is_err());
        assert!(signal(-5, 0).is_err());
    }

    #[test]
    fn finds_own_children() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let found = children_of(std::process::id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found.contains(&(child.id() as i32)), "{found:?}");
    }
}
