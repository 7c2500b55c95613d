//! An engine on another machine, reached the way the docker CLI reaches
//! `ssh://` hosts: through the user's own OpenSSH, so their keys, agent,
//! `~/.ssh/config` and jump hosts all apply, and devrig holds no secret.
//!
//! One connection per engine, shared by every devrig process: an OpenSSH
//! ControlMaster, started detached (`ssh -f -N -M`) by whoever needs it
//! first, under a lock, with its control socket in devrig's runtime dir.
//! The master forwards a local socket to the remote engine's own socket, so
//! the engine client speaks to it as to a local engine, and a command that
//! finds that socket answering starts no ssh process at all. Everything
//! else travels over the same master: the supervisor's port forwards
//! (`ssh -O forward`), the bind-mount copies and small remote commands.
//!
//! The master lives until the link drops (keepalives end it within ~10 s of
//! a dead network), it is told to exit (`down` with nothing left), it has
//! carried nothing for [`IDLE`], or it is killed; the next user starts a
//! new one. It is not anybody's child, so a
//! supervisor watches it through a session of its own, a "keeper"
//! ([`Remote::keeper`]), which ends when the master does.
//!
//! A supervisor is a child subreaper that reaps whatever child of its ends;
//! the ssh processes waited for here are registered while they run
//! ([`awaited`]), so that it leaves their exit status to their waiter.

use super::endpoint::SshTarget;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// How long the first connection may take: ssh's own connect timeout, then
/// the login.
const CONNECT_TIMEOUT_SECS: u32 = 10;
const MASTER_DEADLINE: Duration = Duration::from_secs(40);
/// How long a master carrying nothing stays (ssh's ControlPersist): a
/// forward listening counts as nothing, so a supervisor with forwards
/// keeps a session on it.
const IDLE: Duration = Duration::from_secs(600);
/// A small remote command (a check, a listing) that takes longer than this
/// counts as a broken connection.
const EXEC_DEADLINE: Duration = Duration::from_secs(60);

/// Pids of the ssh processes this process is waiting for right now.
static AWAITED: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Whether `pid` is an ssh run whose exit status its waiter here needs.
pub fn awaited(pid: i32) -> bool {
    AWAITED.lock().is_ok_and(|set| set.contains(&pid))
}

/// Whether any ssh run is being waited for.
pub fn awaiting_any() -> bool {
    AWAITED.lock().is_ok_and(|set| !set.is_empty())
}

/// A child's pid in [`AWAITED`] until the waiting is over.
struct Awaiting(Option<i32>);

impl Awaiting {
    fn new(child: &tokio::process::Child) -> Awaiting {
        let pid = child.id().and_then(|p| i32::try_from(p).ok());
        if let (Some(pid), Ok(mut set)) = (pid, AWAITED.lock()) {
            set.insert(pid);
        }
        Awaiting(pid)
    }
}

impl Drop for Awaiting {
    fn drop(&mut self) {
        if let (Some(pid), Ok(mut set)) = (self.0, AWAITED.lock()) {
            set.remove(&pid);
        }
    }
}

/// Runs `cmd` to its end, collecting what it writes.
async fn output(mut cmd: Command) -> io::Result<std::process::Output> {
    let child = cmd.spawn()?;
    let _awaiting = Awaiting::new(&child);
    child.wait_with_output().await
}

/// A session on a master that ends with it ([`Remote::keeper`]).
pub struct Keeper {
    child: tokio::process::Child,
    /// Held open: the remote `cat` waits on it.
    _stdin: Option<tokio::process::ChildStdin>,
    _awaiting: Awaiting,
}

impl Keeper {
    /// Returns when the session has ended (so has the master, as a rule).
    pub async fn ended(&mut self) {
        let _ = self.child.wait().await;
    }
}

/// What the remote host said about itself when the master was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Facts {
    /// The login's `$HOME` there: bind-mount copies go beneath it.
    home: String,
    /// Its engine, as its own docker CLI resolves it (`unix:///var/run/docker.sock`).
    engine: String,
}

