//! The supervisor: a detached devrig process per repo that runs its
//! programs, restarts them as `autorestart` says (with exponential backoff,
//! `fatal` after repeated fast crashes), copies their output to rotated
//! logs, and answers `status`, `stop`, `start` and `shutdown` on its socket.
//!
//! One thread and one loop own all program state; children, timers,
//! signals and requests arrive there as events. Each program leads its own
//! process group, and the supervisor is a child subreaper, so whatever a
//! program spawns stays within reach until it is gone.

use super::logfile::RotatingLog;
use super::protocol::{ProgramSpec, ProgramState, ProgramStatus, Request, Response};
use super::{group, guardian, paths};
use crate::config::Autorestart;
use crate::sys;
use indexmap::IndexMap;
use rustix::process::{Pid, Signal, WaitOptions, WaitStatus};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};

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
    #[error("cannot start the guardian process: {0}")]
    Guardian(#[source] io::Error),
    #[error("cannot set up the supervisor: {0}")]
    Setup(#[source] io::Error),
}

/// First restart after a crash waits this long; each further crash in a
/// row doubles it, up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run this long counts as healthy: the next crash starts the backoff over.
const STABLE_RUN: Duration = Duration::from_secs(60);
/// How often a stopping group is checked for remaining processes.
const GROUP_POLL: Duration = Duration::from_millis(50);
/// How often a program's `devrig foreground` is checked for still running.
const HOLDER_POLL: Duration = Duration::from_millis(500);
/// How long a new supervisor waits for an exiting one's lock.
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// How long an exit waits for the rest of the program's output.
const OUTPUT_DRAIN: Duration = Duration::from_millis(200);

/// Runs the supervisor for `project` until it is told to shut down (or
/// gets SIGTERM/SIGINT/SIGHUP). Returns at once when another supervisor
/// for the project is already running.
pub fn run(project: &str) -> Result<(), DaemonError> {
    let dir = paths::create_runtime_dir().map_err(|source| DaemonError::Path {
        path: paths::runtime_dir(),
        source,
    })?;
    let lock_path = paths::lock(project);
    let lock = std::fs::File::create(&lock_path).map_err(|source| DaemonError::Path {
        path: lock_path.clone(),
        source,
    })?;
    // Busy: another supervisor runs (then it serves), or one is on its way
    // out after a `down` (then this one takes over once it is gone).
    let waiting = Instant::now();
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                let socket = paths::socket(project);
                if std::os::unix::net::UnixStream::connect(&socket).is_ok()
                    || waiting.elapsed() > LOCK_WAIT
                {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(DaemonError::Path {
                    path: lock_path,
                    source,
                });
            }
        }
    }
    sys::become_child_subreaper().map_err(DaemonError::Setup)?;
    let (guard_read, guard_write) = io::pipe().map_err(DaemonError::Guardian)?;
    let exe = std::env::current_exe().map_err(DaemonError::Guardian)?;
    let mut guardian = Command::new(exe);
    guardian
        .arg("__guard")
        .stdin(Stdio::from(OwnedFd::from(guard_read)))
        .stdout(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut guardian, 0);
    let guardian_pid = guardian.spawn().map_err(DaemonError::Guardian)?.id();
    drop(guardian);

    let socket = dir.join(format!("{project}.sock"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Setup)?;
    let result = runtime.block_on(async {
        // Only one supervisor holds the lock, so a socket file left here
        // belongs to a dead one.
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket).map_err(|source| DaemonError::Listen {
            path: socket.clone(),
            source,
        })?;
        let (output_closed, closed) = mpsc::unbounded_channel();
        let mut supervisor = Supervisor {
            project: project.to_owned(),
            output_closed,
            slots: IndexMap::new(),
            guard: guard_write,
            guardian_pid,
            waiters: Vec::new(),
            shutting_down: false,
        };
        supervisor.serve(listener, &socket, closed).await
    });
    let _ = std::fs::remove_file(&socket);
    drop(lock);
    result
}

