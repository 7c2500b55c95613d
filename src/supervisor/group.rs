//! Signals to whole process groups. Every program leads its own group, so
//! a dev server's reloader, its workers and a shell's background jobs are
//! stopped with it rather than orphaned. (Which processes a group still
//! has is a question for [`crate::sys`].)
//!
//! Signals travel as numbers (the protocol and the guardian's pipe carry
//! them so) and become rustix [`Signal`]s here, at the edge.

use rustix::io::Errno;
use rustix::process::{Pid, Signal};
use std::io;

/// Sends `signal` to every process of group `pgid`. `Ok(false)` when the
/// group has no process left.
pub fn signal(pgid: i32, signal: Signal) -> io::Result<bool> {
    match rustix::process::kill_process_group(group(pgid)?, signal) {
        Ok(()) => Ok(true),
        Err(Errno::SRCH) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whether group `pgid` still has a process (zombies count until reaped).
/// False too when it may not be signalled (another user's).
pub fn alive(pgid: i32) -> bool {
    group(pgid).is_ok_and(|g| rustix::process::test_kill_process_group(g).is_ok())
}

fn group(pgid: i32) -> io::Result<Pid> {
    // Never address "every process" (-1) or our own group (0).
    (pgid > 1)
        .then(|| Pid::from_raw(pgid))
        .flatten()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))
}

/// The signal with number `number`, for sending. Only signals with a name
/// qualify: the real-time ones (34–64 on Linux) are refused, since rustix
/// builds those only unsafely. None reaches here from a config, which
/// accepts signal names only.
pub fn from_number(number: i32) -> io::Result<Signal> {
    Signal::from_named_raw(number).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {number} has no name"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_signals() {
        assert_eq!(from_number(15).unwrap(), Signal::TERM);
        assert_eq!(from_number(9).unwrap(), Signal::KILL);
        assert!(from_number(0).is_err());
        assert!(from_number(-1).is_err());
    }

    #[test]
    fn refuses_to_signal_everything() {
        assert!(signal(0, Signal::TERM).is_err());
        assert!(signal(1, Signal::TERM).is_err());
        assert!(signal(-5, Signal::TERM).is_err());
        assert!(!alive(0) && !alive(1) && !alive(-5));
    }

    #[test]
    fn signals_a_group_until_it_is_gone() {
        use std::os::unix::process::CommandExt;
        let mut leader = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = leader.id() as i32;
        assert!(alive(pgid));
        assert!(signal(pgid, Signal::KILL).unwrap());
        leader.wait().unwrap();
        assert!(!alive(pgid));
        assert!(!signal(pgid, Signal::KILL).unwrap());
    }
}
