//! A supervisor's port forwards to its repo's remote engine: the ports the
//! containers publish there, reachable on this machine, and the ports the
//! repo's programs listen on here, reachable by the containers there.
//!
//! They live on the engine's shared SSH master ([`crate::engine::ssh`]),
//! added and removed with `ssh -O forward`/`-O cancel`; the supervisor owns
//! the set, so forwards outlive the `up` that asked for them and end with
//! `down`. The master is no child of the supervisor's, so a "keeper"
//! session on it stands in for one: when the master goes (the link
//! dropped, someone killed it) the keeper ends, and the connection is made
//! again with backoff (at once, then 1 s, 2 s, 4 s… up to 30 s) and every
//! forward added back. Each step goes to the supervisor's log.
//!
//! All of it runs in a task of its own on the supervisor's runtime, so a
//! slow or unreachable host never holds up the programs' loop; the loop
//! hands it requests and reads what it publishes ([`Forwards::view`]).

use super::machine::backoff;
use super::protocol::{ConnectionState, ForwardSpec, ForwardState, ForwardStatus, RemoteStatus};
use crate::engine::endpoint::SshTarget;
use crate::engine::ssh::{self, Direction, Forward, Keeper, Remote};
use std::collections::BTreeSet;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How often the forwards are looked at: a local forward whose port is
/// free again was removed behind the supervisor's back (another repo's
/// `down` cancelling a forward both had asked for) and is added again.
const CHECK: Duration = Duration::from_secs(2);
/// A forward that failed (its port taken) is tried again after this long.
const RETRY_FAILED: Duration = Duration::from_secs(10);

enum Command {
    Set {
        target: SshTarget,
        env: Vec<(String, String)>,
        forwards: Vec<ForwardSpec>,
        done: oneshot::Sender<()>,
    },
    Close {
        done: oneshot::Sender<()>,
    },
}

/// The supervisor loop's side of the forwards.
pub struct Forwards {
    commands: mpsc::UnboundedSender<Command>,
    view: Arc<Mutex<Option<RemoteStatus>>>,
    masters: Arc<Mutex<BTreeSet<i32>>>,
}

impl Forwards {
    /// Starts the forwards' task (idle until the first [`Forwards::set`]);
    /// `changed` hears whenever a request is done, for the loop to answer.
    pub fn start(changed: mpsc::UnboundedSender<()>) -> Forwards {
        let (commands, rx) = mpsc::unbounded_channel();
        let view = Arc::new(Mutex::new(None));
        let masters = Arc::new(Mutex::new(BTreeSet::new()));
        let task = Task {
            view: Arc::clone(&view),
            masters: Arc::clone(&masters),
            changed,
            target: None,
            env: Vec::new(),
            wanted: Vec::new(),
            states: HashMap::new(),
            link: Link::Down {
                retry_at: None,
                attempt: 0,
                why: None,
            },
            lost_once: false,
        };
        tokio::spawn(task.run(rx));
        Forwards {
            commands,
            view,
            masters,
        }
    }