/// A connected remote: its master is up, and the remote engine is forwarded
/// to [`Remote::socket`].
#[derive(Debug, Clone)]
pub struct Remote {
    pub target: SshTarget,
    paths: Paths,
    facts: Facts,
    /// Set for every ssh this connection runs (the supervisor's
    /// `SSH_AUTH_SOCK` comes from the `up` that asked it to forward).
    env: Vec<(String, String)>,
}

/// Where one target's connection keeps its files (all in the runtime dir).
#[derive(Debug, Clone)]
struct Paths {
    /// The ControlMaster's socket.
    control: PathBuf,
    /// The local end of the engine's forward.
    socket: PathBuf,
    /// Serializes the making of the master.
    lock: PathBuf,
    /// The master's stderr (its errors when it could not log in).
    log: PathBuf,
    /// [`Facts`], as JSON.
    facts: PathBuf,
    /// What the bind-mount copies know is there ([`Remote::record`]).
    record: PathBuf,
}

impl Paths {
    fn of(target: &SshTarget) -> Paths {
        let digest = Sha256::digest(target.to_string().as_bytes());
        let id: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        // Short names: a Unix socket's path has room for ~100 bytes, and
        // ssh appends 17 characters while it makes the control socket.
        let dir = control_dir();
        Paths {
            control: dir.join(&id),
            socket: dir.join(format!("{id}.docker")),
            lock: dir.join(format!("{id}.lock")),
            log: dir.join(format!("{id}.log")),
            facts: dir.join(format!("{id}.json")),
            record: dir.join(format!("{id}.mounts")),
        }
    }
}

/// Beside the supervisors' sockets, readable by the user only: whoever can
/// open a control socket can use the login behind it.
fn control_dir() -> PathBuf {
    crate::supervisor::paths::runtime_dir().join("ssh")
}

/// Why a remote engine cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot run ssh, which devrig uses to reach {target}: {source}")]
    NoSsh {
        target: SshTarget,
        #[source]
        source: io::Error,
    },
    #[error("cannot reach {} over ssh: {message}", .target.name())]
    Unreachable { target: SshTarget, message: String },
    #[error("{} refused the ssh login: {message}", .target.name())]
    Auth { target: SshTarget, message: String },
    #[error("the host key of {} is not known or has changed: {message}", .target.name())]
    HostKey { target: SshTarget, message: String },
    #[error("docker is not installed on {} (or not on the PATH of a non-interactive ssh session)", .target.name())]
    NoDocker { target: SshTarget },
    #[error("the Docker engine of {} is at {address}, which devrig cannot forward", .target.name())]
    RemoteEngine { target: SshTarget, address: String },
    #[error("ssh to {} failed: {message}", .target.name())]
    Failed { target: SshTarget, message: String },
    #[error("cannot prepare {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Untrusted(#[from] crate::supervisor::paths::TrustError),
}

impl SshError {
    /// What to try next.
    pub fn hint(&self) -> String {
        match self {
            SshError::NoSsh { .. } => {
                "install OpenSSH's client: devrig reaches ssh:// engines with your own `ssh`"
                    .to_owned()
            }
            SshError::Unreachable { target, .. } => format!(
                "check that {host} is up and that `ssh {host} true` works from this shell (its address, port and jump hosts come from your ~/.ssh/config)",
                host = target.name()
            ),
            SshError::Auth { target, .. } => format!(
                "devrig logs in as your `ssh` does, but never asks for a password: load your key into the agent (`ssh-add`) or name it with IdentityFile for {host} in ~/.ssh/config; `ssh {host} true` must work without a prompt",
                host = target.name()
            ),
            SshError::HostKey { target, .. } => format!(
                "connect once with `ssh {}` to check and accept its host key",
                target.name()
            ),
            SshError::NoDocker { target } => format!(
                "install Docker on {host}; `ssh {host} docker version` must work",
                host = target.name()
            ),
            SshError::RemoteEngine { target, .. } => format!(
                "point the docker CLI on {} at a unix:// or tcp:// engine (its DOCKER_HOST or current context)",
                target.name()
            ),
            SshError::Failed { target, .. } => {
                format!("`ssh -v {} true` shows where it goes wrong", target.name())
            }
            SshError::Io { .. } => "check the permissions of devrig's runtime directory".to_owned(),
            SshError::Untrusted(e) => e.hint(),
        }
    }
}

