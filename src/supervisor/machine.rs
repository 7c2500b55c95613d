//! One supervised program as a state machine: a [`Phase`] per supervisord
//! state, each holding only what that phase has, and a pure transition
//! ([`Program::handle`]) from (program, event, now) to (program, effects).
//! The supervisor's loop
//! turns what happens (a request, a reaped child, a closed pipe, a timer)
//! into [`Event`]s, and carries out the [`Effect`]s: it owns every process
//! and file, this module owns every decision.
//!
//! What the machine cannot see it is told: whether a process group still
//! has members and whether a `devrig foreground` holder still runs come in
//! the events ([`Seen`]), so every transition can be tested with a table.
//!
//! Rules (supervisord's, with devrig's backoff):
//! - a start that ends before `startsecs` is retried after 1 s, 2 s, 4 s…
//!   (capped at 30 s) until `startretries` retries are used up: then
//!   `fatal`;
//! - a program that ran past `startsecs` and ends is restarted as
//!   `autorestart` says, after a delay that grows with each crash in a row
//!   and starts over after a run of [`STABLE_RUN`];
//! - an exit is handled once the program's output has reached its log (or
//!   after [`OUTPUT_DRAIN`]: a background child may hold the pipe open), so
//!   the log reads in order;
//! - stopping signals the whole group, waits its grace period for every
//!   member to go, then sends SIGKILL.

use crate::config::Autorestart;
use std::time::{Duration, Instant};

/// First restart after a crash waits this long; each further crash in a
/// row doubles it, up to [`MAX_BACKOFF`].
pub const BASE_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run this long counts as healthy: the next crash starts the backoff over.
pub const STABLE_RUN: Duration = Duration::from_secs(60);
/// How long an exit waits for the rest of the program's output.
pub const OUTPUT_DRAIN: Duration = Duration::from_millis(200);

/// The wait before restart number `attempt` (1-based) of a crash series.
pub fn backoff(attempt: u32) -> Duration {
    BASE_BACKOFF
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Neither (a wait status devrig does not ask for).
    Status(i32),
}

impl Exit {
    /// `exit 1`, `signal 9`.
    pub fn describe(self) -> String {
        match self {
            Exit::Code(code) => format!("exit {code}"),
            Exit::Signal(signal) => format!("signal {signal}"),
            Exit::Status(status) => format!("status {status}"),
        }
    }

    fn clean(self) -> bool {
        self == Exit::Code(0)
    }
}

/// What the machine needs of a program's config.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub autorestart: Autorestart,
    pub start_secs: u64,
    pub start_retries: u64,
    /// The signal that asks the program's group to stop.
    pub stop_signal: i32,
    pub stop_grace: Duration,
    /// The command, for the log's notes.
    pub command: String,
}

/// A process group the program started, from its spawn until its last
/// member is gone.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The leader's pid, which is also the group's id.
    pub pgid: i32,
    /// Whether the leader is still to be reaped.
    pub leader: bool,
    pub started: Instant,
    /// The output pipe has not reached its end yet.
    pub output_open: bool,
    /// The leader was reaped, its exit waits for the output.
    pub exit: Option<PendingExit>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PendingExit {
    pub exit: Exit,
    /// How long the leader ran.
    pub ran: Duration,
    /// Handled by then even if the output has not ended.
    pub by: Instant,
}

/// What a stop is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopFor {
    /// To stay stopped (`down`, `stop`, shutdown).
    Stop,
    /// To be run by the `devrig foreground` with pid `holder`.
    Foreground { holder: i32 },
    /// To start again (its command changed).
    Restart,
}

/// What comes after a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterStop {
    Stopped,
    /// Run by the `devrig foreground` with pid `holder`; `resume`: it ran
    /// before, so it is started again should that one die without handing
    /// it back.
    Foreground {
        holder: i32,
        resume: bool,
    },
    /// Started again (its command changed).
    Restart,
}