    /// The pids of the SSH masters it has used: when the supervisor made
    /// one, it is the supervisor's (adopted) child, yet shared.
    pub fn masters(&self) -> BTreeSet<i32> {
        self.masters.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Keeps exactly `forwards` over the connection to `target`; `done`
    /// fires once each has been tried.
    pub fn set(
        &self,
        target: SshTarget,
        env: Vec<(String, String)>,
        forwards: Vec<ForwardSpec>,
    ) -> oneshot::Receiver<()> {
        let (done, rx) = oneshot::channel();
        let _ = self.commands.send(Command::Set {
            target,
            env,
            forwards,
            done,
        });
        rx
    }

    /// Removes every forward and lets go of the connection; `done` fires
    /// once nothing is forwarded any more.
    pub fn close(&self) -> oneshot::Receiver<()> {
        let (done, rx) = oneshot::channel();
        let _ = self.commands.send(Command::Close { done });
        rx
    }

    /// What `status` shows: `None` when nothing is forwarded.
    pub fn view(&self) -> Option<RemoteStatus> {
        self.view.lock().ok().and_then(|v| v.clone())
    }
}

enum Link {
    /// No connection; the next attempt at `retry_at` (none planned when
    /// nothing is wanted).
    Down {
        retry_at: Option<Instant>,
        attempt: u32,
        why: Option<String>,
    },
    Up(Box<Connected>),
}

/// A connection in use: the master's client, and the keeper that ends with
/// the master.
struct Connected {
    remote: Remote,
    keeper: Keeper,
}

struct Task {
    view: Arc<Mutex<Option<RemoteStatus>>>,
    masters: Arc<Mutex<BTreeSet<i32>>>,
    changed: mpsc::UnboundedSender<()>,
    target: Option<SshTarget>,
    env: Vec<(String, String)>,
    wanted: Vec<ForwardSpec>,
    /// Each wanted forward's state, and when it failed.
    states: HashMap<Forward, (ForwardState, Option<String>, Option<Instant>)>,
    link: Link,
    /// A connection was lost since the forwards were set: a remote port
    /// may still be held by the dropped one's sshd session.
    lost_once: bool,
}

/// What woke the task.
enum Wake {
    Command(Option<Command>),
    Lost,
    Retry,
    Check,
}

impl Task {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut check = tokio::time::interval(CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let retry_at = match &self.link {
                Link::Down { retry_at, .. } => *retry_at,
                Link::Up(_) => None,
            };
            let wake = {
                let keeper = async {
                    match &mut self.link {
                        Link::Up(up) => up.keeper.ended().await,
                        Link::Down { .. } => std::future::pending().await,
                    }
                };
                tokio::select! {
                    command = commands.recv() => Wake::Command(command),
                    () = keeper => Wake::Lost,
                    () = sleep_until(retry_at) => Wake::Retry,
                    _ = check.tick() => Wake::Check,
                }
            };
            match wake {
                Wake::Command(None) => {
                    self.close().await;
                    return;
                }
                Wake::Command(Some(Command::Close { done })) => {
                    self.close().await;
                    self.publish();
                    let _ = done.send(());
                    let _ = self.changed.send(());
                    return;
                }
                Wake::Command(Some(Command::Set {
                    target,
                    env,
                    forwards,
                    done,
                })) => {
                    self.set(target, env, forwards).await;
                    self.publish();
                    let _ = done.send(());
                    let _ = self.changed.send(());
                    continue;
                }
                Wake::Lost => self.lost(),
                Wake::Retry => self.connect().await,
                Wake::Check => self.check().await,
            }
            self.publish();
        }
    }

    async fn set(
        &mut self,
        target: SshTarget,
        env: Vec<(String, String)>,
        forwards: Vec<ForwardSpec>,
    ) {
        if forwards.is_empty() {
            // Nothing to keep: nor is the connection held.
            self.close().await;
            return;
        }
        if self.target.as_ref() != Some(&target) {
            // Another engine: nothing of the old one's stays.
            self.close().await;
            self.target = Some(target);
        }
        self.env = env;
        let keep: Vec<Forward> = forwards.iter().map(|s| s.forward.clone()).collect();
        let dropped: Vec<Forward> = self
            .states
            .keys()
            .filter(|f| !keep.contains(f))
            .cloned()
            .collect();
        let host = self.host();
        for forward in dropped {
            if let Some((ForwardState::Up, ..)) = self.states.remove(&forward)
                && let Link::Up(up) = &self.link
            {
                let _ = up.remote.cancel(&forward).await;
                log(&format!("stopped forwarding {}", forward.describe(&host)));
            }
        }
        self.wanted = forwards;
        for spec in &self.wanted {
            self.states
                .entry(spec.forward.clone())
                .or_insert((ForwardState::Waiting, None, None));
        }
        match &self.link {
            Link::Up(_) => self.add_missing(true).await,
            // An `up` asking is a reason to try now, whatever the backoff.
            Link::Down { .. } if !self.wanted.is_empty() => self.connect().await,
            Link::Down { .. } => {}
        }
    }