/// Sorts ssh's last words (its stderr) into the errors users act on
/// differently. `ssh` exits 255 for all of them.
fn classify(target: &SshTarget, stderr: &str) -> SshError {
    let message = last_words(stderr);
    let has = |needle: &str| stderr.contains(needle);
    let target = target.clone();
    if has("Permission denied") || has("Too many authentication failures") {
        SshError::Auth { target, message }
    } else if has("Host key verification failed")
        || has("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || has("No ED25519 host key is known")
        || has("host key is known")
    {
        SshError::HostKey { target, message }
    } else if has("Could not resolve hostname")
        || has("Connection refused")
        || has("Connection timed out")
        || has("Operation timed out")
        || has("No route to host")
        || has("Network is unreachable")
        || has("Connection closed by")
        || has("Connection reset")
        || has("port 22: ")
    {
        SshError::Unreachable { target, message }
    } else {
        SshError::Failed { target, message }
    }
}

/// The lines of ssh's stderr that say something (not its warnings about
/// known_hosts, not the remote's login banner noise).
fn last_words(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
        .collect();
    match lines.len() {
        0 => "ssh ended without saying why".to_owned(),
        n => lines[n.saturating_sub(3)..].join("; "),
    }
}

/// One port forward on the master: a listening address on one side and
/// where its connections go on the other.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Forward {
    pub direction: Direction,
    /// `host:port` that listens (on this machine for [`Direction::Local`],
    /// on the remote for [`Direction::Remote`]).
    pub listen: Sock,
    /// `host:port` that connections are made to, on the other side.
    pub connect: Sock,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A port on this machine reaches the remote (`ssh -L`): a container's
    /// published port.
    Local,
    /// A port on the remote reaches this machine (`ssh -R`): a program the
    /// containers call back.
    Remote,
}

/// A TCP address, IPv6 hosts without brackets; `host:port` (`[::1]:5432`)
/// in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Sock {
    pub host: String,
    pub port: u16,
}

impl From<Sock> for String {
    fn from(sock: Sock) -> String {
        sock.to_string()
    }
}

impl TryFrom<String> for Sock {
    type Error = String;

    fn try_from(text: String) -> Result<Sock, String> {
        let bad = || format!("`{text}` is not host:port");
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        Ok(Sock {
            host: host.to_owned(),
            port: port.parse().map_err(|_| bad())?,
        })
    }
}

impl fmt::Display for Sock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl Forward {
    /// `127.0.0.1:5432 → devbox 127.0.0.1:5432`, `devbox 10.0.0.1:8000 →
    /// 127.0.0.1:8000`: each address with the machine it is on.
    pub fn describe(&self, host: &str) -> String {
        match self.direction {
            Direction::Local => format!("{} → {host} {}", self.listen, self.connect),
            Direction::Remote => format!("{host} {} → {}", self.listen, self.connect),
        }
    }

    /// ssh's `-L`/`-R` argument: `listen:connect`.
    fn spec(&self) -> (&'static str, String) {
        let flag = match self.direction {
            Direction::Local => "-L",
            Direction::Remote => "-R",
        };
        (flag, format!("{}:{}", self.listen, self.connect))
    }
}

