//! `devenv sync`: brings the repo's toolchain to its pins, then runs the
//! repo's setup steps ([`Requirements::sync`]: the `x-devenv.sync` block,
//! else the discovered defaults) in order, skipping each step whose inputs
//! are unchanged since it last succeeded.
//!
//! - **Toolchain first.** Node, pnpm and the Python venv at their pins
//!   ([`super::provision`]), each skipped when already there (decided from
//!   files: no program starts, no request goes out). What was checked or
//!   installed is reported like a step (`node`, `pnpm`, `venv`).
//! - **Inputs.** A step's hash covers its command and the contents of its
//!   input files, directories walked recursively, every entry with its path,
//!   sorted. An input that does not exist hashes as missing, so creating it
//!   runs the step. The venv's `pyvenv.cfg` and the installed Node's
//!   version are inputs of every step too: the steps run with the venv and
//!   `.devenv/bin` on `PATH`, so a new venv or another Node must be filled
//!   again.
//! - **State.** The hash of each step's last success, in one JSON file per
//!   repo: `<state dir>/sync/<sha256 of the repo path>.json` (the state dir
//!   is `DEVRIG_STATE_DIR`, else `$XDG_DATA_HOME/devrig`; a [`crate::store`]),
//!   written atomically after every successful step, under a lock that
//!   serializes two syncs of the same repo (and so their installs). A
//!   failed step records nothing, so the next sync tries it again.
//! - **Gate.** Before the first step that has to run, doctor's checks run
//!   in the steps' environment; a failing check sync cannot fix
//!   ([`BLOCKING`]: direnv missing, a version only checked, such as an
//!   `engines.pnpm` range) stops the sync with its finding and fix. When
//!   every step is unchanged, no check runs and the sync costs a few file
//!   reads.
//! - **Running.** `/bin/sh -c COMMAND` in the repo root, with the venv's
//!   `bin` and `.devenv/bin` first on `PATH`, stdin closed (sync never
//!   prompts, so it behaves the same in a terminal, in CI, or with stdin
//!   redirected: a tool that asks a question gets end-of-file and fails
//!   instead of hanging), stdout and stderr captured together. A step has no
//!   timeout: installs can take minutes.

use super::checks::{self, Check, Outcome, id};
use super::env::HostEnv;
use super::provision::{self, ProvisionError, Provisioned, Site};
use super::requirements::{Requirements, Source, SyncStep};
use crate::config::ConfigError;
use crate::store::{Loaded, Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Checks whose failure stops a sync: a step run with the wrong Python, Node
/// or pnpm installs for the wrong interpreter (or not at all), and a repo
/// that says it is activated by direnv is not usable without direnv, however
/// well it is synced. They run after the toolchain is provisioned, so they
/// fail only for what sync does not install. The other checks are about the
/// shell (hooks, an active venv) and do not change what a step installs.
pub const BLOCKING: &[&str] = &[
    id::PYTHON_VERSION,
    id::DIRENV_INSTALLED,
    id::NODE_VERSION,
    id::PNPM_VERSION,
];

/// How many lines of a failed step's output are shown.
pub const TAIL_LINES: usize = 20;

/// A longer line is cut when kept for the tail: a progress bar redrawn with
/// `\r` can make one "line" of megabytes.
const MAX_LINE: usize = 1000;

#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Run every step, unchanged or not.
    pub force: bool,
    /// Report each line of a running step's output ([`Event::Output`]).
    pub stream: bool,
    /// Where the per-repo state lives (see [`state_file`]).
    pub state_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepOutcome {
    Skipped,
    Ran,
    Failed,
}

/// What happened to one step (or toolchain part), as `--json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    pub name: String,
    pub outcome: StepOutcome,
    /// Wall time of the step; 0 when skipped.
    pub seconds: f64,
    /// The hash of its inputs (hex SHA-256); toolchain parts have none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// For a toolchain part: what was found or installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Progress, reported as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// The step's inputs are unchanged since it last succeeded.
    Skipped {
        step: &'a SyncStep,
    },
    /// A toolchain part is at its pin already.
    ToolReady {
        tool: &'a str,
        detail: &'a str,
    },
    /// A toolchain part is being installed: what, from where.
    ToolInstalling {
        tool: &'a str,
        detail: &'a str,
    },
    /// Something a toolchain part changes on its way (a venv made by
    /// another Python is recreated).
    ToolNote {
        tool: &'a str,
        text: &'a str,
    },
    /// `done` bytes of the download arrived (of `total`, when known).
    Downloading {
        tool: &'a str,
        done: u64,
        total: Option<u64>,
    },
    /// The download is complete and checked; it is being unpacked and its
    /// program tried (seconds for Node).
    Unpacking {
        tool: &'a str,
    },
    /// Attempt `attempt` of `of` to fetch `url` failed; the next starts
    /// after `wait`.
    DownloadRetry {
        tool: &'a str,
        url: &'a str,
        attempt: u32,
        of: u32,
        reason: &'a str,
        wait: Duration,
    },
    /// A toolchain part was installed.
    ToolInstalled {
        tool: &'a str,
        detail: &'a str,
        elapsed: Duration,
    },
    /// A toolchain part could not be installed (the error follows).
    ToolFailed {
        tool: &'a str,
        elapsed: Duration,
    },
    Started {
        step: &'a SyncStep,
    },
    /// One line of the running step's output, only with [`SyncOptions::stream`].
    Output {
        step: &'a SyncStep,
        line: &'a str,
    },
    Ran {
        step: &'a SyncStep,
        elapsed: Duration,
    },
    Failed {
        step: &'a SyncStep,
        elapsed: Duration,
    },
    /// The state file could not be read as state; every step runs.
    StateReset {
        path: &'a Path,
        reason: &'a str,
    },
}

