//! The supervisor: a detached devrig process per repo that runs its
//! programs, restarts them as `autorestart` says (with exponential backoff,
//! `fatal` after repeated fast crashes), copies their output to rotated
//! logs, and answers `status`, `stop`, `start` and `shutdown` on its socket.
//! For a repo whose engine is on another machine it also keeps the port
//! forwards to it ([`crate::supervisor::forwards`], a task of its own).
//!
//! One thread and one loop own all program state; children, timers,
//! signals and requests arrive there as events, which each program's state
//! machine ([`crate::supervisor::machine`]) turns into effects the loop
//! carries out. Each program leads its own process group and, where the
//! host allows, runs in a cgroup of its own ([`tracking`]); the supervisor
//! is a child subreaper, so whatever a program spawns stays within reach
//! until it is gone. Nothing on the loop's thread writes to a file or pipe
//! that could block it: that is the writer thread's job.
//!
//! Pieces: [`boot`] (one supervisor per repo, the guardian, the socket),
//! [`slot`] (a program and the carrying out of its machine's effects),
//! [`spawn`] (starting a program's process), [`tracking`] (cgroups or
//! process groups), [`connections`] (the socket's requests), [`writer`]
//! (logs, which may fail without stopping anything, and the guardian's
//! pipe).

mod boot;
mod connections;
mod slot;
mod spawn;
mod tracking;
mod writer;

pub use boot::run;