/// Connects to `target`: the running master when there is one, else a new
/// one (its errors sorted for the user); then makes sure the remote engine
/// is forwarded to [`Remote::socket`]. `env` is set for every ssh run.
pub async fn connect(target: &SshTarget, env: &[(String, String)]) -> Result<Remote, SshError> {
    let paths = Paths::of(target);
    let io_error = |path: &Path| {
        let path = path.to_owned();
        move |source| SshError::Io { path, source }
    };
    // The runtime dir first, checked: a control socket another user could
    // swap would be their way into the login.
    crate::supervisor::paths::create_runtime_dir()?;
    let dir = control_dir();
    crate::private::create_dir(&dir).map_err(io_error(&dir))?;
    let lock = crate::private::create(&paths.lock).map_err(io_error(&paths.lock))?;
    // Two devrig processes that both find no master must not both make one:
    // the second would fall back to a connection of its own.
    let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
        .await
        .map_err(|e| io::Error::other(e.to_string()))
        .and_then(|r| r)
        .map_err(io_error(&paths.lock))?;
    let mut remote = Remote {
        target: target.clone(),
        paths,
        facts: Facts {
            home: String::new(),
            engine: String::new(),
        },
        env: env.to_vec(),
    };
    let made = match remote.master_pid().await {
        Some(_) => false,
        None => {
            // A killed master leaves its socket behind, and ssh would not
            // take the place of it (it falls back to a private connection).
            let _ = std::fs::remove_file(&remote.paths.control);
            remote.start_master().await?;
            true
        }
    };
    let facts = match read_facts(&remote.paths).filter(|_| !made) {
        Some(facts) => Ok(facts),
        None => remote.discover().await,
    };
    let ready = match facts {
        Ok(facts) => {
            remote.facts = facts;
            remote.forward_engine().await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = ready {
        // A master that cannot serve an engine is of no use to anyone.
        if made {
            remote.exit().await;
        }
        return Err(e);
    }
    drop(lock);
    Ok(remote)
}

/// The connection to `target` as another devrig process left it, without
/// starting anything: `None` when its engine socket is not there (then
/// [`connect`] makes it).
pub fn existing(target: &SshTarget) -> Option<Remote> {
    // An untrusted runtime dir: `connect` says why.
    crate::supervisor::paths::existing_runtime_dir().ok()??;
    let paths = Paths::of(target);
    if !paths.socket.exists() {
        return None;
    }
    let facts = read_facts(&paths)?;
    Some(Remote {
        target: target.clone(),
        paths,
        facts,
        env: Vec::new(),
    })
}

fn read_facts(paths: &Paths) -> Option<Facts> {
    serde_json::from_slice(&std::fs::read(&paths.facts).ok()?).ok()
}

/// `Master running (pid=4242)` → 4242.
fn parse_master_pid(text: &str) -> Option<u32> {
    let rest = text.split("(pid=").nth(1)?;
    rest.split(')').next()?.trim().parse().ok()
}

/// `/proc/net/tcp` and `/proc/net/tcp6` → the addresses something listens on.
fn parse_listening(text: &str) -> Vec<(IpAddr, u16)> {
    let mut found = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local_address rem_address st …; 0A is LISTEN.
        let (Some(local), Some(&"0A")) = (fields.get(1), fields.get(3)) else {
            continue;
        };
        let Some((ip, port)) = local.split_once(':') else {
            continue;
        };
        let Ok(port) = u16::from_str_radix(port, 16) else {
            continue;
        };
        // The kernel prints each 32-bit word of the address in host order
        // (little-endian on every host Docker runs on).
        let words: Option<Vec<u32>> = (0..ip.len() / 8)
            .map(|i| u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok())
            .collect();
        let ip = match words.as_deref() {
            Some([w]) => IpAddr::V4(Ipv4Addr::from(w.swap_bytes())),
            Some(ws @ [_, _, _, _]) => {
                let mut bytes = [0u8; 16];
                for (i, w) in ws.iter().enumerate() {
                    bytes[i * 4..i * 4 + 4].copy_from_slice(&w.swap_bytes().to_be_bytes());
                }
                IpAddr::V6(Ipv6Addr::from(bytes))
            }
            _ => continue,
        };
        found.push((ip, port));
    }
    found
}

/// What the master said about a refused `-O` request: `Port forwarding
/// failed` for a local port something else holds, `remote port forwarding
/// failed for listen port 8000` for a remote one.
fn forward_failure(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.split_once("forwarding request failed: ").map(|(_, m)| m))
        .map_or_else(|| last_words(stderr), str::to_owned)
}

impl Remote {
    /// The local socket the remote engine answers on.
    pub fn socket(&self) -> &Path {
        &self.paths.socket
    }