/// A program's phase; each holds only what that phase has.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Not running, by request (or never started: autostart off).
    Stopped,
    /// Started less than `startsecs` ago. `promote_at` is gone once the
    /// leader has exited: an exit before `startsecs` is never promoted.
    Starting {
        run: Run,
        promote_at: Option<Instant>,
    },
    Running {
        run: Run,
    },
    /// Ended; started again at `retry_at`.
    Backoff {
        retry_at: Instant,
    },
    /// The stop signal was sent to the group; SIGKILL follows at `kill_at`.
    Stopping {
        run: Run,
        kill_at: Instant,
        kill_sent: bool,
        then: AfterStop,
    },
    /// Ended by itself and not restarted. `run` stays while its group
    /// still has members (a background child), so a stop still reaches it.
    Exited {
        run: Option<Run>,
    },
    /// Gave up after repeated fast failures.
    Fatal,
    /// Handed to `devrig foreground`.
    Foreground {
        holder: i32,
        resume: bool,
    },
}

impl Phase {
    /// The name `status` reports.
    pub fn state(&self) -> super::protocol::ProgramState {
        use super::protocol::ProgramState as S;
        match self {
            Phase::Stopped => S::Stopped,
            Phase::Starting { .. } => S::Starting,
            Phase::Running { .. } => S::Running,
            Phase::Backoff { .. } => S::Backoff,
            Phase::Stopping { .. } => S::Stopping,
            Phase::Exited { .. } => S::Exited,
            Phase::Fatal => S::Fatal,
            Phase::Foreground { .. } => S::Foreground,
        }
    }

    /// The process group it has, if any.
    pub fn run(&self) -> Option<&Run> {
        match self {
            Phase::Starting { run, .. } | Phase::Running { run } | Phase::Stopping { run, .. } => {
                Some(run)
            }
            Phase::Exited { run } => run.as_ref(),
            _ => None,
        }
    }

    fn run_mut(&mut self) -> Option<&mut Run> {
        match self {
            Phase::Starting { run, .. } | Phase::Running { run } | Phase::Stopping { run, .. } => {
                Some(run)
            }
            Phase::Exited { run } => run.as_mut(),
            _ => None,
        }
    }

    /// Whether a process of its own runs (or is on its way out).
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            Phase::Starting { .. } | Phase::Running { .. } | Phase::Stopping { .. }
        )
    }

    /// Nothing left to wait for: a stop request on it can be answered.
    pub fn settled(&self) -> bool {
        !matches!(self, Phase::Stopping { .. })
            && self.run().is_none_or(|r| !r.leader && r.exit.is_none())
    }

    /// The next moment a timer of this phase is due.
    pub fn deadline(&self) -> Option<Instant> {
        let exit = self.run().and_then(|r| r.exit.map(|e| e.by));
        let timer = match self {
            Phase::Starting { promote_at, .. } => *promote_at,
            Phase::Backoff { retry_at } => Some(*retry_at),
            Phase::Stopping {
                kill_at,
                kill_sent: false,
                ..
            } => Some(*kill_at),
            _ => None,
        };
        exit.into_iter().chain(timer).min()
    }
}

/// A program: its phase and the counts that outlive phases.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub rules: Rules,
    pub phase: Phase,
    /// Restarts after a failure (shown by `status`).
    pub restarts: u32,
    /// Starts in a row that ended before `startsecs`.
    pub fast_failures: u64,
    /// Crashes in a row without a [`STABLE_RUN`] between them.
    pub crashes: u32,
    /// How the last process ended (`exit 1`), or why it did not start.
    pub last_exit: Option<String>,
}

impl Program {
    pub fn new(rules: Rules) -> Program {
        Program {
            rules,
            phase: Phase::Stopped,
            restarts: 0,
            fast_failures: 0,
            crashes: 0,
            last_exit: None,
        }
    }
}

/// What the loop observed of the world outside the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Seen {
    /// The program's process group still has a member (zombies count until
    /// reaped); false when it has no group.
    pub group_alive: bool,
    /// The foreground holder still runs (not a zombie).
    pub holder_alive: bool,
}

/// What happened to a program.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Start afresh unless it runs (a new program with autostart, a `start`
    /// request, a hand-back from `devrig foreground`): the failure counts
    /// start over. Ignored while it runs or waits to restart.
    Start,
    /// `up` handed the program in again: `changed` when its command,
    /// environment or directory differ from what runs (a live one
    /// restarts), `autostart` as configured (a stopped, exited or fatal one
    /// starts).
    Applied {
        changed: bool,
        autostart: bool,
        seen: Seen,
    },
    /// The process an [`Effect::Spawn`] asked for runs, leading group `pid`.
    Spawned { pid: i32 },
    /// The process could not be started at all.
    SpawnFailed { error: String },
    /// The leader was reaped.
    Reaped { exit: Exit },
    /// The output pipe of the current process reached its end.
    OutputClosed,
    /// Stop the program, for `why`.
    Stop { why: StopFor, seen: Seen },
    /// Time passed (a timer is due, or something else woke the loop).
    Tick { seen: Seen },
}