    /// Makes the connection and adds every wanted forward; on failure, the
    /// next attempt after the backoff.
    async fn connect(&mut self) {
        let Some(target) = self.target.clone() else {
            return;
        };
        let attempt = match &self.link {
            Link::Down { attempt, .. } => *attempt,
            Link::Up(_) => return,
        };
        match ssh::connect(&target, &self.env).await {
            Ok(remote) => {
                let keeper = match remote.keeper() {
                    Ok(keeper) => keeper,
                    Err(e) => {
                        self.failed_to_connect(attempt, e.to_string());
                        return;
                    }
                };
                if let Some(pid) = remote
                    .master_pid()
                    .await
                    .and_then(|p| i32::try_from(p).ok())
                    && let Ok(mut masters) = self.masters.lock()
                {
                    masters.insert(pid);
                }
                log(&if attempt == 0 {
                    format!("connected to {target}")
                } else {
                    format!("connected to {target} again (attempt {})", attempt + 1)
                });
                self.link = Link::Up(Box::new(Connected { remote, keeper }));
                self.add_missing(true).await;
            }
            Err(e) => self.failed_to_connect(attempt, e.to_string()),
        }
    }

    fn failed_to_connect(&mut self, attempt: u32, why: String) {
        let wait = if self.wanted.is_empty() {
            None
        } else {
            Some(backoff(attempt + 1))
        };
        log(&match wait {
            Some(wait) => format!("{why}; trying again in {}s", wait.as_secs()),
            None => why.clone(),
        });
        self.link = Link::Down {
            retry_at: wait.map(|w| Instant::now() + w),
            attempt: attempt + 1,
            why: Some(why),
        };
    }

    /// The keeper ended: the master is gone, and every forward with it.
    fn lost(&mut self) {
        let target = self
            .target
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        log(&format!(
            "the connection to {target} was lost; reconnecting to restore {} forward{}",
            self.wanted.len(),
            if self.wanted.len() == 1 { "" } else { "s" }
        ));
        for state in self.states.values_mut() {
            *state = (ForwardState::Waiting, None, None);
        }
        self.lost_once = true;
        self.link = Link::Down {
            retry_at: Some(Instant::now()),
            attempt: 0,
            why: Some("the connection was lost".to_owned()),
        };
    }

    /// Adds each wanted forward that is not up (`failed_too`: also those
    /// that failed, else only those due for a retry).
    async fn add_missing(&mut self, failed_too: bool) {
        let host = self.host();
        let Link::Up(up) = &self.link else {
            return;
        };
        let now = Instant::now();
        let mut added_remote = false;
        for spec in &self.wanted {
            let Some(state) = self.states.get_mut(&spec.forward) else {
                continue;
            };
            let due = match state {
                (ForwardState::Up, ..) => false,
                (ForwardState::Waiting, ..) => true,
                (ForwardState::Failed, _, at) => {
                    failed_too || at.is_none_or(|at| now.duration_since(at) >= RETRY_FAILED)
                }
            };
            if !due {
                continue;
            }
            *state = match up.remote.forward(&spec.forward).await {
                Ok(()) => {
                    added_remote |= spec.forward.direction == Direction::Remote;
                    log(&format!(
                        "forwarding {} ({})",
                        spec.forward.describe(&host),
                        spec.purpose
                    ));
                    (ForwardState::Up, None, None)
                }
                Err(e) => {
                    let why = failure(&spec.forward, &e.to_string(), self.lost_once);
                    log(&format!(
                        "cannot forward {}: {why}",
                        spec.forward.describe(&host)
                    ));
                    (ForwardState::Failed, Some(why), Some(now))
                }
            };
        }
        if added_remote {
            self.verify_remote_binds().await;
        }
    }

    /// An sshd whose `GatewayPorts` is not `clientspecified` binds a
    /// reverse forward to its loopback whatever the client asks, where no
    /// container reaches it: that is a failure, said as such.
    async fn verify_remote_binds(&mut self) {
        let Link::Up(up) = &self.link else {
            return;
        };
        let Ok(listening) = up.remote.listening().await else {
            return;
        };
        let host = up.remote.target.name().to_owned();
        for (forward, state) in &mut self.states {
            if forward.direction != Direction::Remote || state.0 != ForwardState::Up {
                continue;
            }
            let Ok(ip) = forward.listen.host.parse::<IpAddr>() else {
                continue;
            };
            let bound = listening.iter().any(|(at, port)| {
                *port == forward.listen.port && (*at == ip || at.is_unspecified())
            });
            if !bound && !ip.is_loopback() {
                let why = format!(
                    "the sshd of {host} bound it to its loopback only, out of the containers' reach: set `GatewayPorts clientspecified` in its sshd_config"
                );
                log(&format!(
                    "cannot forward {}: {why}",
                    forward.describe(&host)
                ));
                *state = (ForwardState::Failed, Some(why), Some(Instant::now()));
            }
        }
    }