use super::forwards::Forwards;
use super::group;
use super::guardian::Line;
use super::machine::{Event, Phase, StopFor};
use super::paths;
use super::protocol::{ProgramSpec, ProgramStatus, Request, Response};
use super::say::say;
use crate::sys;
use indexmap::IndexMap;
use rustix::process::{Pid, Signal, WaitOptions};
use slot::{Hands, Slot};
use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracking::Tracking;
use writer::{LogHealth, Writer};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot prepare {}: {source}", path.display())]
    Path {
        path: std::path::PathBuf,
        source: io::Error,
    },
    #[error("cannot listen on {}: {source}", path.display())]
    Listen {
        path: std::path::PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Untrusted(#[from] crate::supervisor::paths::TrustError),
    #[error("cannot start the guardian process: {0}")]
    Guardian(#[source] io::Error),
    #[error("cannot set up the supervisor: {0}")]
    Setup(#[source] io::Error),
}

/// How often a stopping group is checked for remaining processes.
const GROUP_POLL: Duration = Duration::from_millis(50);
/// How often a program's `devrig foreground` is checked for still running.
const HOLDER_POLL: Duration = Duration::from_millis(500);
/// How long an exiting supervisor goes on killing the leftovers that come
/// to it.
const SWEEP: Duration = Duration::from_secs(2);
/// Without cgroups, how often the processes that came to this subreaper
/// are looked for, to have the guardian stop them too.
const ORPHAN_POLL: Duration = Duration::from_millis(200);
/// The grace period the guardian gives such a process between SIGTERM and
/// SIGKILL.
const ORPHAN_GRACE: Duration = Duration::from_secs(2);

enum Waiter {
    Stop {
        names: Vec<String>,
        reply: oneshot::Sender<Response>,
    },
    Shutdown {
        reply: Option<oneshot::Sender<Response>>,
    },
    /// A `Forward` request, answered once the forwards' task has tried
    /// each one.
    Forward {
        done: oneshot::Receiver<()>,
        reply: oneshot::Sender<Response>,
    },
}

/// A request from a connection, and where its answer goes.
type Incoming = (Request, oneshot::Sender<Response>);

struct Supervisor {
    project: String,
    slots: IndexMap<String, Slot>,
    tracking: Tracking,
    writer: Writer,
    /// Which logs fail now (kept by the writer thread).
    health: LogHealth,
    output_closed: mpsc::UnboundedSender<(String, u64)>,
    closed: Option<mpsc::UnboundedReceiver<(String, u64)>>,
    guardian_pid: u32,
    /// Without cgroups: the processes that came to this subreaper, each
    /// with the process group the guardian was told to stop for it (none
    /// when it stayed in a group the guardian stops anyway).
    orphans: HashMap<i32, Option<i32>>,
    waiters: Vec<Waiter>,
    shutting_down: bool,
    forwards: Forwards,
    /// Hears when the forwards' task has done a request.
    forwards_changed: Option<mpsc::UnboundedReceiver<()>>,
    /// Fires once a shutdown has removed every forward.
    forwards_closing: Option<oneshot::Receiver<()>>,
}

impl Supervisor {
    fn new(
        project: &str,
        tracking: Tracking,
        (writer, health): (Writer, LogHealth),
        guardian_pid: u32,
    ) -> Supervisor {
        let (output_closed, closed) = mpsc::unbounded_channel();
        let (changed, forwards_changed) = mpsc::unbounded_channel();
        Supervisor {
            project: project.to_owned(),
            slots: IndexMap::new(),
            tracking,
            writer,
            health,
            output_closed,
            closed: Some(closed),
            guardian_pid,
            orphans: HashMap::new(),
            waiters: Vec::new(),
            shutting_down: false,
            forwards: Forwards::start(changed),
            forwards_changed: Some(forwards_changed),
            forwards_closing: None,
        }
    }

    async fn serve(
        &mut self,
        listener: UnixListener,
        socket: &std::path::Path,
    ) -> Result<(), DaemonError> {
        let setup = DaemonError::Setup;
        // Registered before any child exists, so no exit goes unnoticed.
        let mut children = signal(SignalKind::child()).map_err(setup)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(setup)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(setup)?;
        let mut hangup = signal(SignalKind::hangup()).map_err(setup)?;
        let (requests_tx, mut requests) = mpsc::channel::<Incoming>(16);
        let (answered_tx, mut answered) = mpsc::channel::<()>(1);
        let mut closed = self.closed.take().expect("served once");
        let mut forwards_changed = self.forwards_changed.take().expect("served once");
        loop {
            let wake = self.next_wake();
            tokio::select! {
                accepted = listener.accept() => {
                    if let Ok((stream, _)) = accepted {
                        tokio::spawn(connections::connection(
                            stream,
                            requests_tx.clone(),
                            answered_tx.clone(),
                        ));
                    }
                }
                Some((request, reply)) = requests.recv() => self.handle(request, reply),
                _ = children.recv() => self.reap(),
                Some((name, generation)) = closed.recv() => self.output_ended(&name, generation),
                Some(()) = forwards_changed.recv() => {}
                _ = terminate.recv() => self.shutdown(None),
                _ = interrupt.recv() => self.shutdown(None),
                _ = hangup.recv() => self.shutdown(None),
                _ = sleep_until(wake) => {}
            }
            self.tick();
            if self.settle_waiters() {
                // From here on a client finds no supervisor rather than one
                // that accepts and never answers.
                drop(listener);
                let _ = std::fs::remove_file(socket);
                // Give the shutdown answer a moment to reach its client.
                let _ = tokio::time::timeout(Duration::from_secs(1), answered.recv()).await;
                self.sweep_leftovers();
                return Ok(());
            }
        }
    }

    /// Feeds `event` to program `name`'s machine.
    fn feed(&mut self, name: &str, event: Event) {
        let hands = Hands {
            writer: &self.writer,
            output_closed: &self.output_closed,
        };
        if let Some(slot) = self.slots.get_mut(name) {
            slot.feed(event, &hands);
        }
    }

    fn handle(&mut self, request: Request, reply: oneshot::Sender<Response>) {
        let refused = |reply: oneshot::Sender<Response>, message: String| {
            let _ = reply.send(Response::Error { message });
        };
        if self.shutting_down && !matches!(request, Request::Status | Request::Shutdown) {
            return refused(reply, "the supervisor is shutting down".to_owned());
        }
        match request {
            Request::Status => {
                let _ = reply.send(self.status());
            }
            Request::Apply { programs } => match self.apply(programs) {
                Ok(()) => {
                    let _ = reply.send(self.status());
                }
                Err(message) => refused(reply, message),
            },
            Request::Start { names } => {
                if let Some(unknown) = self.unknown(&names) {
                    return refused(reply, unknown);
                }
                for name in &names {
                    self.feed(name, Event::Start);
                }
                let _ = reply.send(self.status());
            }
            Request::Stop { names, foreground } => {
                if let Some(unknown) = self.unknown(&names) {
                    return refused(reply, unknown);
                }
                let why = match foreground.and_then(|pid| i32::try_from(pid).ok()) {
                    Some(holder) => StopFor::Foreground { holder },
                    None => StopFor::Stop,
                };
                for name in &names {
                    self.stop(name, why);
                }
                self.waiters.push(Waiter::Stop { names, reply });
            }
            Request::Shutdown => self.shutdown(Some(reply)),
            Request::Forward {
                target,
                env,
                forwards,
            } => {
                let done = self.forwards.set(target, env, forwards);
                self.waiters.push(Waiter::Forward { done, reply });
            }
        }
    }

    fn unknown(&self, names: &[String]) -> Option<String> {
        let missing: Vec<&str> = names
            .iter()
            .filter(|n| !self.slots.contains_key(*n))
            .map(String::as_str)
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "not supervised here: {} (supervised: {})",
                missing.join(", "),
                self.slots.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }

    fn apply(&mut self, programs: Vec<ProgramSpec>) -> Result<(), String> {
        for spec in programs {
            let name = spec.name.clone();
            // Also checked by the config; this socket is the only other way in.
            if !crate::config::is_valid_name(&name) {
                return Err(format!("`{name}` is not a valid program name"));
            }
            let autostart = spec.autostart;
            match self.slots.get_mut(&name) {
                None => {
                    // A log that cannot be opened (a full disk) is the
                    // writer's to retry: the program runs regardless.
                    let path = paths::program_log(&self.project, &name);
                    self.writer
                        .open(&name, path, spec.log_max_bytes, spec.log_backups);
                    let cgroup = self.tracking.program_cgroup(&name).unwrap_or_else(|e| {
                        say(&format!(
                            "{name} is tracked by its process group only: cannot make its cgroup: {e}"
                        ));
                        None
                    });
                    self.slots.insert(name.clone(), Slot::new(spec, cgroup));
                    if autostart {
                        self.feed(&name, Event::Start);
                    }
                }
                Some(slot) => {
                    let changed = spec.differs_from(&slot.spec);
                    slot.program.rules = slot::rules(&spec);
                    slot.spec = spec;
                    let seen = slot.seen();
                    self.feed(
                        &name,
                        Event::Applied {
                            changed,
                            autostart,
                            seen,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    fn stop(&mut self, name: &str, why: StopFor) {
        let Some(seen) = self.slots.get(name).map(Slot::seen) else {
            return;
        };
        self.feed(name, Event::Stop { why, seen });
    }

    fn status(&self) -> Response {
        let now = Instant::now();
        let wall = std::time::SystemTime::now();
        Response::Programs {
            supervisor_pid: std::process::id(),
            programs: self
                .slots
                .iter()
                .map(|(name, slot)| {
                    let program = &slot.program;
                    let leader = program.phase.run().filter(|run| run.leader);
                    let uptime = leader.map(|run| now.saturating_duration_since(run.started));
                    ProgramStatus {
                        name: name.clone(),
                        state: program.phase.state(),
                        pid: leader.map(|run| run.pgid),
                        uptime_secs: uptime.map(|u| u.as_secs()),
                        started_at: uptime.map(|u| started_at(wall, u)),
                        restarts: program.restarts,
                        last_exit: program.last_exit.clone(),
                        log: paths::program_log(&self.project, name),
                        log_error: self.health.of(name),
                    }
                })
                .collect(),
            remote: self.forwards.view(),
        }
    }

    /// One child that has ended, reaped: any child (`wait` is
    /// waitpid(-1); rustix's `waitpid(None, …)` is waitpid(0), children in
    /// our own group only, and every program leads a group of its own),
    /// except the ssh runs of the forwards' task, whose own waits need
    /// their exit status. While there are any, the children are looked at
    /// one by one.
    fn reap_one() -> Option<(i32, rustix::process::WaitStatus)> {
        if !crate::engine::ssh::awaiting_any() {
            return rustix::process::wait(WaitOptions::NOHANG)
                .ok()
                .flatten()
                .map(|(pid, status)| (pid.as_raw_pid(), status));
        }
        sys::children_of(rustix::process::getpid().as_raw_pid())
            .into_iter()
            .filter(|pid| !crate::engine::ssh::awaited(*pid))
            .find_map(|pid| {
                let (_, status) =
                    rustix::process::waitpid(Pid::from_raw(pid), WaitOptions::NOHANG).ok()??;
                Some((pid, status))
            })
    }

    fn reap(&mut self) {
        while let Some((pid, status)) = Self::reap_one() {
            let owner = self
                .slots
                .iter()
                .find(|(_, slot)| slot.leads(pid))
                .map(|(name, _)| name.clone());
            match owner {
                // Handled once the output is all in the log (see the
                // machine), so the log reads in order: the last words,
                // then the exit.
                Some(name) => self.feed(
                    &name,
                    Event::Reaped {
                        exit: slot::exit_of(status),
                    },
                ),
                None if u32::try_from(pid).ok() == Some(self.guardian_pid) => {
                    say(
                        "the guardian exited; programs are no longer stopped if this supervisor is killed",
                    );
                }
                // An orphan this subreaper inherited: the guardian need
                // not stop its group once nothing of it is left here.
                None => {
                    if let Some(Some(pgid)) = self.orphans.remove(&pid)
                        && !self.orphans.values().any(|g| *g == Some(pgid))
                    {
                        self.writer.guardian(Line::Forget { pgid });
                    }
                }
            }
        }
    }

    fn output_ended(&mut self, name: &str, generation: u64) {
        if self
            .slots
            .get(name)
            .is_some_and(|s| s.generation == generation)
        {
            self.feed(name, Event::OutputClosed);
        }
    }

    /// Timers and what is observed: promotions to running, restarts after
    /// backoff, SIGKILL after a grace period, stopping groups that have
    /// emptied, foreground holders that are gone.
    fn tick(&mut self) {
        let names: Vec<String> = self.slots.keys().cloned().collect();
        for name in names {
            let seen = self.slots[&name].seen();
            self.feed(&name, Event::Tick { seen });
        }
        if matches!(self.tracking, Tracking::Groups(_)) {
            self.guard_orphans();
        }
    }

    /// Without cgroups, a daemon that left its program's process group
    /// (`setsid`) is out of the guardian's reach, until its parent exits
    /// and it comes to this subreaper: then its new process group is told
    /// to the guardian, SIGTERM and SIGKILL after [`ORPHAN_GRACE`], should
    /// this supervisor die. (What has not come here yet, the guardian
    /// misses: the window cgroups close.)
    fn guard_orphans(&mut self) {
        let me = rustix::process::getpid();
        let own_group = rustix::process::getpgrp().as_raw_pid();
        let masters = self.forwards.masters();
        let groups: Vec<i32> = self
            .slots
            .values()
            .filter_map(|s| s.program.phase.run().map(|run| run.pgid))
            .collect();
        for pid in sys::children_of(me.as_raw_pid()) {
            if self.orphans.contains_key(&pid)
                || u32::try_from(pid).ok() == Some(self.guardian_pid)
                || masters.contains(&pid)
                || crate::engine::ssh::awaited(pid)
                || self.slots.values().any(|s| s.leads(pid))
            {
                continue;
            }
            let Some(pgid) = Pid::from_raw(pid)
                .and_then(|p| rustix::process::getpgid(Some(p)).ok())
                .map(Pid::as_raw_pid)
            else {
                continue;
            };
            // Still in its program's group (or in this supervisor's): the
            // guardian stops that group anyway, with the program's grace.
            if groups.contains(&pgid) || pgid == own_group {
                self.orphans.insert(pid, None);
                continue;
            }
            let known = self.orphans.values().any(|g| *g == Some(pgid));
            self.orphans.insert(pid, Some(pgid));
            if !known {
                say(&format!(
                    "process {pid} left its program's process group and came to this supervisor: its group {pgid} is stopped with the programs"
                ));
                self.writer.guardian(Line::Guard {
                    pgid,
                    signal: Signal::TERM.as_raw(),
                    grace: ORPHAN_GRACE,
                    cgroup: None,
                });
            }
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let phases = || self.slots.values().map(|s| &s.program.phase);
        let stopping = phases().any(|p| matches!(p, Phase::Stopping { .. }));
        let held = phases().any(|p| matches!(p, Phase::Foreground { .. }));
        let running = phases().any(|p| p.run().is_some());
        let orphans = matches!(self.tracking, Tracking::Groups(_)) && running;
        let poll = stopping
            .then(|| Instant::now() + GROUP_POLL)
            .or_else(|| orphans.then(|| Instant::now() + ORPHAN_POLL))
            .or_else(|| held.then(|| Instant::now() + HOLDER_POLL));
        phases().filter_map(Phase::deadline).chain(poll).min()
    }

    fn shutdown(&mut self, reply: Option<oneshot::Sender<Response>>) {
        self.shutting_down = true;
        if self.forwards_closing.is_none() {
            self.forwards_closing = Some(self.forwards.close());
        }
        let names: Vec<String> = self.slots.keys().cloned().collect();
        for name in &names {
            self.stop(name, StopFor::Stop);
        }
        self.waiters.push(Waiter::Shutdown { reply });
    }

    fn settled(&self, name: &str) -> bool {
        self.slots
            .get(name)
            .is_none_or(|s| s.program.phase.settled())
    }

    /// Answers the waiters whose programs are all stopped. True when the
    /// supervisor should exit.
    fn settle_waiters(&mut self) -> bool {
        let mut exit = false;
        // Every forward is gone before a shutdown is answered: `down`
        // returns with nothing listening.
        let forwards_closed = self.forwards_closing.as_mut().is_some_and(|done| {
            !matches!(done.try_recv(), Err(oneshot::error::TryRecvError::Empty))
        });
        let waiters = std::mem::take(&mut self.waiters);
        for waiter in waiters {
            match waiter {
                Waiter::Stop { names, reply } if names.iter().all(|n| self.settled(n)) => {
                    let _ = reply.send(self.status());
                }
                Waiter::Forward { mut done, reply } => {
                    if matches!(done.try_recv(), Err(oneshot::error::TryRecvError::Empty)) {
                        self.waiters.push(Waiter::Forward { done, reply });
                    } else {
                        let _ = reply.send(self.status());
                    }
                }
                Waiter::Shutdown { reply }
                    if forwards_closed && self.slots.keys().all(|n| self.settled(n)) =>
                {
                    if let Some(reply) = reply {
                        let _ = reply.send(self.status());
                    }
                    exit = true;
                }
                waiter => self.waiters.push(waiter),
            }
        }
        exit
    }

    /// Processes that left their program's group and lost their parent came
    /// to this subreaper; they go with the supervisor, not after it. Each
    /// round kills what came (and its process group), and what it leaves
    /// comes next: a daemon's watchdog first, then the daemon itself.
    /// The SSH master of a remote engine is spared: when this supervisor
    /// made it, it came here as an orphan too, but other devrig processes
    /// share it. Then the programs' cgroups are removed.
    fn sweep_leftovers(&mut self) {
        let masters = self.forwards.masters();
        let me = rustix::process::getpid();
        let began = Instant::now();
        loop {
            let leftovers: Vec<Pid> = sys::children_of(me.as_raw_pid())
                .into_iter()
                .filter(|pid| {
                    u32::try_from(*pid).ok() != Some(self.guardian_pid) && !masters.contains(pid)
                })
                .filter_map(Pid::from_raw)
                .collect();
            if leftovers.is_empty() || began.elapsed() > SWEEP {
                break;
            }
            for pid in leftovers {
                if let Ok(pgid) = rustix::process::getpgid(Some(pid))
                    && pgid != me
                    && pgid != rustix::process::getpgrp()
                {
                    let _ = group::signal(pgid.as_raw_pid(), Signal::KILL);
                }
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
            self.reap();
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Tracking::Cgroups(base) = &self.tracking
            && let Err(e) = base.remove_tree()
        {
            say(&format!(
                "cannot remove cgroup {}: {e}",
                base.dir().display()
            ));
        }
    }
}

/// The wall-clock start of a process that has run for `uptime` at `now`.
fn started_at(now: std::time::SystemTime, uptime: Duration) -> String {
    let start = now.checked_sub(uptime).unwrap_or(now);
    jiff::Timestamp::try_from(start)
        .map(|t| t.round(jiff::Unit::Second).unwrap_or(t).to_string())
        .unwrap_or_default()
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Logs to stderr, which the spawner points at the supervisor's log file.
pub fn report(error: &DaemonError) {
    say(&error.to_string());
}
