//! The CLI's side of a supervisor: find it, start it, ask it things.

use super::paths;
use super::protocol::{ProgramSpec, ProgramStatus, RemoteStatus, Request, Response};
use crate::config::Program;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot talk to the supervisor at {}: {source}", socket.display())]
    Io {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Untrusted(#[from] paths::TrustError),
    #[error("the supervisor answered something devrig does not understand: {0}")]
    Protocol(String),
    #[error("the supervisor refused: {0}")]
    Refused(String),
    #[error("cannot start the supervisor: {0}")]
    Spawn(#[source] io::Error),
    /// The supervisor's log (its stderr), or its directory, cannot be made.
    #[error("cannot start the supervisor: cannot open its log {}: {source}", path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the supervisor did not come up within {}s (its log: {})", .waited.as_secs(), .log.display())]
    NotReady { waited: Duration, log: PathBuf },
    #[error(
        "the supervisor{} did not answer within {}s on {}",
        .pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        .waited.as_secs_f32().round(),
        .socket.display()
    )]
    Unresponsive {
        pid: Option<i32>,
        socket: PathBuf,
        waited: Duration,
        log: PathBuf,
    },
}

impl ClientError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ClientError::NotReady { log, .. } | ClientError::Io { socket: log, .. } => Some(
                format!("the supervisor's own log may say why: {}", log.display()),
            ),
            ClientError::Log { path, source } => {
                Some(crate::store::hint_for(path, source, "DEVRIG_LOG_DIR"))
            }
            ClientError::Unresponsive { pid, log, .. } => Some(format!(
                "it is stuck; its log may say why: {}. {} ends it and its programs (its guardian stops them); the next `up` starts a new one",
                log.display(),
                pid.map_or_else(|| "Killing it".to_owned(), |p| format!("`kill {p}`"))
            )),
            ClientError::Untrusted(e) => Some(e.hint()),
            _ => None,
        }
    }
}

/// How long a supervisor may take to answer a request:
/// `DEVRIG_SUPERVISOR_TIMEOUT` seconds, default 5. Its event loop answers
/// at once unless something wedged it.
fn answer_within() -> Duration {
    std::env::var("DEVRIG_SUPERVISOR_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(Duration::from_secs(5), Duration::from_secs_f64)
}

/// What a supervisor reports: its pid and its programs.
#[derive(Debug, Clone)]
pub struct Report {
    pub supervisor_pid: u32,
    pub programs: Vec<ProgramStatus>,
    /// Its forwards to the repo's remote engine, when it keeps any.
    pub remote: Option<RemoteStatus>,
}

/// Sends `request` to `project`'s supervisor. `Ok(None)` when none runs.
///
/// Every wait is bounded. The answer to `Status`, `Apply` and `Start` must
/// come within [`answer_within`]. `Stop` and `Shutdown` are answered once
/// the programs are gone, which the supervisor itself bounds by their
/// grace periods; meanwhile each quiet interval is checked with a `Status`
/// on a second connection, so only a supervisor that stopped answering
/// altogether is given up on. (Connecting does not wait for the
/// supervisor: the kernel completes it from the listen backlog.)
///
/// Nothing is sent to a socket another user could have put there
/// ([`paths::trusted_socket`]) or to a process of another user.
pub fn request(project: &str, request: &Request) -> Result<Option<Report>, ClientError> {
    let Some(socket) = paths::trusted_socket(project)? else {
        return Ok(None);
    };
    let io_error = |source| ClientError::Io {
        socket: socket.clone(),
        source,
    };
    let mut stream = match UnixStream::connect(&socket) {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(io_error(e)),
    };
    paths::check_peer(&socket, &stream)?;
    let budget = answer_within();
    stream.set_write_timeout(Some(budget)).map_err(io_error)?;
    stream.set_read_timeout(Some(budget)).map_err(io_error)?;
    let began = Instant::now();
    let unresponsive = |stream: &UnixStream| ClientError::Unresponsive {
        pid: crate::sys::peer_pid(stream),
        socket: socket.clone(),
        waited: began.elapsed(),
        log: paths::supervisor_log(project),
    };
    let mut line = serde_json::to_string(request).expect("requests serialize");
    line.push('\n');
    // A supervisor on its way out may close a connection the kernel
    // completed from its backlog before the request is even written.
    let written = match stream.write_all(line.as_bytes()) {
        Ok(()) => true,
        Err(e) if timed_out(&e) => return Err(unresponsive(&stream)),
        Err(e) if hung_up(&e) => false,
        Err(e) => return Err(io_error(e)),
    };
    let waits_for_programs = matches!(request, Request::Stop { .. } | Request::Shutdown);
    let mut answer = Vec::new();
    let mut reader = BufReader::new(&stream);
    let read = if !written {
        Ok(0)
    } else {
        loop {
            // Bytes read before a timeout stay in `answer`; the next read goes on.
            match reader.read_until(b'\n', &mut answer) {
                Err(e) if timed_out(&e) => {
                    if waits_for_programs && still_answers(project)? {
                        continue;
                    }
                    return Err(unresponsive(&stream));
                }
                read => break read,
            }
        }
    };
    let unanswered = match &read {
        Ok(_) => answer.is_empty(),
        Err(e) => hung_up(e),
    };
    if unanswered {
        // A supervisor that hangs up unanswered is on its way out.
        return match request {
            Request::Status | Request::Shutdown => Ok(None),
            _ => Err(ClientError::Protocol(
                "the supervisor closed the connection without an answer (it is shutting down; try again)"
                    .to_owned(),
            )),
        };
    }
    read.map_err(io_error)?;
    match serde_json::from_slice::<Response>(&answer) {
        Ok(Response::Programs {
            supervisor_pid,
            programs,
            remote,
        }) => Ok(Some(Report {
            supervisor_pid,
            programs,
            remote,
        })),
        Ok(Response::Error { message }) => Err(ClientError::Refused(message)),
        Err(e) => Err(ClientError::Protocol(e.to_string())),
    }
}

/// The other end closed the connection.
fn hung_up(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
    )
}