struct Slot {
    spec: ProgramSpec,
    state: ProgramState,
    /// The program's leader, until reaped.
    pid: Option<i32>,
    /// The leader's process group, until it has no process left.
    pgid: Option<i32>,
    started: Option<Instant>,
    deadline: Option<Instant>,
    kill_sent: bool,
    after_stop: AfterStop,
    restarts: u32,
    /// Exits in a row before `startsecs` was reached.
    fast_failures: u64,
    /// Crashes in a row without a [`STABLE_RUN`] between them.
    crashes: u32,
    last_exit: Option<String>,
    log: Arc<Mutex<RotatingLog>>,
    /// Counts spawns, so news about an earlier process is recognized.
    generation: u64,
    /// The current process's output pipe has not reached its end yet.
    output_open: bool,
    /// An exit seen before the output ended: its wait status, how long the
    /// process ran, and when to handle it anyway (a background child may
    /// hold the pipe open indefinitely).
    pending_exit: Option<(WaitStatus, Duration, Instant)>,
    /// In state `foreground`: the pid of the `devrig foreground` running it.
    holder: Option<i32>,
    /// Whether it ran before `devrig foreground` took it, so it is started
    /// again if that one dies without handing it back.
    resume: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum AfterStop {
    Stopped,
    /// Run by the `devrig foreground` with this pid.
    Foreground(i32),
    Restart,
}

enum Waiter {
    Stop {
        names: Vec<String>,
        reply: oneshot::Sender<Response>,
    },
    Shutdown {
        reply: Option<oneshot::Sender<Response>>,
    },
}

struct Supervisor {
    project: String,
    /// Told by each output copier when its pipe reached its end.
    output_closed: mpsc::UnboundedSender<(String, u64)>,
    slots: IndexMap<String, Slot>,
    guard: io::PipeWriter,
    guardian_pid: u32,
    waiters: Vec<Waiter>,
    shutting_down: bool,
}

type Incoming = (Request, oneshot::Sender<Response>);

impl Supervisor {
    async fn serve(
        &mut self,
        listener: UnixListener,
        socket: &std::path::Path,
        mut closed: mpsc::UnboundedReceiver<(String, u64)>,
    ) -> Result<(), DaemonError> {
        let setup = DaemonError::Setup;
        // Registered before any child exists, so no exit goes unnoticed.
        let mut children = signal(SignalKind::child()).map_err(setup)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(setup)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(setup)?;
        let mut hangup = signal(SignalKind::hangup()).map_err(setup)?;
        let (requests_tx, mut requests) = mpsc::channel::<Incoming>(16);
        let (answered_tx, mut answered) = mpsc::channel::<()>(1);
        loop {
            let wake = self.next_wake();
            tokio::select! {
                accepted = listener.accept() => {
                    if let Ok((stream, _)) = accepted {
                        tokio::spawn(connection(stream, requests_tx.clone(), answered_tx.clone()));
                    }
                }
                Some((request, reply)) = requests.recv() => self.handle(request, reply),
                _ = children.recv() => self.reap(),
                Some((name, generation)) = closed.recv() => {
                    if let Some(slot) = self.slots.get_mut(&name)
                        && slot.generation == generation
                    {
                        slot.output_open = false;
                    }
                }
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
                    let slot = &self.slots[name];
                    if matches!(
                        slot.state,
                        ProgramState::Stopped
                            | ProgramState::Exited
                            | ProgramState::Fatal
                            | ProgramState::Foreground
                    ) {
                        self.start_fresh(name);
                    }
                }
                let _ = reply.send(self.status());
            }
            Request::Stop { names, foreground } => {
                if let Some(unknown) = self.unknown(&names) {
                    return refused(reply, unknown);
                }
                let target = match foreground.and_then(|pid| i32::try_from(pid).ok()) {
                    Some(pid) => AfterStop::Foreground(pid),
                    None => AfterStop::Stopped,
                };
                for name in &names {
                    let slot = &mut self.slots[name];
                    if matches!(target, AfterStop::Foreground(_)) {
                        slot.resume = slot.state != ProgramState::Stopped;
                    }
                    self.stop(name, target);
                }
                self.waiters.push(Waiter::Stop { names, reply });
            }
            Request::Shutdown => self.shutdown(Some(reply)),
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
            let autostart = spec.autostart;
            match self.slots.get_mut(&name) {
                None => {
                    let path = paths::program_log(&self.project, &name);
                    let log = RotatingLog::open(&path, spec.log_max_bytes, spec.log_backups)
                        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
                    self.slots.insert(
                        name.clone(),
                        Slot {
                            spec,
                            state: ProgramState::Stopped,
                            pid: None,
                            pgid: None,
                            started: None,
                            deadline: None,
                            kill_sent: false,
                            after_stop: AfterStop::Stopped,
                            restarts: 0,
                            fast_failures: 0,
                            crashes: 0,
                            last_exit: None,
                            log: Arc::new(Mutex::new(log)),
                            generation: 0,
                            output_open: false,
                            pending_exit: None,
                            holder: None,
                            resume: false,
                        },
                    );
                    if autostart {
                        self.start_fresh(&name);
                    }
                }
                Some(slot) => {
                    let changed = spec.differs_from(&slot.spec);
                    slot.spec = spec;
                    let live = matches!(
                        slot.state,
                        ProgramState::Starting | ProgramState::Running | ProgramState::Stopping
                    );
                    if changed && live {
                        note(
                            slot,
                            "its command, environment or directory changed: restarting",
                        );
                        self.stop(&name, AfterStop::Restart);
                    } else if autostart
                        && matches!(
                            slot.state,
                            ProgramState::Stopped | ProgramState::Exited | ProgramState::Fatal
                        )
                    {
                        self.start_fresh(&name);
                    }
                }
            }
        }
        Ok(())
    }

