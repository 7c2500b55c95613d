//! Signals to whole process groups. Every program leads its own group, so
//! a dev server's reloader, its workers and a shell's background jobs are
//! stopped with it rather than orphaned. (Which processes a group still
//! has is a question for [`crate::sys`].)

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
}