    /// The remote login's home directory.
    pub fn home(&self) -> &str {
        &self.facts.home
    }

    /// The remote engine's own address, on the remote.
    pub fn engine_address(&self) -> &str {
        &self.facts.engine
    }

    /// A file of this connection's, in the runtime dir, where the
    /// bind-mount copies note what they made there.
    pub fn record(&self) -> &Path {
        &self.paths.record
    }

    /// `ssh` with the options every use shares: never a prompt (devrig may
    /// run without a terminal, and a prompt would hang a supervisor), and
    /// this target's control socket.
    fn ssh(&self) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-o")
            .arg(format!("ControlPath={}", self.paths.control.display()))
            .args(["-o", "BatchMode=yes"]);
        if let Some(port) = self.target.port {
            cmd.arg("-p").arg(port.to_string());
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// `ssh … ARGS destination` as a client of the master: it never makes a
    /// connection of its own.
    fn client(&self, args: &[&str]) -> Command {
        let mut cmd = self.ssh();
        cmd.args(["-o", "ControlMaster=no"])
            .args(args)
            .arg("--")
            .arg(self.target.destination());
        cmd
    }

    fn no_ssh(&self) -> impl FnOnce(io::Error) -> SshError + '_ {
        |source| SshError::NoSsh {
            target: self.target.clone(),
            source,
        }
    }

    async fn start_master(&self) -> Result<(), SshError> {
        let log = crate::private::create(&self.paths.log).map_err(|source| SshError::Io {
            path: self.paths.log.clone(),
            source,
        })?;
        let mut cmd = self.ssh();
        cmd.args(["-f", "-N", "-M"])
            .arg("-o")
            .arg(format!("ControlPersist={}", IDLE.as_secs()))
            .arg("-o")
            .arg(format!("ConnectTimeout={CONNECT_TIMEOUT_SECS}"))
            // A dead link ends the master within ~10 s; its watchers
            // reconnect.
            .args(["-o", "ServerAliveInterval=3", "-o", "ServerAliveCountMax=3"])
            // A stale engine socket of a killed master is replaced.
            .args(["-o", "StreamLocalBindUnlink=yes"])
            .args(["-o", "ExitOnForwardFailure=no"])
            .arg("--")
            .arg(self.target.destination())
            .stdout(Stdio::null())
            // A file, not a pipe: the master keeps its stderr after `-f`
            // detaches it, and a pipe would never reach its end.
            .stderr(Stdio::from(log));
        let mut child = cmd.spawn().map_err(self.no_ssh())?;
        let awaiting = Awaiting::new(&child);
        let status = match tokio::time::timeout(MASTER_DEADLINE, child.wait()).await {
            Ok(status) => status.map_err(self.no_ssh())?,
            Err(_) => {
                let _ = child.kill().await;
                return Err(SshError::Unreachable {
                    target: self.target.clone(),
                    message: format!("no login within {}s", MASTER_DEADLINE.as_secs()),
                });
            }
        };
        drop(awaiting);
        if status.success() {
            return Ok(());
        }
        let stderr = std::fs::read_to_string(&self.paths.log).unwrap_or_default();
        Err(classify(&self.target, &stderr))
    }

