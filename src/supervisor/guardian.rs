//! The guardian: a small process beside each supervisor that stops the
//! programs if the supervisor dies without stopping them (`kill -9`, OOM
//! killer, a crash). The supervisor tells it, on a pipe only the supervisor
//! writes, what it has to stop: each process group it starts and forgets,
//! with the program's cgroup where it has one (every process the program
//! started, also those that left its group with `setsid`), and the cgroup
//! directories to remove at the end. The kernel closes that pipe however
//! the supervisor dies, and end-of-file is the guardian's cue.
//!
//! `PR_SET_PDEATHSIG` alone would not do: it reaches only the direct child,
//! not the rest of its group, and gives no grace period.

use super::group;
use crate::sys::{self, Cgroup};
use rustix::process::Signal;
use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A line on the pipe, one per change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Should the supervisor die: `signal` to process group `pgid` and to
    /// every process of `cgroup`, then SIGKILL to both after `grace`.
    /// `guard PGID SIGNAL GRACE_MS [CGROUP]`.
    Guard {
        pgid: i32,
        signal: i32,
        grace: Duration,
        cgroup: Option<PathBuf>,
    },
    /// The group is gone (or killed already). `forget PGID`.
    Forget { pgid: i32 },
    /// A cgroup directory of the supervisor's, removed with the empty
    /// cgroups below it once everything is stopped. `tidy CGROUP`.
    Tidy { cgroup: PathBuf },
}

impl Line {
    /// Writes the line and flushes it: the guardian must have it before
    /// the supervisor can die.
    pub fn send(&self, out: &mut impl Write) -> io::Result<()> {
        let text = match self {
            Line::Guard {
                pgid,
                signal,
                grace,
                cgroup,
            } => {
                let mut text = format!("guard {pgid} {signal} {}", grace.as_millis());
                if let Some(cgroup) = cgroup {
                    text.push(' ');
                    text.push_str(&cgroup.to_string_lossy());
                }
                text
            }
            Line::Forget { pgid } => format!("forget {pgid}"),
            Line::Tidy { cgroup } => format!("tidy {}", cgroup.to_string_lossy()),
        };
        writeln!(out, "{text}")?;
        out.flush()
    }

    /// The line `text` stands for; `None` for anything else. A path is
    /// the rest of the line, spaces and all (cgroup paths have no newline).
    pub fn parse(text: &str) -> Option<Line> {
        let (word, rest) = text.split_once(' ')?;
        match word {
            "guard" => {
                let mut parts = rest.splitn(4, ' ');
                let pgid = parts.next()?.parse().ok()?;
                let signal = parts.next()?.parse().ok()?;
                let grace = Duration::from_millis(parts.next()?.parse().ok()?);
                let cgroup = parts.next().filter(|p| !p.is_empty()).map(PathBuf::from);
                Some(Line::Guard {
                    pgid,
                    signal,
                    grace,
                    cgroup,
                })
            }
            "forget" => Some(Line::Forget {
                pgid: rest.parse().ok()?,
            }),
            "tidy" if !rest.is_empty() => Some(Line::Tidy {
                cgroup: PathBuf::from(rest),
            }),
            _ => None,
        }
    }
}

/// What the guardian stops for one group.
struct Guarded {
    signal: i32,
    grace: Duration,
    cgroup: Option<Cgroup>,
}

impl Guarded {
    /// Whether a process of the group, or of the cgroup, still runs.
    /// Zombies are done: their new parent may be slow to reap them.
    fn alive(&self, pgid: i32) -> bool {
        !sys::running_members(pgid).is_empty()
            || self.cgroup.as_ref().is_some_and(Cgroup::is_populated)
    }
}