/// A read or write that ran out of time (`EAGAIN` on Unix sockets).
fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Whether `project`'s supervisor still answers a `Status` while it works
/// on a longer request (gone counts: the long request then sees it hang
/// up).
fn still_answers(project: &str) -> Result<bool, ClientError> {
    request(project, &Request::Status).map(|_| true)
}

/// Projects with a supervisor socket in the runtime dir (some may be stale:
/// [`request`] tells).
pub fn supervised_projects() -> Vec<String> {
    // Listing is harmless; each request checks the directory first.
    let mut projects: Vec<String> = std::fs::read_dir(paths::runtime_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".sock")
                .map(str::to_owned)
        })
        .collect();
    projects.sort();
    projects
}

/// How long a new supervisor may take to answer on its socket.
const STARTUP: Duration = Duration::from_secs(10);

/// Makes sure `project`'s supervisor runs, starting a detached one (its own
/// session, no terminal, output to its log) when none answers.
pub fn ensure(project: &str) -> Result<(), ClientError> {
    if request(project, &Request::Status)?.is_some() {
        return Ok(());
    }
    paths::create_runtime_dir()?;
    let log_path = paths::supervisor_log(project);
    let log_error = |source| ClientError::Log {
        path: log_path.clone(),
        source,
    };
    if let Some(dir) = log_path.parent() {
        crate::private::create_dir(dir).map_err(log_error)?;
    }
    let log = crate::private::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(log_error)?;
    let exe = std::env::current_exe().map_err(ClientError::Spawn)?;
    let mut command = Command::new(exe);
    command
        .args(["__supervise", project])
        // Not the repo: a supervisor must not keep a directory busy (or
        // vanish with it); programs get their own directory explicitly.
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(ClientError::Spawn)?)
        .stderr(log);
    // A session of its own: closing the terminal that ran `up` must not
    // take the programs with it. std's own `CommandExt::setsid` is not
    // stable yet (`process_group` is no session), and `pre_exec`, the one
    // hook between fork and exec, is unsafe by nature.
    // SAFETY: the closure makes one async-signal-safe call (setsid through
    // rustix: a raw syscall on Linux, libc's wrapper elsewhere), allocates
    // nothing (an `Errno` becomes an `io::Error` in place) and touches no
    // memory shared with the parent.
    unsafe {
        command.pre_exec(|| {
            rustix::process::setsid()?;
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(ClientError::Spawn)?;
    let began = Instant::now();
    while began.elapsed() < STARTUP {
        if request(project, &Request::Status)?.is_some() {
            return Ok(());
        }
        // Exited with success: another supervisor won the lock and is about
        // to answer. With failure: its log says why.
        if let Ok(Some(status)) = child.try_wait()
            && !status.success()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(ClientError::NotReady {
        waited: began.elapsed(),
        log: log_path,
    })
}

/// Rounds supervisord's `stdout_logfile_maxbytes` default down to a size a
/// developer's disk shrugs at; every program keeps this many backups.
pub const DEFAULT_LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;
pub const DEFAULT_LOG_BACKUPS: u32 = 3;

/// The supervisor's view of a configured program, run with the calling
/// process's environment beneath the program's own.
pub fn spec(name: &str, program: &Program) -> ProgramSpec {
    ProgramSpec {
        name: name.to_owned(),
        argv: program.argv.clone(),
        environment: program
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        inherited: std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect(),
        directory: program.directory.clone(),
        autostart: program.autostart,
        autorestart: program.autorestart,
        stop_signal: program.stop_signal.number(),
        stop_grace_ms: u64::try_from(program.stop_grace_period.as_std().as_millis())
            .unwrap_or(u64::MAX),
        start_secs: program.start_secs,
        start_retries: program.start_retries,
        log_max_bytes: program.log_max_bytes.unwrap_or(DEFAULT_LOG_MAX_BYTES),
        log_backups: program.log_backups.unwrap_or(DEFAULT_LOG_BACKUPS),
    }
}