/// What the loop must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Start the process; report back with `Spawned` or `SpawnFailed`.
    Spawn,
    /// Send `signal` to every member of group `pgid`.
    Signal { pgid: i32, signal: i32 },
    /// Tell the guardian about a new group: stop it with `signal`, then
    /// SIGKILL after `grace`, should the supervisor die.
    Guard {
        pgid: i32,
        signal: i32,
        grace: Duration,
    },
    /// The group is gone (or given up on): the guardian forgets it.
    Unguard { pgid: i32 },
    /// A line for the program's log.
    Note(String),
}

/// The signal that ends a group at once.
pub const SIGKILL: i32 = 9;

impl Program {
    /// The transition function: the program's next phase (and counts)
    /// after `event` at `now`, and what the loop must do. Pure: it reads
    /// no clock and touches no process, so the same inputs always give the
    /// same outputs.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        let mut step = Step {
            program: self,
            effects: Vec::new(),
            now,
        };
        step.handle(event);
        step.effects
    }
}

struct Step<'a> {
    program: &'a mut Program,
    effects: Vec<Effect>,
    now: Instant,
}

impl Step<'_> {
    fn note(&mut self, text: String) {
        self.effects.push(Effect::Note(text));
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Start => {
                if matches!(
                    self.program.phase,
                    Phase::Stopped | Phase::Exited { .. } | Phase::Fatal | Phase::Foreground { .. }
                ) {
                    self.start_fresh();
                }
            }
            Event::Applied {
                changed,
                autostart,
                seen,
            } => {
                if changed && self.program.phase.is_live() {
                    self.note(
                        "its command, environment or directory changed: restarting".to_owned(),
                    );
                    self.stop(StopFor::Restart, seen);
                } else if autostart
                    && matches!(
                        self.program.phase,
                        Phase::Stopped | Phase::Exited { .. } | Phase::Fatal
                    )
                {
                    self.start_fresh();
                }
            }
            Event::Spawned { pid } => self.spawned(pid),
            Event::SpawnFailed { error } => {
                self.note(format!(
                    "cannot start `{}`: {error}",
                    self.program.rules.command
                ));
                self.program.last_exit = Some(format!("not started: {error}"));
                self.exited_early();
            }
            Event::Reaped { exit } => self.reaped(exit),
            Event::OutputClosed => {
                if let Some(run) = self.program.phase.run_mut() {
                    run.output_open = false;
                }
            }
            Event::Stop { why, seen } => self.stop(why, seen),
            Event::Tick { seen } => self.tick(seen),
        }
    }

    fn start_fresh(&mut self) {
        self.program.fast_failures = 0;
        self.program.crashes = 0;
        self.spawn();
    }

    /// Asks for a new process; a previous run's leftovers (a crashed run's
    /// children would hold its ports) go first. Until the loop reports the
    /// spawn's outcome, the program has no run.
    fn spawn(&mut self) {
        self.kill_group();
        self.program.phase = Phase::Stopped;
        self.effects.push(Effect::Spawn);
    }

    /// SIGKILL to the current group, which the guardian then forgets.
    fn kill_group(&mut self) {
        if let Some(run) = self.program.phase.run() {
            let pgid = run.pgid;
            self.effects.push(Effect::Signal {
                pgid,
                signal: SIGKILL,
            });
            self.effects.push(Effect::Unguard { pgid });
        }
    }

    fn spawned(&mut self, pid: i32) {
        let rules = &self.program.rules;
        let note = format!("started `{}` (pid {pid})", rules.command);
        let guard = Effect::Guard {
            pgid: pid,
            signal: rules.stop_signal,
            grace: rules.stop_grace,
        };
        self.program.phase = Phase::Starting {
            run: Run {
                pgid: pid,
                leader: true,
                started: self.now,
                output_open: true,
                exit: None,
            },
            promote_at: Some(self.now + Duration::from_secs(rules.start_secs)),
        };
        self.note(note);
        self.effects.push(guard);
    }

    fn reaped(&mut self, exit: Exit) {
        let now = self.now;
        if let Phase::Starting { promote_at, .. } = &mut self.program.phase {
            // It ended before startsecs, however long its output takes to
            // drain: no promotion to running meanwhile.
            *promote_at = None;
        }
        if let Some(run) = self.program.phase.run_mut()
            && run.leader
        {
            run.leader = false;
            run.exit = Some(PendingExit {
                exit,
                ran: now.saturating_duration_since(run.started),
                by: now + OUTPUT_DRAIN,
            });
        }
    }

    fn tick(&mut self, seen: Seen) {
        let now = self.now;
        // An exit whose output is all in (or that waited long enough).
        let due = self.program.phase.run_mut().and_then(|run| match run.exit {
            Some(pending) if !run.output_open || pending.by <= now => run.exit.take(),
            _ => None,
        });
        if let Some(pending) = due {
            self.exited(pending, seen);
        }
        match &mut self.program.phase {
            Phase::Starting {
                run,
                promote_at: Some(at),
            } if *at <= now => {
                let run = run.clone();
                self.program.phase = Phase::Running { run };
                self.program.fast_failures = 0;
            }
            Phase::Backoff { retry_at } if *retry_at <= now => {
                self.program.restarts += 1;
                self.spawn();
            }
            Phase::Foreground { holder, resume } if !seen.holder_alive => {
                let (holder, resume) = (*holder, *resume);
                self.note(format!(
                    "`devrig foreground` (pid {holder}) is gone without handing it back: taking it back"
                ));
                if resume {
                    self.start_fresh();
                } else {
                    self.program.phase = Phase::Stopped;
                }
            }
            Phase::Stopping {
                run,
                kill_at,
                kill_sent,
                ..
            } => {
                if *kill_at <= now && !*kill_sent {
                    *kill_sent = true;
                    let pgid = run.pgid;
                    let grace = self.program.rules.stop_grace.as_millis();
                    self.note(format!(
                        "still running {grace}ms after the stop signal: sending SIGKILL to its process group"
                    ));
                    self.effects.push(Effect::Signal {
                        pgid,
                        signal: SIGKILL,
                    });
                }
                if let Phase::Stopping { run, .. } = &self.program.phase
                    && !run.leader
                    && run.exit.is_none()
                    && !seen.group_alive
                {
                    self.finish_stop();
                }
            }
            _ => {}
        }
    }

    fn exited(&mut self, pending: PendingExit, seen: Seen) {
        let how = pending.exit.describe();
        self.program.last_exit = Some(how.clone());
        match &self.program.phase {
            Phase::Stopping { .. } => self.note(format!("stopped ({how})")),
            Phase::Starting { .. } => {
                self.note(format!(
                    "exited ({how}) after {:.1}s, before startsecs ({}s)",
                    pending.ran.as_secs_f32(),
                    self.program.rules.start_secs
                ));
                self.exited_early();
            }
            Phase::Running { run } => {
                let restart = match self.program.rules.autorestart {
                    Autorestart::Always => true,
                    Autorestart::Never => false,
                    Autorestart::Unexpected => !pending.exit.clean(),
                };
                if restart {
                    self.program.crashes = if pending.ran >= STABLE_RUN {
                        1
                    } else {
                        self.program.crashes + 1
                    };
                    let delay = backoff(self.program.crashes);
                    self.note(format!(
                        "exited ({how}) after {:.1}s; restarting in {}s",
                        pending.ran.as_secs_f32(),
                        delay.as_secs()
                    ));
                    self.back_off(delay);
                } else {
                    let run = run.clone();
                    self.note(format!("exited ({how}); autorestart is off for this exit"));
                    self.program.phase = Phase::Exited { run: Some(run) };
                    self.forget_group_if_empty(seen);
                }
            }
            _ => {}
        }
    }

    /// A start that ended before `startsecs`: retried with backoff until
    /// `startretries` is used up, then fatal.
    fn exited_early(&mut self) {
        self.program.fast_failures += 1;
        let failures = self.program.fast_failures;
        let retries = self.program.rules.start_retries;
        if failures > retries {
            self.note(format!(
                "gave up: {failures} starts in a row ended within startsecs; `devrig up` tries again"
            ));
            self.kill_group();
            self.program.phase = Phase::Fatal;
            return;
        }
        let delay = backoff(u32::try_from(failures).unwrap_or(u32::MAX));
        self.note(format!(
            "retrying in {}s (attempt {} of {})",
            delay.as_secs(),
            failures + 1,
            retries + 1
        ));
        self.back_off(delay);
    }

    fn back_off(&mut self, delay: Duration) {
        self.kill_group();
        self.program.phase = Phase::Backoff {
            retry_at: self.now + delay,
        };
    }

    /// A group with no member left is the guardian's no longer.
    fn forget_group_if_empty(&mut self, seen: Seen) {
        if let Phase::Exited { run: Some(run) } = &self.program.phase
            && !seen.group_alive
        {
            let pgid = run.pgid;
            self.effects.push(Effect::Unguard { pgid });
            self.program.phase = Phase::Exited { run: None };
        }
    }

    fn stop(&mut self, why: StopFor, seen: Seen) {
        let then = match why {
            StopFor::Stop => AfterStop::Stopped,
            StopFor::Restart => AfterStop::Restart,
            // Started again if its holder dies, unless it was stopped before.
            StopFor::Foreground { holder } => AfterStop::Foreground {
                holder,
                resume: self.program.phase != Phase::Stopped,
            },
        };
        self.forget_group_if_empty(seen);
        if let Phase::Stopping { then: current, .. } = &mut self.program.phase {
            *current = then;
            return;
        }
        let rules = &self.program.rules;
        let (signal, grace) = (rules.stop_signal, rules.stop_grace);
        match self.program.phase.run().cloned() {
            Some(run) if seen.group_alive => {
                self.effects.push(Effect::Signal {
                    pgid: run.pgid,
                    signal,
                });
                self.program.phase = Phase::Stopping {
                    run,
                    kill_at: self.now + grace,
                    kill_sent: false,
                    then,
                };
            }
            _ => self.finish(then),
        }
    }

    fn finish_stop(&mut self) {
        if let Phase::Stopping { then, .. } = self.program.phase {
            self.finish(then);
        }
    }

    /// The group is gone (or never was): on to what the stop was for.
    fn finish(&mut self, then: AfterStop) {
        if let Some(run) = self.program.phase.run() {
            let pgid = run.pgid;
            // An exit still waiting for its output is how it ended.
            if let Some(pending) = run.exit {
                self.program.last_exit = Some(pending.exit.describe());
            }
            self.effects.push(Effect::Unguard { pgid });
        }
        match then {
            AfterStop::Stopped => self.program.phase = Phase::Stopped,
            AfterStop::Foreground { holder, resume } => {
                self.note(format!("handed to `devrig foreground` (pid {holder})"));
                self.program.phase = Phase::Foreground { holder, resume };
            }
            AfterStop::Restart => {
                // The old group is gone: nothing of it to kill.
                self.program.phase = Phase::Stopped;
                self.start_fresh();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TERM: i32 = 15;

    fn rules(autorestart: Autorestart, start_retries: u64) -> Rules {
        Rules {
            autorestart,
            start_secs: 1,
            start_retries,
            stop_signal: TERM,
            stop_grace: Duration::from_secs(2),
            command: "worker".to_owned(),
        }
    }

    /// Drives one program through events at times relative to `t0`.
    struct Script {
        program: Program,
        t0: Instant,
    }

    impl Script {
        fn new(rules: Rules) -> Self {
            Script {
                program: Program::new(rules),
                t0: Instant::now(),
            }
        }

        fn at(&mut self, ms: u64, event: Event) -> Vec<Effect> {
            let now = self.t0 + Duration::from_millis(ms);
            self.program.handle(event, now)
        }

        fn tick(&mut self, ms: u64, group_alive: bool) -> Vec<Effect> {
            self.at(
                ms,
                Event::Tick {
                    seen: Seen {
                        group_alive,
                        holder_alive: false,
                    },
                },
            )
        }

        /// Start (or restart) answered by a spawn of `pid` at `ms`.
        fn spawn(&mut self, ms: u64, pid: i32) -> Vec<Effect> {
            self.at(ms, Event::Spawned { pid })
        }

        /// The leader exits at `ms` and its output ends with it; its group
        /// is empty then.
        fn exit(&mut self, ms: u64, exit: Exit) -> Vec<Effect> {
            self.exit_leaving(ms, exit, false)
        }

        /// [`Script::exit`], with the group still alive or not after it.
        fn exit_leaving(&mut self, ms: u64, exit: Exit, group_alive: bool) -> Vec<Effect> {
            self.at(ms, Event::Reaped { exit });
            self.at(ms, Event::OutputClosed);
            self.tick(ms, group_alive)
        }

        /// Started as pid 100 at 0 ms, running since 1000 ms.
        fn running(rules: Rules) -> Self {
            let mut s = Script::new(rules);
            s.at(0, Event::Start);
            s.spawn(0, 100);
            s.tick(1000, true);
            s
        }

        fn stop(&mut self, ms: u64, why: StopFor, group_alive: bool) -> Vec<Effect> {
            self.at(
                ms,
                Event::Stop {
                    why,
                    seen: Seen {
                        group_alive,
                        holder_alive: false,
                    },
                },
            )
        }

        fn state(&self) -> &'static str {
            self.program.phase.state().as_str()
        }
    }

    fn notes(effects: &[Effect]) -> Vec<&str> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Note(text) => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    fn kill(pgid: i32) -> Effect {
        Effect::Signal {
            pgid,
            signal: SIGKILL,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let secs: Vec<u64> = (1..=7).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn a_start_is_promoted_to_running_after_startsecs() {
        let mut s = Script::new(rules(Autorestart::Always, 3));
        assert_eq!(s.at(0, Event::Start), [Effect::Spawn]);
        let effects = s.spawn(0, 100);
        assert_eq!(notes(&effects), ["started `worker` (pid 100)"]);
        assert!(effects.contains(&Effect::Guard {
            pgid: 100,
            signal: TERM,
            grace: Duration::from_secs(2)
        }));
        assert_eq!(s.state(), "starting");
        assert_eq!(
            s.program.phase.deadline(),
            Some(s.t0 + Duration::from_secs(1))
        );
        assert!(s.tick(999, true).is_empty());
        assert_eq!(s.state(), "starting");
        s.tick(1000, true);
        assert_eq!(s.state(), "running");
        assert_eq!(s.program.phase.deadline(), None);
    }

    #[test]
    fn repeated_fast_failures_back_off_then_give_up() {
        let mut s = Script::new(rules(Autorestart::Always, 2));
        s.at(0, Event::Start);
        s.spawn(0, 100);
        let effects = s.exit(100, Exit::Code(1));
        assert_eq!(
            notes(&effects),
            [
                "exited (exit 1) after 0.1s, before startsecs (1s)",
                "retrying in 1s (attempt 2 of 3)"
            ]
        );
        assert!(effects.contains(&kill(100)) && effects.contains(&Effect::Unguard { pgid: 100 }));
        assert_eq!(s.state(), "backoff");
        assert!(s.tick(1099, false).is_empty(), "not before its time");
        assert_eq!(s.tick(1100, false), [Effect::Spawn]);
        assert_eq!(s.program.restarts, 1);
        s.spawn(1100, 101);
        let effects = s.exit(1200, Exit::Code(1));
        assert_eq!(notes(&effects)[1], "retrying in 2s (attempt 3 of 3)");
        assert_eq!(s.tick(3200, false), [Effect::Spawn]);
        s.spawn(3200, 102);
        let effects = s.exit(3300, Exit::Signal(11));
        assert_eq!(
            notes(&effects),
            [
                "exited (signal 11) after 0.1s, before startsecs (1s)",
                "gave up: 3 starts in a row ended within startsecs; `devrig up` tries again"
            ]
        );
        assert_eq!(s.state(), "fatal");
        assert_eq!(s.program.last_exit.as_deref(), Some("signal 11"));
        assert_eq!(s.program.restarts, 2);
        // `up` again starts it afresh, with a new series.
        assert_eq!(s.at(4000, Event::Start), [Effect::Spawn]);
        assert_eq!(s.program.fast_failures, 0);
    }

    #[test]
    fn crashes_of_a_running_program_back_off_and_a_long_run_resets_the_series() {
        let mut s = Script::running(rules(Autorestart::Always, 3));
        let mut t = 5_000;
        let mut delays = Vec::new();
        for pid in 101..104 {
            let effects = s.exit(t, Exit::Code(2));
            delays.push(notes(&effects)[0].rsplit(' ').next().unwrap().to_owned());
            let Phase::Backoff { retry_at } = s.program.phase else {
                panic!("{:?}", s.program.phase)
            };
            t = u64::try_from((retry_at - s.t0).as_millis()).unwrap();
            s.tick(t, false);
            s.spawn(t, pid);
            t += 1_000;
            s.tick(t, true);
            assert_eq!(s.state(), "running");
            t += 1_000;
        }
        assert_eq!(delays, ["1s", "2s", "4s"]);
        assert_eq!(s.program.crashes, 3);
        // After a minute's run, the next crash is the first of a new series.
        let effects = s.exit(t + 61_000, Exit::Code(2));
        assert_eq!(
            notes(&effects)[0],
            "exited (exit 2) after 63.0s; restarting in 1s"
        );
        assert_eq!(s.program.crashes, 1);
    }

    #[test]
    fn autorestart_decides_on_the_exit_and_a_lingering_child_stays_reachable() {
        let mut s = Script::running(rules(Autorestart::Unexpected, 3));
        // Exits cleanly while a background child still holds the group.
        let effects = s.exit_leaving(2000, Exit::Code(0), true);
        assert_eq!(
            notes(&effects),
            ["exited (exit 0); autorestart is off for this exit"]
        );
        assert_eq!(s.state(), "exited");
        assert!(s.program.phase.run().is_some(), "its group is kept");
        // A stop still signals what is left of it.
        let effects = s.stop(3000, StopFor::Stop, true);
        assert_eq!(
            effects,
            [Effect::Signal {
                pgid: 100,
                signal: TERM
            }]
        );
        assert_eq!(s.state(), "stopping");
        let effects = s.tick(3100, false);
        assert_eq!(effects, [Effect::Unguard { pgid: 100 }]);
        assert_eq!(s.state(), "stopped");

        // An unexpected exit of the same program restarts it.
        s.at(4000, Event::Start);
        s.spawn(4000, 200);
        s.tick(5000, true);
        s.exit(6000, Exit::Code(3));
        assert_eq!(s.state(), "backoff");
    }

    #[test]
    fn a_stop_past_its_grace_period_kills_the_group() {
        let mut s = Script::running(rules(Autorestart::Always, 3));
        let effects = s.stop(2000, StopFor::Stop, true);
        assert_eq!(
            effects,
            [Effect::Signal {
                pgid: 100,
                signal: TERM
            }]
        );
        assert_eq!(
            s.program.phase.deadline(),
            Some(s.t0 + Duration::from_secs(4))
        );
        assert!(s.tick(3999, true).is_empty());
        let effects = s.tick(4000, true);
        assert_eq!(
            notes(&effects),
            ["still running 2000ms after the stop signal: sending SIGKILL to its process group"]
        );
        assert!(effects.contains(&kill(100)));
        assert_eq!(s.program.phase.deadline(), None, "SIGKILL goes once");
        assert!(s.tick(4050, true).is_empty());
        assert!(!s.program.phase.settled());
        let effects = s.exit_leaving(4100, Exit::Signal(9), false);
        assert_eq!(notes(&effects), ["stopped (signal 9)"]);
        assert!(effects.contains(&Effect::Unguard { pgid: 100 }));
        assert_eq!(s.state(), "stopped");
        assert!(s.program.phase.settled());
        // A stopped program does not restart by itself.
        assert!(s.tick(100_000, false).is_empty());
    }

    #[test]
    fn an_exit_is_handled_once_its_output_is_in() {
        let mut s = Script::running(rules(Autorestart::Always, 3));
        s.at(
            2000,
            Event::Reaped {
                exit: Exit::Code(1),
            },
        );
        assert!(s.tick(2100, true).is_empty(), "the output is still coming");
        assert_eq!(s.state(), "running");
        assert_eq!(
            s.program.phase.deadline(),
            Some(s.t0 + Duration::from_millis(2200))
        );
        let effects = s.tick(2200, true);
        assert_eq!(
            notes(&effects)[0],
            "exited (exit 1) after 2.0s; restarting in 1s"
        );
    }

    #[test]
    fn an_exit_before_startsecs_is_never_promoted_while_its_output_drains() {
        let mut s = Script::new(rules(Autorestart::Always, 3));
        s.at(0, Event::Start);
        s.spawn(0, 100);
        s.at(
            950,
            Event::Reaped {
                exit: Exit::Code(1),
            },
        );
        assert!(s.tick(1000, true).is_empty());
        assert_eq!(s.state(), "starting");
        let effects = s.tick(1150, true);
        assert_eq!(
            notes(&effects)[0],
            "exited (exit 1) after 0.9s, before startsecs (1s)"
        );
        assert_eq!(s.state(), "backoff");
    }

    #[test]
    fn a_foreground_holder_that_dies_gives_the_program_back() {
        for (ran_before, expected) in [(true, "starting"), (false, "stopped")] {
            let mut s = Script::new(rules(Autorestart::Always, 3));
            if ran_before {
                s.at(0, Event::Start);
                s.spawn(0, 100);
                s.tick(1000, true);
            }
            let seen = Seen {
                group_alive: ran_before,
                holder_alive: true,
            };
            s.at(
                2000,
                Event::Stop {
                    why: StopFor::Foreground { holder: 4242 },
                    seen,
                },
            );
            if ran_before {
                s.exit_leaving(2100, Exit::Signal(15), false);
            }
            assert_eq!(s.state(), "foreground");
            // While the holder runs, nothing happens.
            assert!(s.at(3000, Event::Tick { seen }).is_empty());
            let effects = s.tick(4000, false);
            assert_eq!(
                notes(&effects),
                ["`devrig foreground` (pid 4242) is gone without handing it back: taking it back"]
            );
            if ran_before {
                assert_eq!(effects.last(), Some(&Effect::Spawn));
                s.spawn(4000, 101);
            }
            assert_eq!(s.state(), expected);
        }
    }

    #[test]
    fn a_changed_command_restarts_a_live_program_and_starts_a_stopped_one() {
        let mut s = Script::running(rules(Autorestart::Always, 3));
        let seen = Seen {
            group_alive: true,
            holder_alive: false,
        };
        let unchanged = s.at(
            2000,
            Event::Applied {
                changed: false,
                autostart: true,
                seen,
            },
        );
        assert!(unchanged.is_empty(), "a running program is left alone");
        let effects = s.at(
            2000,
            Event::Applied {
                changed: true,
                autostart: true,
                seen,
            },
        );
        assert_eq!(
            notes(&effects),
            ["its command, environment or directory changed: restarting"]
        );
        assert_eq!(s.state(), "stopping");
        let effects = s.exit_leaving(2100, Exit::Signal(15), false);
        assert_eq!(effects.last(), Some(&Effect::Spawn));
        s.spawn(2100, 101);
        assert_eq!(s.state(), "starting");

        let mut stopped = Script::new(rules(Autorestart::Always, 3));
        let effects = stopped.at(
            0,
            Event::Applied {
                changed: true,
                autostart: false,
                seen: Seen::default(),
            },
        );
        assert!(effects.is_empty(), "autostart off: it stays stopped");
    }

    #[test]
    fn a_stop_of_a_program_whose_group_is_gone_finishes_at_once() {
        let mut s = Script::running(rules(Autorestart::Always, 3));
        // Reaped, output still open: the stop comes before the exit is handled.
        s.at(
            2000,
            Event::Reaped {
                exit: Exit::Code(7),
            },
        );
        let effects = s.stop(2010, StopFor::Stop, false);
        assert_eq!(effects, [Effect::Unguard { pgid: 100 }]);
        assert_eq!(s.state(), "stopped");
        assert_eq!(s.program.last_exit.as_deref(), Some("exit 7"));
    }

    #[test]
    fn a_program_that_cannot_start_is_retried_like_a_fast_failure() {
        let mut s = Script::new(rules(Autorestart::Always, 0));
        s.at(0, Event::Start);
        let effects = s.at(
            0,
            Event::SpawnFailed {
                error: "No such file or directory".to_owned(),
            },
        );
        assert_eq!(
            notes(&effects),
            [
                "cannot start `worker`: No such file or directory",
                "gave up: 1 starts in a row ended within startsecs; `devrig up` tries again"
            ]
        );
        assert_eq!(s.state(), "fatal");
        assert_eq!(
            s.program.last_exit.as_deref(),
            Some("not started: No such file or directory")
        );
    }

    #[test]
    fn start_is_ignored_while_it_runs_or_waits_to_restart() {
        let mut s = Script::new(rules(Autorestart::Always, 3));
        s.at(0, Event::Start);
        s.spawn(0, 100);
        assert!(s.at(10, Event::Start).is_empty());
        s.exit(100, Exit::Code(1));
        assert_eq!(s.state(), "backoff");
        assert!(s.at(200, Event::Start).is_empty());
    }
}