    fn status(&self) -> Response {
        let now = Instant::now();
        Response::Programs {
            supervisor_pid: std::process::id(),
            programs: self
                .slots
                .iter()
                .map(|(name, slot)| ProgramStatus {
                    name: name.clone(),
                    state: slot.state,
                    pid: slot.pid,
                    uptime_secs: slot
                        .pid
                        .and(slot.started)
                        .map(|s| now.duration_since(s).as_secs()),
                    restarts: slot.restarts,
                    last_exit: slot.last_exit.clone(),
                    log: paths::program_log(&self.project, name),
                })
                .collect(),
        }
    }

    fn start_fresh(&mut self, name: &str) {
        let slot = &mut self.slots[name];
        slot.holder = None;
        slot.fast_failures = 0;
        slot.crashes = 0;
        self.spawn(name);
    }

    fn spawn(&mut self, name: &str) {
        let slot = &mut self.slots[name];
        // A crashed run's leftovers would hold its ports; they go first.
        if let Some(pgid) = slot.pgid.take() {
            let _ = group::signal(pgid, Signal::KILL);
            let _ = guardian::forgotten(&mut self.guard, pgid);
        }
        // An exit still pending belongs to a run this start replaces.
        slot.pending_exit = None;
        slot.generation += 1;
        let closed = (self.output_closed.clone(), name.to_owned(), slot.generation);
        match start_process(&slot.spec, &slot.log, closed) {
            Ok(pid) => {
                slot.output_open = true;
                note(
                    slot,
                    &format!("started `{}` (pid {pid})", slot.spec.argv.join(" ")),
                );
                slot.pid = Some(pid);
                slot.pgid = Some(pid);
                slot.started = Some(Instant::now());
                slot.state = ProgramState::Starting;
                slot.deadline = Some(Instant::now() + Duration::from_secs(slot.spec.start_secs));
                if let Err(e) = guardian::started(
                    &mut self.guard,
                    pid,
                    slot.spec.stop_signal,
                    Duration::from_millis(slot.spec.stop_grace_ms),
                ) {
                    eprintln!("devrig supervisor: cannot reach the guardian: {e}");
                }
            }
            Err(e) => {
                note(
                    slot,
                    &format!("cannot start `{}`: {e}", slot.spec.argv.join(" ")),
                );
                slot.last_exit = Some(format!("not started: {e}"));
                slot.started = Some(Instant::now());
                slot.state = ProgramState::Starting;
                self.exited_early(name);
            }
        }
    }

    fn reap(&mut self) {
        // Any child: `wait` is waitpid(-1). (rustix's `waitpid(None, …)` is
        // waitpid(0), children in our own group only, and every program
        // leads a group of its own.)
        while let Ok(Some((pid, status))) = rustix::process::wait(WaitOptions::NOHANG) {
            let pid = pid.as_raw_pid();
            if let Some(slot) = self.slots.values_mut().find(|s| s.pid == Some(pid)) {
                // Handled once the output is all in the log (see tick), so
                // the log reads in order: the last words, then the exit.
                slot.pid = None;
                let ran = slot.started.map(|s| s.elapsed()).unwrap_or_default();
                slot.pending_exit = Some((status, ran, Instant::now() + OUTPUT_DRAIN));
                if slot.state == ProgramState::Starting {
                    // It ended before startsecs, however long its output
                    // takes to drain: no promotion to running meanwhile.
                    slot.deadline = None;
                }
            } else if u32::try_from(pid).ok() == Some(self.guardian_pid) {
                eprintln!(
                    "devrig supervisor: the guardian exited; programs are no longer stopped if this supervisor is killed"
                );
            }
            // Anything else is an orphan this subreaper inherited; reaping
            // it is all there is to do.
        }
    }