/// Reads the supervisor's lines from `input` until it closes, then stops
/// everything still listed: its stop signal, then SIGKILL after its grace
/// period; then removes the cgroups it was told to tidy. Returns how many
/// groups it had to stop.
pub fn watch(input: impl BufRead) -> usize {
    let mut groups: BTreeMap<i32, Guarded> = BTreeMap::new();
    let mut tidy: Vec<Cgroup> = Vec::new();
    for line in input.lines() {
        let Ok(line) = line else { break };
        match Line::parse(&line) {
            Some(Line::Guard {
                pgid,
                signal,
                grace,
                cgroup,
            }) => {
                groups.insert(
                    pgid,
                    Guarded {
                        signal,
                        grace,
                        cgroup: cgroup.map(Cgroup::at),
                    },
                );
            }
            Some(Line::Forget { pgid }) => {
                groups.remove(&pgid);
            }
            Some(Line::Tidy { cgroup }) => tidy.push(Cgroup::at(cgroup)),
            None => {}
        }
    }
    let count = groups.len();
    let start = Instant::now();
    for (pgid, guarded) in &groups {
        // A number with no signal to it is not sent; SIGKILL still follows.
        if let Ok(signal) = group::from_number(guarded.signal) {
            let _ = group::signal(*pgid, signal);
            if let Some(cgroup) = &guarded.cgroup {
                cgroup.signal_outside(signal, *pgid);
            }
        }
    }
    let mut killed = false;
    while !groups.is_empty() {
        groups.retain(|pgid, guarded| guarded.alive(*pgid));
        for (pgid, guarded) in &groups {
            if start.elapsed() >= guarded.grace {
                let _ = group::signal(*pgid, Signal::KILL);
                if let Some(cgroup) = &guarded.cgroup {
                    let _ = cgroup.kill();
                }
                killed = true;
            }
        }
        if killed
            && start.elapsed()
                > groups.values().map(|g| g.grace).max().unwrap_or_default()
                    + Duration::from_secs(5)
        {
            // SIGKILL was sent; whatever is left is a zombie its new
            // parent has yet to reap.
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for cgroup in &tidy {
        // What still has a process stays; nothing more can be done for it.
        let _ = cgroup.remove_tree();
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn lines_read_back_as_written() {
        let lines = [
            Line::Guard {
                pgid: 4242,
                signal: 15,
                grace: Duration::from_millis(1500),
                cgroup: None,
            },
            Line::Guard {
                pgid: 7,
                signal: 2,
                grace: Duration::ZERO,
                cgroup: Some(PathBuf::from("/sys/fs/cgroup/a b/devrig-app-1/web")),
            },
            Line::Forget { pgid: 4242 },
            Line::Tidy {
                cgroup: PathBuf::from("/sys/fs/cgroup/devrig-app-1"),
            },
        ];
        let mut pipe = Vec::new();
        for line in &lines {
            line.send(&mut pipe).unwrap();
        }
        let read: Vec<Line> = String::from_utf8(pipe)
            .unwrap()
            .lines()
            .map(|l| Line::parse(l).unwrap())
            .collect();
        assert_eq!(read, lines);
        for junk in [
            "",
            "guard",
            "guard 1 2",
            "guard x 2 3",
            "forget",
            "tidy ",
            "+5 15 100",
        ] {
            assert_eq!(Line::parse(junk), None, "{junk:?}");
        }
    }

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
        let guard = |pgid| Line::Guard {
            pgid,
            signal: term,
            grace: Duration::from_millis(300),
            cgroup: None,
        };
        guard(pgid).send(&mut pipe).unwrap();
        guard(999_999).send(&mut pipe).unwrap();
        Line::Forget { pgid: 999_999 }.send(&mut pipe).unwrap();
        let reaper = std::thread::spawn(move || leader.wait());
        let began = Instant::now();
        assert_eq!(watch(pipe.as_slice()), 1);
        assert!(began.elapsed() >= Duration::from_millis(300));
        reaper.join().unwrap().unwrap();
        assert!(sys::running_members(pgid).is_empty());
    }
}