    /// Asks the remote for its home and its engine's address, in one
    /// command; written beside the control socket for the next devrig
    /// process.
    async fn discover(&self) -> Result<Facts, SshError> {
        const NO_DOCKER: &str = "devrig:no-docker";
        let script = format!(
            "printf '%s\\n' \"$HOME\"; if command -v docker >/dev/null 2>&1; then \
             docker context inspect --format '{{{{.Endpoints.docker.Host}}}}' 2>/dev/null \
             || printf '%s\\n' \"${{DOCKER_HOST:-unix:///var/run/docker.sock}}\"; \
             else echo {NO_DOCKER}; fi"
        );
        let out = self.exec(&script, None).await?;
        if !out.status.success() {
            return Err(classify(
                &self.target,
                &String::from_utf8_lossy(&out.stderr),
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        // A login banner or an rc file's chatter comes first: the answers
        // are the last two lines.
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let [.., home, engine] = lines.as_slice() else {
            return Err(SshError::Failed {
                target: self.target.clone(),
                message: format!("unexpected answer to devrig's probe: {text:?}"),
            });
        };
        if *engine == NO_DOCKER {
            return Err(SshError::NoDocker {
                target: self.target.clone(),
            });
        }
        let facts = Facts {
            home: (*home).to_owned(),
            engine: (*engine).to_owned(),
        };
        let json = serde_json::to_vec(&facts).expect("facts serialize");
        crate::private::write(&self.paths.facts, json).map_err(|source| SshError::Io {
            path: self.paths.facts.clone(),
            source,
        })?;
        Ok(facts)
    }

    async fn forward_engine(&self) -> Result<(), SshError> {
        let engine = &self.facts.engine;
        let remote_end = if let Some(path) = engine.strip_prefix("unix://") {
            path.to_owned()
        } else if let Some(addr) = engine
            .strip_prefix("tcp://")
            .or_else(|| engine.strip_prefix("http://"))
        {
            let addr = addr.trim_end_matches('/');
            if addr.contains(':') {
                addr.to_owned()
            } else {
                format!("{addr}:2375")
            }
        } else {
            return Err(SshError::RemoteEngine {
                target: self.target.clone(),
                address: engine.clone(),
            });
        };
        let spec = format!("{}:{remote_end}", self.paths.socket.display());
        self.control(&["-O", "forward", "-L", &spec]).await
    }

    /// Runs `script` with `sh -c` on the remote, `stdin` fed to it.
    pub async fn exec(
        &self,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<std::process::Output, SshError> {
        // The remote's login shell parses the command line (fish, zsh…):
        // one single-quoted word for `sh -c` reads the same in all of them.
        let command = format!("sh -c {}", shell_words::quote(script));
        let mut cmd = self.client(&["-T"]);
        cmd.arg(command)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().map_err(self.no_ssh())?;
        let _awaiting = Awaiting::new(&child);
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A remote that stops reading early says why on stderr.
            let _ = pipe.write_all(bytes).await;
            drop(pipe);
        }
        match tokio::time::timeout(EXEC_DEADLINE, child.wait_with_output()).await {
            Ok(out) => out.map_err(self.no_ssh()),
            Err(_) => Err(SshError::Failed {
                target: self.target.clone(),
                message: format!("a remote command took over {}s", EXEC_DEADLINE.as_secs()),
            }),
        }
    }

    /// The TCP addresses something listens on, on the remote (Linux's
    /// `/proc/net/tcp`), for the port preflight's remote side.
    pub async fn listening(&self) -> Result<Vec<(IpAddr, u16)>, SshError> {
        let out = self
            .exec("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true", None)
            .await?;
        if !out.status.success() {
            return Err(classify(
                &self.target,
                &String::from_utf8_lossy(&out.stderr),
            ));
        }
        Ok(parse_listening(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Adds `forward` to the master (one it already has is no error).
    pub async fn forward(&self, forward: &Forward) -> Result<(), SshError> {
        let (flag, spec) = forward.spec();
        self.control(&["-O", "forward", flag, &spec]).await
    }

    /// Removes `forward` from the master.
    pub async fn cancel(&self, forward: &Forward) -> Result<(), SshError> {
        let (flag, spec) = forward.spec();
        self.control(&["-O", "cancel", flag, &spec]).await
    }

    /// The master's pid, when one answers on the control socket.
    pub async fn master_pid(&self) -> Option<u32> {
        if !self.paths.control.exists() {
            return None;
        }
        let mut cmd = self.client(&["-O", "check"]);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let out = output(cmd).await.ok()?;
        if !out.status.success() {
            return None;
        }
        parse_master_pid(&String::from_utf8_lossy(&out.stderr))
    }

    /// Ends the master, and with it every forward and session on it.
    pub async fn exit(&self) {
        let _ = self.control(&["-O", "exit"]).await;
        let _ = std::fs::remove_file(&self.paths.socket);
    }

    /// A session on the master that lasts as long as the master does (or
    /// until its stdin, which the keeper holds, closes), so that the
    /// master's end can be waited for like a child's.
    pub fn keeper(&self) -> Result<Keeper, SshError> {
        let mut cmd = self.client(&["-T"]);
        // `cat` ends when its stdin closes, should the keeper's holder
        // die: the remote keeps nothing behind.
        cmd.arg("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().map_err(self.no_ssh())?;
        let awaiting = Awaiting::new(&child);
        Ok(Keeper {
            _stdin: child.stdin.take(),
            child,
            _awaiting: awaiting,
        })
    }

    async fn control(&self, args: &[&str]) -> Result<(), SshError> {
        let mut cmd = self.client(args);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let out = output(cmd).await.map_err(self.no_ssh())?;
        if out.status.success() {
            return Ok(());
        }
        Err(SshError::Failed {
            target: self.target.clone(),
            message: forward_failure(&String::from_utf8_lossy(&out.stderr)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devbox() -> SshTarget {
        SshTarget {
            user: None,
            host: "devbox".to_owned(),
            port: None,
        }
    }

    #[test]
    fn ssh_failures_are_sorted_by_what_to_do() {
        let t = devbox();
        let cases = [
            (
                "ssh: connect to host 10.0.0.2 port 22: Connection refused\n",
                "Unreachable",
            ),
            (
                "ssh: Could not resolve hostname devbox: Name or service not known\n",
                "Unreachable",
            ),
            ("root@10.0.0.2: Permission denied (publickey).\n", "Auth"),
            ("Host key verification failed.\n", "HostKey"),
            (
                "kex_exchange_identification: banner line too long\n",
                "Failed",
            ),
        ];
        for (stderr, want) in cases {
            let got = format!("{:?}", classify(&t, stderr));
            assert!(got.starts_with(want), "{stderr:?} → {got}");
        }
        let e = classify(
            &t,
            "Warning: Permanently added 'x' to the list of known hosts.\nroot@x: Permission denied (publickey).\n",
        );
        assert_eq!(
            e.to_string(),
            "devbox refused the ssh login: root@x: Permission denied (publickey)."
        );
    }

    #[test]
    fn forward_specs_are_ssh_arguments() {
        let f = Forward {
            direction: Direction::Local,
            listen: Sock {
                host: "127.0.0.1".into(),
                port: 5432,
            },
            connect: Sock {
                host: "::1".into(),
                port: 5432,
            },
        };
        assert_eq!(f.spec(), ("-L", "127.0.0.1:5432:[::1]:5432".to_owned()));
        let r = Forward {
            direction: Direction::Remote,
            ..f
        };
        assert_eq!(r.spec().0, "-R");
        assert_eq!(
            parse_master_pid("Master running (pid=4242)\r\n"),
            Some(4242)
        );
        assert_eq!(parse_master_pid("No such file"), None);
        assert_eq!(
            forward_failure(
                "mux_client_forward: forwarding request failed: Port forwarding failed\nmuxclient: master forward request failed\n"
            ),
            "Port forwarding failed"
        );
    }

    #[test]
    fn listening_sockets_from_proc_net_tcp() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue\n\
            0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000\n\
            1: 0100D90A:4650 00000000:0000 0A 00000000:00000000 00:00000000\n\
            2: 0100007F:AC4C 0100007F:1388 06 00000000:00000000 03:00000DCD\n\
            0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A\n\
            1: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A\n";
        let found = parse_listening(text);
        assert_eq!(
            found,
            [
                ("127.0.0.1".parse().unwrap(), 5000),
                ("10.217.0.1".parse().unwrap(), 18000),
                ("::".parse().unwrap(), 8080),
                ("::1".parse().unwrap(), 22),
            ]
        );
    }

    #[test]
    fn one_control_socket_per_target_with_room_to_spare() {
        let a = Paths::of(&devbox());
        let b = Paths::of(&SshTarget {
            user: Some("me".into()),
            ..devbox()
        });
        assert_ne!(a.control, b.control);
        assert_eq!(a.control, Paths::of(&devbox()).control);
        let name = a.control.file_name().unwrap().len();
        assert_eq!(name, 16);
    }
}