pub trait Observer {
    fn event(&mut self, event: Event<'_>);
}

impl<F: FnMut(Event<'_>)> Observer for F {
    fn event(&mut self, event: Event<'_>) {
        self(event)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the toolchain is not ready to sync: {}", fails(.checks.len()))]
    Blocked {
        /// The failing checks, with their findings and fixes.
        checks: Vec<Check>,
    },
    /// A toolchain part could not be installed.
    #[error("cannot install {tool}: {error}")]
    Provision {
        tool: &'static str,
        #[source]
        error: ProvisionError,
        /// The toolchain parts up to and including this one.
        steps: Vec<StepReport>,
    },
    #[error("cannot read `{path}`, an input of sync step `{step}`: {source}")]
    Input {
        step: String,
        path: String,
        source: io::Error,
    },
    #[error("cannot use the sync state {}: {source}", path.display())]
    State { path: PathBuf, source: io::Error },
    #[error("sync step `{step}` failed ({status}) after {seconds:.1}s")]
    StepFailed {
        step: String,
        command: String,
        /// Where the step is defined.
        source_at: Source,
        /// `exit status 3`, `killed by signal 9`, or why it did not start.
        status: String,
        seconds: f64,
        /// The last [`TAIL_LINES`] lines of its output.
        tail: Vec<String>,
        /// Every step up to and including this one.
        steps: Vec<StepReport>,
    },
}

impl SyncError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            SyncError::Config(c) => c.hint.clone(),
            SyncError::Blocked { .. } => Some(
                "apply the fixes above, then run `devenv sync` again; `devenv doctor` shows every check"
                    .to_owned(),
            ),
            SyncError::Provision { error, .. } => error.hint(),
            SyncError::StepFailed {
                step,
                command,
                source_at,
                ..
            } => Some(format!(
                "the step ({source_at}) runs `{}` with sh in the repo root; \
                 fix what it reports and run `devenv sync` again: it starts over at `{step}`",
                one_line(command)
            )),
            SyncError::Input { .. } | SyncError::State { .. } => None,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            SyncError::Config(_) => crate::exit::USAGE,
            _ => crate::exit::FAILURE,
        }
    }
}

