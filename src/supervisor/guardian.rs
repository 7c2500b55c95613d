//! The guardian: a small process beside each supervisor that stops the
//! programs if the supervisor dies without stopping them (`kill -9`, OOM
//! killer, a crash). The supervisor tells it, on a pipe only the supervisor
//! writes, each process group it starts and forgets; the kernel closes that
//! pipe however the supervisor dies, and end-of-file is the guardian's cue.
//!
//! `PR_SET_PDEATHSIG` alone would not do: it reaches only the direct child,
//! not the rest of its group, and gives no grace period.

use super::group;
use crate::sys;
use rustix::process::Signal;
use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::time::{Duration, Instant};

/// A line on the pipe: `+PGID SIGNAL GRACE_MS` or `-PGID`.
pub fn started(out: &mut impl Write, pgid: i32, signal: i32, grace: Duration) -> io::Result<()> {
    writeln!(out, "+{pgid} {signal} {}", grace.as_millis())?;
    out.flush()
}

pub fn forgotten(out: &mut impl Write, pgid: i32) -> io::Result<()> {
    writeln!(out, "-{pgid}")?;
    out.flush()
}

/// Reads the supervisor's lines from `input` until it closes, then stops
/// every group still listed: its stop signal, then SIGKILL after its grace
/// period. Returns how many groups it had to stop.
pub fn watch(input: impl BufRead) -> usize {
    let mut groups: BTreeMap<i32, (i32, Duration)> = BTreeMap::new();
    for line in input.lines() {
        let Ok(line) = line else { break };
        if let Some(rest) = line.strip_prefix('+') {
            let mut parts = rest.split_whitespace().map(str::parse::<u64>);
            if let (Some(Ok(pgid)), Some(Ok(signal)), Some(Ok(grace))) =
                (parts.next(), parts.next(), parts.next())
                && let (Ok(pgid), Ok(signal)) = (i32::try_from(pgid), i32::try_from(signal))
            {
                groups.insert(pgid, (signal, Duration::from_millis(grace)));
            }
        } else if let Some(pgid) = line.strip_prefix('-').and_then(|p| p.parse().ok()) {
            groups.remove(&pgid);
        }
    }
    let count = groups.len();
    let start = Instant::now();
    for (pgid, (signal, _)) in &groups {
        // A number with no signal to it is not sent; SIGKILL still follows.
        if let Ok(signal) = group::from_number(*signal) {
            let _ = group::signal(*pgid, signal);
        }
    }
    let mut killed = false;
    while !groups.is_empty() {
        // Its new parent may be slow to reap what was killed: zombies are
        // done, so only running members count.
        groups.retain(|pgid, _| !sys::running_members(*pgid).is_empty());
        for (pgid, (_, grace)) in &groups {
            if start.elapsed() >= *grace {
                let _ = group::signal(*pgid, Signal::KILL);
                killed = true;
            }
        }
        if killed
            && start.elapsed()
                > groups.values().map(|g| g.1).max().unwrap_or_default() + Duration::from_secs(5)
        {
            // SIGKILL was sent; whatever is left is a zombie its new
            // parent has yet to reap.
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn stops_the_whole_group_when_the_pipe_closes() {
        // A group whose leader ignores nothing but whose background child
        // ignores TERM: only SIGKILL after the grace period ends it.
        let mut leader = std::process::Command::new("sh")
            .args(["-c", "trap '' TERM; sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = leader.id() as i32;
        std::thread::sleep(Duration::from_millis(100));
        let mut pipe = Vec::new();
        let term = Signal::TERM.as_raw();
        started(&mut pipe, pgid, term, Duration::from_millis(300)).unwrap();
        started(&mut pipe, 999_999, term, Duration::from_millis(300)).unwrap();
        forgotten(&mut pipe, 999_999).unwrap();
        let reaper = std::thread::spawn(move || leader.wait());
        let began = Instant::now();
        assert_eq!(watch(pipe.as_slice()), 1);
        assert!(began.elapsed() >= Duration::from_millis(300));
        reaper.join().unwrap().unwrap();
        assert!(sys::running_members(pgid).is_empty());
    }
}
