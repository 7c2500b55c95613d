//! One supervised program in the loop: its spec, its state machine
//! ([`machine::Program`]), and the carrying out of what the machine
//! decides (spawns, signals, the guardian's lines, log notes).
//!
//! The machine speaks of the program's process group; where the program
//! has a cgroup ([`super::tracking`]), "the group" is that and its process
//! group both: a signal goes to every process of either, and the group
//! lives while either has a process.

use super::spawn::{self, Closed};
use super::writer::Writer;
use crate::supervisor::group;
use crate::supervisor::guardian::Line;
use crate::supervisor::machine::{Effect, Event, Exit, Phase, Program, Rules, Seen};
use crate::supervisor::protocol::ProgramSpec;
use crate::sys::{self, Cgroup};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub struct Slot {
    pub spec: ProgramSpec,
    pub program: Program,
    /// Counts spawns, so news about an earlier process is recognized.
    pub generation: u64,
    /// Where each of its processes runs, when the host allows cgroups.
    pub cgroup: Option<Cgroup>,
}

/// What the slots share to act on the world.
pub struct Hands<'a> {
    pub writer: &'a Writer,
    /// Told by each output copier when its pipe reached its end.
    pub output_closed: &'a mpsc::UnboundedSender<(String, u64)>,
}

/// The machine's view of a spec.
pub fn rules(spec: &ProgramSpec) -> Rules {
    Rules {
        autorestart: spec.autorestart,
        start_secs: spec.start_secs,
        start_retries: spec.start_retries,
        stop_signal: spec.stop_signal,
        stop_grace: Duration::from_millis(spec.stop_grace_ms),
        command: spec.argv.join(" "),
    }
}

impl Slot {
    pub fn new(spec: ProgramSpec, cgroup: Option<Cgroup>) -> Slot {
        Slot {
            program: Program::new(rules(&spec)),
            spec,
            generation: 0,
            cgroup,
        }
    }

    /// What the machine cannot see for itself, observed now.
    pub fn seen(&self) -> Seen {
        Seen {
            group_alive: self.program.phase.run().is_some_and(|run| {
                group::alive(run.pgid) || self.cgroup.as_ref().is_some_and(Cgroup::is_populated)
            }),
            holder_alive: match self.program.phase {
                Phase::Foreground { holder, .. } => sys::running(holder),
                _ => false,
            },
        }
    }

    /// Whether this slot's current process is group `pgid`'s leader, not
    /// yet reaped.
    pub fn leads(&self, pid: i32) -> bool {
        self.program
            .phase
            .run()
            .is_some_and(|run| run.leader && run.pgid == pid)
    }

    /// Feeds `event` to the machine and carries out what it decides;
    /// a spawn's outcome goes back in as the next event.
    pub fn feed(&mut self, event: Event, hands: &Hands) {
        let mut next = Some(event);
        while let Some(event) = next.take() {
            let effects = self.program.handle(event, Instant::now());
            for effect in effects {
                if let Some(outcome) = self.carry_out(effect, hands) {
                    next = Some(outcome);
                }
            }
        }
    }

    fn carry_out(&mut self, effect: Effect, hands: &Hands) -> Option<Event> {
        let name = &self.spec.name;
        match effect {
            Effect::Spawn => {
                self.generation += 1;
                let closed: Closed = (hands.output_closed.clone(), name.clone(), self.generation);
                let started = self
                    .cgroup
                    .as_ref()
                    .map(Cgroup::entrance)
                    .transpose()
                    .and_then(|entrance| {
                        spawn::start_process(&self.spec, hands.writer, closed, entrance)
                    });
                return Some(match started {
                    Ok(pid) => Event::Spawned { pid },
                    Err(e) => Event::SpawnFailed {
                        error: e.to_string(),
                    },
                });
            }
            Effect::Signal { pgid, signal } => match group::from_number(signal) {
                Ok(signal) => {
                    if let Err(e) = group::signal(pgid, signal) {
                        hands
                            .writer
                            .note(name, format!("cannot signal process group {pgid}: {e}"));
                    }
                    if let Some(cgroup) = &self.cgroup {
                        if signal == rustix::process::Signal::KILL {
                            if let Err(e) = cgroup.kill() {
                                hands.writer.note(
                                    name,
                                    format!("cannot kill cgroup {}: {e}", cgroup.dir().display()),
                                );
                            }
                        } else {
                            cgroup.signal_outside(signal, pgid);
                        }
                    }
                }
                Err(e) => hands
                    .writer
                    .note(name, format!("cannot send signal {signal}: {e}")),
            },
            Effect::Guard {
                pgid,
                signal,
                grace,
            } => hands.writer.guardian(Line::Guard {
                pgid,
                signal,
                grace,
                cgroup: self.cgroup.as_ref().map(|c| c.dir().to_owned()),
            }),
            Effect::Unguard { pgid } => hands.writer.guardian(Line::Forget { pgid }),
            Effect::Note(text) => hands.writer.note(name, text),
        }
        None
    }
}

/// How a reaped process ended, for the machine.
pub fn exit_of(status: rustix::process::WaitStatus) -> Exit {
    match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Status(status.as_raw()),
    }
}
