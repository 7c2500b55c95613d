//! What travels on a supervisor's control socket: one JSON request line,
//! one JSON response line, then the connection closes.

use crate::config::Autorestart;
use crate::engine::endpoint::SshTarget;
use crate::engine::ssh::Forward;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything the supervisor needs to run a program, resolved by the CLI
/// from the config so the supervisor never reads config files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramSpec {
    pub name: String,
    pub argv: Vec<String>,
    /// The program's own `environment`, laid over `inherited`.
    pub environment: Vec<(String, String)>,
    /// The environment of the `up` that asked for the program (the
    /// developer's shell, with its virtualenv and PATH).
    pub inherited: Vec<(String, String)>,
    pub directory: PathBuf,
    /// Started by `up`; when off, only `foreground` or a later `start` runs it.
    pub autostart: bool,
    pub autorestart: Autorestart,
    /// Signal number sent to the program's process group to stop it.
    pub stop_signal: i32,
    pub stop_grace_ms: u64,
    pub start_secs: u64,
    pub start_retries: u64,
    pub log_max_bytes: u64,
    pub log_backups: u32,
}

impl ProgramSpec {
    /// Whether running `self` instead of `other` needs a restart. The
    /// inherited environment does not count: each shell has its own
    /// `OLDPWD` and `SHLVL`, and an `up` from another terminal must not
    /// restart every program.
    pub fn differs_from(&self, other: &ProgramSpec) -> bool {
        self.argv != other.argv
            || self.environment != other.environment
            || self.directory != other.directory
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Add or update programs and start each one that is not running
    /// (unless its `autostart` is off). Programs not listed are left alone.
    Apply {
        programs: Vec<ProgramSpec>,
    },
    Status,
    /// Stop programs and answer once every process of theirs is gone.
    /// `foreground`: the pid of the `devrig foreground` that runs them
    /// meanwhile; should it die without handing them back, the supervisor
    /// takes them back itself.
    Stop {
        names: Vec<String>,
        #[serde(default)]
        foreground: Option<u32>,
    },
    /// Start stopped, exited or fatal programs afresh.
    Start {
        names: Vec<String>,
    },
    /// Stop every program, answer, and exit.
    Shutdown,
    /// Keep exactly these ports forwarded over the SSH connection to the
    /// repo's remote engine (reconnecting when it drops), and answer once
    /// each has been tried. An empty list drops them all.
    Forward {
        target: SshTarget,
        /// `SSH_AUTH_SOCK` of the `up` that asked, for the supervisor's own
        /// ssh runs (reconnects included).
        #[serde(default)]
        env: Vec<(String, String)>,
        forwards: Vec<ForwardSpec>,
    },
}

/// A port forward and whose port it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardSpec {
    #[serde(flatten)]
    pub forward: Forward,
    /// `devrig/postgres` for a container's published port, `program
    /// devserver` for a port the containers call back.
    pub purpose: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Programs {
        supervisor_pid: u32,
        programs: Vec<ProgramStatus>,
        /// The forwards to a remote engine, when it has any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote: Option<RemoteStatus>,
    },
    Error {
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgramState {
    /// Started less than `startsecs` ago.
    Starting,
    Running,
    /// Exited; waiting to be started again.
    Backoff,
    /// Stop signal sent; waiting for every process of its group to go.
    Stopping,
    Stopped,
    /// Ended by itself and not to be restarted (`autorestart`).
    Exited,
    /// Gave up after repeated fast crashes.
    Fatal,
    /// Handed to `devrig foreground`.
    Foreground,
}

impl ProgramState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProgramState::Starting => "starting",
            ProgramState::Running => "running",
            ProgramState::Backoff => "backoff",
            ProgramState::Stopping => "stopping",
            ProgramState::Stopped => "stopped",
            ProgramState::Exited => "exited",
            ProgramState::Fatal => "fatal",
            ProgramState::Foreground => "foreground",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramStatus {
    pub name: String,
    pub state: ProgramState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// Seconds since the current process started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime_secs: Option<u64>,
    /// When the current process started (RFC 3339, UTC, whole seconds).
    #[serde(default)]
    pub started_at: Option<String>,
    pub restarts: u32,
    /// How the last process ended: `exit 1`, `signal 9`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<String>,
    pub log: PathBuf,
    /// Set while the log cannot be written (a full disk): the program goes
    /// on, its output is held or dropped meanwhile.
    #[serde(default)]
    pub log_error: Option<LogError>,
}

/// Why a program's log cannot be written now, and what that cost so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogError {
    /// The error of the last try: `No space left on device (os error 28)`.
    pub error: String,
    /// When the first write failed (RFC 3339, UTC, whole seconds).
    pub since: String,
    /// Output given up on since then (beyond what is held).
    pub dropped_bytes: u64,
    /// Output held, written once the log takes writes again.
    pub held_bytes: u64,
}

/// The supervisor's SSH connection to its repo's remote engine, and the
/// forwards on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteStatus {
    /// `ssh://devbox`.
    pub engine: String,
    pub connection: ConnectionState,
    /// Why it is not connected, while it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub forwards: Vec<ForwardStatus>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    Connected,
    /// Dropped (or never made); tried again with backoff.
    Reconnecting,
}

impl ConnectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Connected => "connected",
            ConnectionState::Reconnecting => "reconnecting",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardStatus {
    #[serde(flatten)]
    pub spec: ForwardSpec,
    pub state: ForwardState,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardState {
    Up,
    /// Back once the connection is.
    Waiting,
    /// The connection is up but this forward is not (its port is taken on
    /// the listening side); tried again every few seconds.
    Failed,
}

impl ForwardState {
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardState::Up => "up",
            ForwardState::Waiting => "waiting",
            ForwardState::Failed => "failed",
        }
    }
}