/// A command as one line: the first of a multi-line script, marked as cut.
pub fn one_line(command: &str) -> String {
    let mut lines = command.trim().lines();
    let first = lines.next().unwrap_or_default();
    if lines.next().is_some() {
        format!("{first} …")
    } else {
        first.to_owned()
    }
}

fn fails(n: usize) -> String {
    if n == 1 {
        "1 check fails".to_owned()
    } else {
        format!("{n} checks fail")
    }
}

/// The state file of the repo at `root` (absolute) under `state_dir`.
pub fn state_file(state_dir: &Path, root: &Path) -> PathBuf {
    let key: String = Sha256::digest(root.as_os_str().as_encoded_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    state_dir.join("sync").join(format!("{key}.json"))
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// The repo, for a human wondering whose file this is.
    repo: PathBuf,
    /// Step name → its last success.
    steps: BTreeMap<String, Recorded>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Recorded {
    hash: String,
    seconds: f64,
    /// Unix time the step finished.
    finished_at: u64,
}

impl From<StoreError> for SyncError {
    fn from(StoreError { path, source }: StoreError) -> Self {
        SyncError::State { path, source }
    }
}

/// The state, and why it was discarded when it could not be read.
fn load(store: &Store<State>) -> Result<(State, Option<String>), SyncError> {
    Ok(match store.load()? {
        Loaded::Found(state) => (state, None),
        Loaded::Missing => (State::default(), None),
        // Losing it only costs a rerun of idempotent steps.
        Loaded::Corrupt(why) => (State::default(), Some(why)),
    })
}

/// Syncs the repo at `repo_root` with its requirements `reqs`: runs the
/// steps as the module documentation says.
pub fn sync(
    repo_root: &Path,
    env: &HostEnv,
    reqs: &Requirements,
    opts: &SyncOptions,
    observer: &mut dyn Observer,
) -> Result<Vec<StepReport>, SyncError> {
    // One state file per clone, whichever path (or symlink) it is reached by.
    let root = std::fs::canonicalize(repo_root).unwrap_or_else(|_| repo_root.to_owned());
    // Two syncs of one repo would run the same installs into the same
    // venv at once; the second waits for the first.
    let store = Store::open(state_file(&opts.state_dir, &root))?;
    let (mut state, reset) = load(&store)?;
    if let Some(reason) = &reset {
        observer.event(Event::StateReset {
            path: store.path(),
            reason,
        });
    }
    state.repo = root.clone();
    let venv = reqs.python.as_ref().map(|p| root.join(&p.venv));

    let mut reports = Vec::new();
    let site = Site { root: &root, env };
    toolchain(&site, reqs, observer, &mut reports)?;
    // The steps (and the gate's checks) see what the toolchain put in
    // `.devenv/bin`, as the repo's `.envrc` would show it to a shell.
    let env = &with_binroot(&root, env);

    let mut gated = false;
    for step in &reqs.sync {
        let hash = input_hash(&root, step, venv.as_deref())?;
        let unchanged = state.steps.get(&step.name).is_some_and(|r| r.hash == hash);
        if unchanged && !opts.force {
            observer.event(Event::Skipped { step });
            reports.push(StepReport {
                name: step.name.clone(),
                outcome: StepOutcome::Skipped,
                seconds: 0.0,
                hash: Some(hash),
                detail: None,
            });
            continue;
        }
        if !gated {
            gate(&root, env, reqs)?;
            gated = true;
        }

        observer.event(Event::Started { step });
        let started = Instant::now();
        let result = run_step(&root, env, venv.as_deref(), step, opts.stream, observer);
        let elapsed = started.elapsed();
        let seconds = round(elapsed.as_secs_f64());
        match result {
            Ok(()) => {
                observer.event(Event::Ran { step, elapsed });
                state.steps.insert(
                    step.name.clone(),
                    Recorded {
                        hash: hash.clone(),
                        seconds,
                        finished_at: SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .map(|d| d.as_secs())
                            .unwrap_or(0),
                    },
                );
                // Saved after every step, so a later failure keeps this one.
                store.save(&state)?;
                reports.push(StepReport {
                    name: step.name.clone(),
                    outcome: StepOutcome::Ran,
                    seconds,
                    hash: Some(hash),
                    detail: None,
                });
            }
            Err((status, tail)) => {
                observer.event(Event::Failed { step, elapsed });
                // A success recorded before stays only if it was for other
                // inputs, which is the same as no record: drop it, so a
                // failure is never followed by a skip.
                if state.steps.remove(&step.name).is_some() {
                    store.save(&state)?;
                }
                reports.push(StepReport {
                    name: step.name.clone(),
                    outcome: StepOutcome::Failed,
                    seconds,
                    hash: Some(hash),
                    detail: None,
                });
                return Err(SyncError::StepFailed {
                    step: step.name.clone(),
                    command: step.command.clone(),
                    source_at: step.source.clone(),
                    status,
                    seconds,
                    tail: tail.into(),
                    steps: reports,
                });
            }
        }
    }
    Ok(reports)
}

/// Milliseconds are enough for a report, and keep the JSON readable.
fn round(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// Node, pnpm and the venv, in that order (pnpm lives in Node's
/// node-env; the venv's install step may need neither, but it is last so
/// that a broken download is reported before minutes of pip).
fn toolchain(
    site: &Site,
    reqs: &Requirements,
    observer: &mut dyn Observer,
    reports: &mut Vec<StepReport>,
) -> Result<(), SyncError> {
    if let Some(node) = &reqs.node {
        part("node", observer, reports, |o| {
            provision::node::provision(site, node, o).map(Some)
        })?;
    }
    if let Some(pnpm) = &reqs.pnpm {
        part("pnpm", observer, reports, |o| {
            provision::pnpm::provision(site, pnpm, o)
        })?;
    }
    if let Some(python) = &reqs.python {
        // pip installs need pip in the venv; uv sync brings its own.
        let seed = !python
            .install
            .as_deref()
            .is_some_and(|c| c.contains("uv sync"));
        part("venv", observer, reports, |o| {
            provision::venv::provision(site, python, seed, o).map(Some)
        })?;
    }
    Ok(())
}

/// One toolchain part, timed and reported; `None` from `work`: sync does
/// not install this part (nothing reported).
fn part(
    tool: &'static str,
    observer: &mut dyn Observer,
    reports: &mut Vec<StepReport>,
    work: impl FnOnce(&mut dyn Observer) -> Result<Option<Provisioned>, ProvisionError>,
) -> Result<(), SyncError> {
    let started = Instant::now();
    let result = work(observer);
    let elapsed = started.elapsed();
    let (outcome, detail) = match result {
        Ok(None) => return Ok(()),
        Ok(Some(Provisioned::Ready(detail))) => {
            observer.event(Event::ToolReady {
                tool,
                detail: &detail,
            });
            (StepOutcome::Skipped, detail)
        }
        Ok(Some(Provisioned::Installed(detail))) => {
            observer.event(Event::ToolInstalled {
                tool,
                detail: &detail,
                elapsed,
            });
            (StepOutcome::Ran, detail)
        }
        Err(error) => {
            observer.event(Event::ToolFailed { tool, elapsed });
            reports.push(StepReport {
                name: tool.to_owned(),
                outcome: StepOutcome::Failed,
                seconds: round(elapsed.as_secs_f64()),
                hash: None,
                detail: None,
            });
            return Err(SyncError::Provision {
                tool,
                error,
                steps: std::mem::take(reports),
            });
        }
    };
    reports.push(StepReport {
        name: tool.to_owned(),
        outcome,
        seconds: if outcome == StepOutcome::Skipped {
            0.0
        } else {
            round(elapsed.as_secs_f64())
        },
        hash: None,
        detail: Some(detail),
    });
    Ok(())
}

/// `env` with the repo's `.devenv/bin` first on PATH, when it exists.
fn with_binroot(root: &Path, env: &HostEnv) -> HostEnv {
    let bin = root.join(provision::BINROOT);
    let mut env = env.clone();
    if bin.is_dir() {
        let bin = bin.display().to_string();
        let path = match env.get("PATH") {
            Some(path) if path.split(':').any(|p| p == bin) => path.to_owned(),
            Some(path) => format!("{bin}:{path}"),
            None => bin,
        };
        env.set("PATH", path);
    }
    env
}

/// Runs doctor's checks and stops on a blocking failure.
fn gate(root: &Path, env: &HostEnv, reqs: &Requirements) -> Result<(), SyncError> {
    let found = super::doctor_with(root, env, reqs);
    let mut blocking: Vec<Check> = found
        .iter()
        .filter(|c| c.outcome == Outcome::Fail && BLOCKING.contains(&c.id))
        .cloned()
        .collect();
    if blocking.is_empty() {
        Ok(())
    } else {
        // In doctor's order, so the report reads like `devenv doctor`.
        blocking.sort_by_key(|c| checks::ALL.iter().position(|id| *id == c.id));
        Err(SyncError::Blocked { checks: blocking })
    }
}

/// The hash of a step's command and inputs; see the module documentation.
/// Files are streamed through the hash, never held whole: an input
/// directory may hold a database dump or a `node_modules`.
pub fn input_hash(root: &Path, step: &SyncStep, venv: Option<&Path>) -> Result<String, SyncError> {
    let input_error = |(path, source)| SyncError::Input {
        step: step.name.clone(),
        path,
        source,
    };
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    for input in &step.inputs {
        collect(root, input.trim_end_matches('/'), &mut entries).map_err(input_error)?;
    }
    let node = root
        .join(provision::BINROOT)
        .join(provision::NODE_ENV)
        .join(".devrig-node");
    if node.is_file() {
        entries.insert("\0node".to_owned(), Entry::File(node));
    }
    if let Some(venv) = venv {
        let cfg = venv.join("pyvenv.cfg");
        // A key no repo path can have: it cannot collide with an input.
        let key = format!("\0venv:{}", cfg.display());
        let entry = if cfg.is_file() {
            Entry::File(cfg)
        } else {
            Entry::Missing
        };
        entries.insert(key, entry);
    }

    let mut h = Sha256::new();
    field(&mut h, b"devrig sync v1");
    field(&mut h, step.command.as_bytes());
    for (path, entry) in &entries {
        field(&mut h, path.as_bytes());
        match entry {
            Entry::File(file) => {
                field(&mut h, b"file");
                stream_field(&mut h, file).map_err(|e| input_error((path.clone(), e)))?;
            }
            Entry::Link(target) => {
                field(&mut h, b"link");
                field(&mut h, target.as_os_str().as_encoded_bytes());
            }
            Entry::Dir => field(&mut h, b"dir"),
            Entry::Missing => field(&mut h, b"missing"),
        }
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Every field is length-prefixed, so no two different sets of entries
/// feed the same bytes.
fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// [`field`] with a file's contents, read through a small buffer: the
/// length comes from the open file, and a file that shrinks meanwhile is
/// an error rather than a hash of something that never existed.
fn stream_field(h: &mut Sha256, path: &Path) -> io::Result<()> {
    use io::Read;
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    h.update(len.to_le_bytes());
    let mut contents = file.take(len);
    let mut buf = vec![0; 256 * 1024];
    let mut copied = 0;
    loop {
        match contents.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                h.update(&buf[..n]);
                copied += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if copied != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "it changed while it was read; run sync again",
        ));
    }
    Ok(())
}

enum Entry {
    /// A file, read when hashed.
    File(PathBuf),
    /// A link met inside a directory, by its target: followed, a link back
    /// up the tree would never end.
    Link(PathBuf),
    Dir,
    Missing,
}

/// Adds `rel` (a file, or a directory and everything under it) to `entries`.
fn collect(
    root: &Path,
    rel: &str,
    entries: &mut BTreeMap<String, Entry>,
) -> Result<(), (String, io::Error)> {
    let path = root.join(rel);
    let fail = |e| (rel.to_owned(), e);
    // The input itself is followed when it is a link: naming it is asking
    // for what it points to.
    let meta = match std::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            entries.insert(rel.to_owned(), Entry::Missing);
            return Ok(());
        }
        Err(e) => return Err(fail(e)),
    };
    if !meta.is_dir() {
        entries.insert(rel.to_owned(), Entry::File(path));
        return Ok(());
    }
    entries.insert(rel.to_owned(), Entry::Dir);
    let mut pending = vec![(path, rel.to_owned())];
    while let Some((dir, rel_dir)) = pending.pop() {
        for item in std::fs::read_dir(&dir).map_err(|e| (rel_dir.clone(), e))? {
            let item = item.map_err(|e| (rel_dir.clone(), e))?;
            let rel_item = format!("{rel_dir}/{}", item.file_name().to_string_lossy());
            let kind = item.file_type().map_err(|e| (rel_item.clone(), e))?;
            let entry = if kind.is_symlink() {
                Entry::Link(std::fs::read_link(item.path()).map_err(|e| (rel_item.clone(), e))?)
            } else if kind.is_dir() {
                pending.push((item.path(), rel_item.clone()));
                Entry::Dir
            } else {
                Entry::File(item.path())
            };
            entries.insert(rel_item, entry);
        }
    }
    Ok(())
}

/// What a failed step leaves: its status, and its output's last lines.
type StepFailure = (String, VecDeque<String>);

/// Runs one step to completion. Output is read line by line from one pipe
/// that is both stdout and stderr, so the tail shows them interleaved as a
/// terminal would.
fn run_step(
    root: &Path,
    env: &HostEnv,
    venv: Option<&Path>,
    step: &SyncStep,
    stream: bool,
    observer: &mut dyn Observer,
) -> Result<(), StepFailure> {
    let mut env = env.clone();
    if let Some(venv) = venv.filter(|v| v.join("bin").is_dir()) {
        // What `source .venv/bin/activate` does, so that the steps' tools
        // (pip, pre-commit) are the venv's own.
        let bin = venv.join("bin").display().to_string();
        let path = match env.get("PATH") {
            Some(path) => format!("{bin}:{path}"),
            None => bin,
        };
        env.set("PATH", path);
        env.set("VIRTUAL_ENV", venv.display().to_string());
        env.remove("PYTHONHOME");
    }
    let (reader, writer) =
        io::pipe().map_err(|e| (format!("cannot make a pipe: {e}"), VecDeque::new()))?;
    let spawned = {
        // The command is dropped at the end of this block, closing this
        // process's copies of the pipe's write end: the reader then ends
        // when the step (and whatever it started) closes its own.
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(&step.command)
            .current_dir(root)
            .env_clear()
            .envs(env.vars())
            .stdin(Stdio::null());
        match writer.try_clone() {
            Ok(err) => {
                cmd.stdout(writer).stderr(err);
                cmd.spawn()
            }
            Err(e) => Err(e),
        }
    };
    let mut child = spawned.map_err(|e| (format!("cannot run /bin/sh: {e}"), VecDeque::new()))?;

    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buf);
                    let line = text.trim_end_matches(['\n', '\r']);
                    // The last redraw of a `\r` progress line is what a
                    // terminal would show.
                    let line = line.rsplit('\r').next().unwrap_or_default();
                    let line = console::strip_ansi_codes(line).into_owned();
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });

    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES + 1);
    let mut exited: Option<(ExitStatus, Instant)> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                if stream {
                    observer.event(Event::Output { step, line: &line });
                }
                let mut line = line;
                if line.len() > MAX_LINE {
                    let mut cut = MAX_LINE;
                    while !line.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    line.truncate(cut);
                    line.push('…');
                }
                tail.push_back(line);
                if tail.len() > TAIL_LINES {
                    tail.pop_front();
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        match exited {
            // Something the step started in the background still holds the
            // pipe: the step is over, its output so far is what it said.
            Some((_, at)) if at.elapsed() > Duration::from_secs(1) => break,
            Some(_) => {}
            None => {
                if let Ok(Some(status)) = child.try_wait() {
                    exited = Some((status, Instant::now()));
                }
            }
        }
    }
    let status = match exited {
        Some((status, _)) => status,
        None => child
            .wait()
            .map_err(|e| (format!("cannot wait for /bin/sh: {e}"), tail.clone()))?,
    };
    if status.success() {
        Ok(())
    } else {
        Err((describe(status), tail))
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(command: &str, inputs: &[&str]) -> SyncStep {
        SyncStep {
            name: "s".into(),
            command: command.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            source: Source::default_value(),
        }
    }

    #[test]
    fn hash_follows_contents_paths_and_command() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let s = step("true", &["a", "d"]);
        let missing = input_hash(root, &s, None).unwrap();
        std::fs::write(root.join("a"), "1").unwrap();
        let one = input_hash(root, &s, None).unwrap();
        assert_ne!(missing, one, "creating an input changes the hash");
        assert_eq!(one, input_hash(root, &s, None).unwrap(), "stable");

        std::fs::create_dir_all(root.join("d/e")).unwrap();
        let empty_dir = input_hash(root, &s, None).unwrap();
        assert_ne!(one, empty_dir);
        std::fs::write(root.join("d/e/f"), "x").unwrap();
        let nested = input_hash(root, &s, None).unwrap();
        assert_ne!(empty_dir, nested, "directories are walked recursively");
        std::fs::rename(root.join("d/e/f"), root.join("d/e/g")).unwrap();
        assert_ne!(nested, input_hash(root, &s, None).unwrap(), "paths count");

        assert_ne!(
            input_hash(root, &step("false", &["a", "d"]), None).unwrap(),
            input_hash(root, &s, None).unwrap(),
            "the command counts"
        );
        // Order of the listed inputs does not matter: entries are sorted.
        assert_eq!(
            input_hash(root, &step("true", &["d", "a"]), None).unwrap(),
            input_hash(root, &s, None).unwrap()
        );
    }

    /// The encoding is fixed: records written by earlier devrigs (which
    /// read files whole) still match, so an upgrade re-runs nothing. The
    /// value is the v1 encoding computed independently; the large file
    /// spans several reads.
    #[test]
    fn the_hash_of_a_tree_is_its_v1_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a"), "1").unwrap();
        std::fs::create_dir_all(root.join("d/e")).unwrap();
        std::fs::write(root.join("d/e/f"), "x".repeat(300_000)).unwrap();
        std::os::unix::fs::symlink("../a", root.join("d/l")).unwrap();
        assert_eq!(
            input_hash(root, &step("true", &["a", "d"]), None).unwrap(),
            "b649c7064a189d1264b6994001a4d64e076dc6e401c1b34f7a372fb09427bbf0"
        );
    }

    #[test]
    fn a_link_loop_inside_an_input_directory_ends() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("d/up")).unwrap();
        input_hash(dir.path(), &step("true", &["d"]), None).unwrap();
    }

    #[test]
    fn blocked_reads_as_a_sentence() {
        let one = SyncError::Blocked {
            checks: vec![Check::fail(id::NODE_VERSION, "x", None)],
        };
        assert_eq!(
            one.to_string(),
            "the toolchain is not ready to sync: 1 check fails"
        );
    }

    #[test]
    fn steps_run_with_the_venv_first_on_path_and_no_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join(".venv");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        let env = HostEnv::from_vars([("PATH", "/usr/bin:/bin")]);
        let mut lines = Vec::new();
        let mut observer = |e: Event<'_>| {
            if let Event::Output { line, .. } = e {
                lines.push(line.to_owned());
            }
        };
        // `cat` ends at once: stdin is closed, not the caller's terminal.
        let s = step("cat; echo \"$PATH\"; echo \"$VIRTUAL_ENV\"", &[]);
        run_step(dir.path(), &env, Some(&venv), &s, true, &mut observer).unwrap();
        assert_eq!(
            lines,
            [
                format!("{}/bin:/usr/bin:/bin", venv.display()),
                venv.display().to_string()
            ]
        );
    }
}