    fn exited(&mut self, name: &str, status: WaitStatus, ran: Duration) {
        let slot = &mut self.slots[name];
        let (how, clean) = describe(status);
        slot.last_exit = Some(how.clone());
        match slot.state {
            ProgramState::Stopping => {
                note(slot, &format!("stopped ({how})"));
            }
            ProgramState::Starting => {
                note(
                    slot,
                    &format!(
                        "exited ({how}) after {:.1}s, before startsecs ({}s)",
                        ran.as_secs_f32(),
                        slot.spec.start_secs
                    ),
                );
                self.exited_early(name);
            }
            ProgramState::Running => {
                let restart = match slot.spec.autorestart {
                    Autorestart::Always => true,
                    Autorestart::Never => false,
                    Autorestart::Unexpected => !clean,
                };
                if restart {
                    slot.crashes = if ran >= STABLE_RUN {
                        1
                    } else {
                        slot.crashes + 1
                    };
                    let delay = backoff(slot.crashes);
                    note(
                        slot,
                        &format!(
                            "exited ({how}) after {:.1}s; restarting in {}s",
                            ran.as_secs_f32(),
                            delay.as_secs()
                        ),
                    );
                    self.back_off(name, delay);
                } else {
                    note(
                        slot,
                        &format!("exited ({how}); autorestart is off for this exit"),
                    );
                    slot.state = ProgramState::Exited;
                    slot.deadline = None;
                    self.forget_group_if_empty(name);
                }
            }
            _ => {}
        }
    }

    /// A start that ended before `startsecs`: retried with backoff until
    /// `startretries` is used up, then fatal.
    fn exited_early(&mut self, name: &str) {
        let slot = &mut self.slots[name];
        slot.fast_failures += 1;
        if slot.fast_failures > slot.spec.start_retries {
            note(
                slot,
                &format!(
                    "gave up: {} starts in a row ended within startsecs; `devrig up` tries again",
                    slot.fast_failures
                ),
            );
            slot.state = ProgramState::Fatal;
            slot.deadline = None;
            if let Some(pgid) = slot.pgid.take() {
                let _ = group::signal(pgid, Signal::KILL);
                let _ = guardian::forgotten(&mut self.guard, pgid);
            }
            return;
        }
        let delay = backoff(u32::try_from(slot.fast_failures).unwrap_or(u32::MAX));
        note(
            slot,
            &format!(
                "retrying in {}s (attempt {} of {})",
                delay.as_secs(),
                slot.fast_failures + 1,
                slot.spec.start_retries + 1
            ),
        );
        self.back_off(name, delay);
    }

    fn back_off(&mut self, name: &str, delay: Duration) {
        let slot = &mut self.slots[name];
        slot.state = ProgramState::Backoff;
        slot.deadline = Some(Instant::now() + delay);
        if let Some(pgid) = slot.pgid.take() {
            let _ = group::signal(pgid, Signal::KILL);
            let _ = guardian::forgotten(&mut self.guard, pgid);
        }
    }

    fn forget_group_if_empty(&mut self, name: &str) {
        let slot = &mut self.slots[name];
        if let Some(pgid) = slot.pgid
            && !group::alive(pgid)
        {
            slot.pgid = None;
            let _ = guardian::forgotten(&mut self.guard, pgid);
        }
    }

    fn stop(&mut self, name: &str, target: AfterStop) {
        self.forget_group_if_empty(name);
        let slot = &mut self.slots[name];
        slot.after_stop = target;
        if slot.state == ProgramState::Stopping {
            return;
        }
        match slot.pgid {
            Some(pgid) => {
                let signal = group::from_number(slot.spec.stop_signal);
                match signal.and_then(|signal| group::signal(pgid, signal)) {
                    Ok(true) => {
                        slot.state = ProgramState::Stopping;
                        slot.kill_sent = false;
                        slot.deadline =
                            Some(Instant::now() + Duration::from_millis(slot.spec.stop_grace_ms));
                    }
                    Ok(false) => self.finish_stop(name),
                    Err(e) => {
                        note(slot, &format!("cannot signal process group {pgid}: {e}"));
                        self.finish_stop(name);
                    }
                }
            }
            None => self.finish_stop(name),
        }
    }