    /// Local forwards whose port came free are added again, failed ones
    /// retried when due.
    async fn check(&mut self) {
        if !matches!(self.link, Link::Up(_)) {
            return;
        }
        let host = self.host();
        for (forward, state) in &mut self.states {
            if forward.direction == Direction::Local
                && state.0 == ForwardState::Up
                && listen_is_free(forward)
            {
                log(&format!(
                    "{} was no longer forwarded; adding it again",
                    forward.describe(&host)
                ));
                *state = (ForwardState::Waiting, None, None);
            }
        }
        self.add_missing(false).await;
    }

    /// Cancels every forward and lets the connection go (the master stays
    /// for the other devrig processes that use it).
    async fn close(&mut self) {
        let host = self.host();
        if let Link::Up(up) = &self.link {
            for (forward, (state, ..)) in &self.states {
                if *state == ForwardState::Up {
                    let _ = up.remote.cancel(forward).await;
                    log(&format!("stopped forwarding {}", forward.describe(&host)));
                }
            }
        }
        // Dropping the keeper kills it (the master does not mind).
        self.link = Link::Down {
            retry_at: None,
            attempt: 0,
            why: None,
        };
        self.states.clear();
        self.lost_once = false;
        self.wanted.clear();
        self.target = None;
    }

    /// The remote's name, for the log.
    fn host(&self) -> String {
        self.target
            .as_ref()
            .map_or_else(|| "the remote".to_owned(), |t| t.name().to_owned())
    }

    fn publish(&self) {
        let view = self
            .target
            .as_ref()
            .filter(|_| !self.wanted.is_empty())
            .map(|target| {
                let (connection, detail) = match &self.link {
                    Link::Up(_) => (ConnectionState::Connected, None),
                    Link::Down { why, .. } => (ConnectionState::Reconnecting, why.clone()),
                };
                RemoteStatus {
                    engine: target.to_string(),
                    connection,
                    detail,
                    forwards: self
                        .wanted
                        .iter()
                        .map(|spec| {
                            let (state, detail, _) = self
                                .states
                                .get(&spec.forward)
                                .cloned()
                                .unwrap_or((ForwardState::Waiting, None, None));
                            ForwardStatus {
                                spec: spec.clone(),
                                state,
                                detail,
                            }
                        })
                        .collect(),
                }
            });
        if let Ok(mut shown) = self.view.lock() {
            *shown = view;
        }
    }
}

/// ssh's `Port forwarding failed`, said in terms of the port.
/// `after_loss`: the connection dropped before, and the remote sshd may not
/// have noticed yet, so its session of the old connection still listens.
fn failure(forward: &Forward, message: &str, after_loss: bool) -> String {
    match forward.direction {
        Direction::Local if message.contains("Port forwarding failed") => {
            format!("{} is taken on this machine", forward.listen)
        }
        Direction::Remote if message.contains("remote port forwarding failed") && after_loss => {
            format!(
                "{} is taken on the remote, most likely by the dropped connection, until its sshd notices it is gone (sooner with ClientAliveInterval in its sshd_config); tried again every {}s",
                forward.listen,
                RETRY_FAILED.as_secs()
            )
        }
        Direction::Remote if message.contains("remote port forwarding failed") => {
            format!("{} is taken on the remote", forward.listen)
        }
        _ => message.to_owned(),
    }
}

/// Whether nothing listens on a local forward's address any more.
fn listen_is_free(forward: &Forward) -> bool {
    let Ok(ip) = forward.listen.host.parse::<IpAddr>() else {
        return false;
    };
    TcpListener::bind(SocketAddr::new(ip, forward.listen.port)).is_ok()
}

fn log(text: &str) {
    // A line the log cannot take is lost; the forwards go on regardless.
    super::say::say(text);
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