    fn finish_stop(&mut self, name: &str) {
        let slot = &mut self.slots[name];
        if let Some(pgid) = slot.pgid.take() {
            let _ = guardian::forgotten(&mut self.guard, pgid);
        }
        slot.deadline = None;
        slot.kill_sent = false;
        match slot.after_stop {
            AfterStop::Stopped => slot.state = ProgramState::Stopped,
            AfterStop::Foreground(holder) => {
                note(
                    slot,
                    &format!("handed to `devrig foreground` (pid {holder})"),
                );
                slot.state = ProgramState::Foreground;
                slot.holder = Some(holder);
            }
            AfterStop::Restart => {
                slot.after_stop = AfterStop::Stopped;
                self.start_fresh(name);
            }
        }
    }

    /// Timers: promotions to running, restarts after backoff, SIGKILL after
    /// a grace period, and stopping groups that have emptied.
    fn tick(&mut self) {
        let now = Instant::now();
        let names: Vec<String> = self.slots.keys().cloned().collect();
        for name in names {
            let slot = &mut self.slots[&name];
            if let Some((status, ran, by)) = slot.pending_exit
                && (!slot.output_open || by <= now)
            {
                slot.pending_exit = None;
                self.exited(&name, status, ran);
            }
            let slot = &mut self.slots[&name];
            let due = slot.deadline.is_some_and(|d| d <= now);
            match slot.state {
                ProgramState::Starting if due => {
                    slot.state = ProgramState::Running;
                    slot.deadline = None;
                    slot.fast_failures = 0;
                }
                ProgramState::Backoff if due => {
                    slot.restarts += 1;
                    self.spawn(&name);
                }
                ProgramState::Foreground => {
                    if let Some(holder) = slot.holder
                        && !sys::running(holder)
                    {
                        note(
                            slot,
                            &format!(
                                "`devrig foreground` (pid {holder}) is gone without handing it back: taking it back"
                            ),
                        );
                        slot.holder = None;
                        if slot.resume {
                            self.start_fresh(&name);
                        } else {
                            slot.state = ProgramState::Stopped;
                        }
                    }
                }
                ProgramState::Stopping => {
                    let Some(pgid) = slot.pgid else {
                        self.finish_stop(&name);
                        continue;
                    };
                    if due && !slot.kill_sent {
                        note(
                            slot,
                            &format!(
                                "still running {}ms after the stop signal: sending SIGKILL to its process group",
                                slot.spec.stop_grace_ms
                            ),
                        );
                        let _ = group::signal(pgid, Signal::KILL);
                        slot.kill_sent = true;
                    }
                    if slot.pid.is_none() && slot.pending_exit.is_none() && !group::alive(pgid) {
                        self.finish_stop(&name);
                    }
                }
                _ => {}
            }
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let stopping = self
            .slots
            .values()
            .any(|s| s.state == ProgramState::Stopping);
        let held = self
            .slots
            .values()
            .any(|s| s.state == ProgramState::Foreground && s.holder.is_some());
        let poll = stopping
            .then(|| Instant::now() + GROUP_POLL)
            .or_else(|| held.then(|| Instant::now() + HOLDER_POLL));
        self.slots
            .values()
            .filter_map(|s| s.deadline)
            .chain(
                self.slots
                    .values()
                    .filter_map(|s| s.pending_exit.map(|p| p.2)),
            )
            .chain(poll)
            .min()
    }

    fn shutdown(&mut self, reply: Option<oneshot::Sender<Response>>) {
        self.shutting_down = true;
        let names: Vec<String> = self.slots.keys().cloned().collect();
        for name in &names {
            self.stop(name, AfterStop::Stopped);
        }
        self.waiters.push(Waiter::Shutdown { reply });
    }

    fn settled(&self, name: &str) -> bool {
        self.slots.get(name).is_none_or(|s| {
            s.state != ProgramState::Stopping && s.pid.is_none() && s.pending_exit.is_none()
        })
    }

    /// Answers the waiters whose programs are all stopped. True when the
    /// supervisor should exit.
    fn settle_waiters(&mut self) -> bool {
        let mut exit = false;
        let waiters = std::mem::take(&mut self.waiters);
        for waiter in waiters {
            match waiter {
                Waiter::Stop { names, reply } if names.iter().all(|n| self.settled(n)) => {
                    let _ = reply.send(self.status());
                }
                Waiter::Shutdown { reply } if self.slots.keys().all(|n| self.settled(n)) => {
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
    /// to this subreaper; they go with the supervisor, not after it.
    fn sweep_leftovers(&mut self) {
        for pid in sys::children_of(rustix::process::getpid().as_raw_pid()) {
            if u32::try_from(pid).ok() != Some(self.guardian_pid)
                && let Some(pid) = Pid::from_raw(pid)
            {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
        }
        self.reap();
    }
}

fn note(slot: &Slot, text: &str) {
    let mut log = slot.log.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = log.note(text) {
        eprintln!(
            "devrig supervisor: cannot write to the log of {}: {e}",
            slot.spec.name
        );
    }
}

/// The wait before restart number `attempt` (1-based) of a crash series.
pub fn backoff(attempt: u32) -> Duration {
    BASE_BACKOFF
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

/// `exit 1`, `signal 9`; and whether it was a clean exit (status 0).
fn describe(status: WaitStatus) -> (String, bool) {
    if let Some(code) = status.exit_status() {
        (format!("exit {code}"), code == 0)
    } else if let Some(signal) = status.terminating_signal() {
        (format!("signal {signal}"), false)
    } else {
        (format!("status {}", status.as_raw()), false)
    }
}

/// Variables that keep colors on when output goes to a log instead of a
/// terminal, and Python's output unbuffered so logs are current. A
/// developer's own value (or `NO_COLOR`) wins.
const OUTPUT_DEFAULTS: &[(&str, &str)] = &[
    ("FORCE_COLOR", "1"),
    ("CLICOLOR_FORCE", "1"),
    ("PYTHONUNBUFFERED", "1"),
];

fn environment(spec: &ProgramSpec) -> Vec<(String, String)> {
    let mut env: IndexMap<String, String> = spec.inherited.iter().cloned().collect();
    for (k, v) in &spec.environment {
        env.insert(k.clone(), v.clone());
    }
    let no_color = env.contains_key("NO_COLOR");
    for (k, v) in OUTPUT_DEFAULTS {
        if no_color && *k != "PYTHONUNBUFFERED" {
            continue;
        }
        env.entry((*k).to_owned())
            .or_insert_with(|| (*v).to_owned());
    }
    env.into_iter().collect()
}

/// Starts the program as the leader of a new process group, its output
/// copied to `log`. The spawn happens on the loop's only thread, so no
/// other thread's `waitpid` can race std's own on a failed exec.
fn start_process(
    spec: &ProgramSpec,
    log: &Arc<Mutex<RotatingLog>>,
    closed: Closed,
) -> io::Result<i32> {
    let (exe, args) = spec
        .argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    let (reader, writer) = io::pipe()?;
    let mut command = Command::new(exe);
    command
        .args(args)
        .env_clear()
        .envs(environment(spec))
        .current_dir(&spec.directory)
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let stop_signal = group::from_number(spec.stop_signal)?;
    let supervisor = rustix::process::getpid();
    // The parent-death signal must be asked for by the child itself, after
    // fork and before exec; std has no safe hook there, and `pre_exec` is
    // unsafe by nature.
    // SAFETY: the closure makes only async-signal-safe calls (prctl and
    // getppid through rustix: raw syscalls on Linux; elsewhere getppid
    // alone, libc's wrapper), allocates nothing (an `Errno` becomes an
    // `io::Error` in place) and only reads two `Copy` values moved into it.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            // Last line of defence, should the guardian die with the
            // supervisor (`pkill -9 devrig`): the kernel itself sends the
            // leader its stop signal (Linux only; see `sys`). (The
            // guardian, when alive, stops the whole group, with a grace
            // period.) Only this one thread ever spawns, so the signal
            // comes when the process dies.
            sys::set_parent_death_signal(stop_signal)?;
            if rustix::process::getppid() != Some(supervisor) {
                // The supervisor died before the line above took effect.
                // Only an errno crosses from here to the parent (which is
                // gone anyway), and an errno needs no allocation.
                return Err(rustix::io::Errno::SRCH.into());
            }
            Ok(())
        });
    }
    let child = command.spawn()?;
    // The command holds the pipe's write ends; only the program may keep
    // them, or the copy below would never see the end of its output.
    drop(command);
    copy_output(reader, Arc::clone(log), closed)?;
    i32::try_from(child.id()).map_err(|_| io::Error::other("pid out of range"))
}

/// Where to say that a program's output ended: the channel, the program,
/// its generation.
type Closed = (mpsc::UnboundedSender<(String, u64)>, String, u64);

fn copy_output(
    reader: io::PipeReader,
    log: Arc<Mutex<RotatingLog>>,
    (closed, name, generation): Closed,
) -> io::Result<()> {
    let mut receiver = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))?;
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match receiver.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                    if let Err(e) = log.write(&buf[..n]) {
                        eprintln!("devrig supervisor: cannot write a program's log: {e}");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = closed.send((name, generation));
    });
    Ok(())
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// One request on one connection: read a line, hand it to the loop, write
/// the answer back.
async fn connection(
    stream: UnixStream,
    requests: mpsc::Sender<Incoming>,
    answered: mpsc::Sender<()>,
) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    if BufReader::new(read).read_line(&mut line).await.is_err() {
        return;
    }
    let (response, shutdown) = match serde_json::from_str::<Request>(&line) {
        Ok(request) => {
            let shutdown = matches!(request, Request::Shutdown);
            let (tx, rx) = oneshot::channel();
            if requests.send((request, tx)).await.is_err() {
                return;
            }
            match rx.await {
                Ok(response) => (response, shutdown),
                Err(_) => return,
            }
        }
        Err(e) => (
            Response::Error {
                message: format!("not a request: {e}"),
            },
            false,
        ),
    };
    let mut text = serde_json::to_vec(&response).expect("responses serialize");
    text.push(b'\n');
    let _ = write.write_all(&text).await;
    let _ = write.flush().await;
    if shutdown {
        let _ = answered.send(()).await;
    }
}

/// Logs to stderr, which the spawner points at the supervisor's log file.
pub fn report(error: &DaemonError) {
    let _ = writeln!(io::stderr(), "devrig supervisor: {error}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let secs: Vec<u64> = (1..=7).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    fn spec(environment: &[(&str, &str)], inherited: &[(&str, &str)]) -> ProgramSpec {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        ProgramSpec {
            name: "worker".into(),
            argv: vec!["true".into()],
            environment: pairs(environment),
            inherited: pairs(inherited),
            directory: "/".into(),
            autostart: true,
            autorestart: Autorestart::Always,
            stop_signal: Signal::TERM.as_raw(),
            stop_grace_ms: 1000,
            start_secs: 1,
            start_retries: 3,
            log_max_bytes: 0,
            log_backups: 0,
        }
    }

    #[test]
    fn colors_are_forced_unless_the_developer_says_otherwise() {
        let env =
            |s: &ProgramSpec| -> IndexMap<String, String> { environment(s).into_iter().collect() };
        let plain = env(&spec(&[("A", "1")], &[("PATH", "/bin"), ("A", "0")]));
        assert_eq!(plain["A"], "1", "the program's own value wins");
        assert_eq!(plain["PATH"], "/bin");
        assert_eq!(plain["FORCE_COLOR"], "1");
        assert_eq!(plain["CLICOLOR_FORCE"], "1");
        assert_eq!(plain["PYTHONUNBUFFERED"], "1");
        let mono = env(&spec(&[], &[("NO_COLOR", "1")]));
        assert!(!mono.contains_key("FORCE_COLOR") && !mono.contains_key("CLICOLOR_FORCE"));
        assert_eq!(mono["PYTHONUNBUFFERED"], "1");
        let own = env(&spec(&[("FORCE_COLOR", "0")], &[]));
        assert_eq!(own["FORCE_COLOR"], "0");
    }

    #[test]
    fn a_new_shell_alone_does_not_restart_a_program() {
        let a = spec(&[("A", "1")], &[("SHLVL", "1")]);
        let b = spec(&[("A", "1")], &[("SHLVL", "2")]);
        assert!(!a.differs_from(&b));
        assert!(a.differs_from(&spec(&[("A", "2")], &[("SHLVL", "1")])));
    }
}
