//! `snapshot`: named copies of a mode's volumes, saved once and restored in
//! seconds, so a migrated database is not migrated again on every branch
//! switch or CI job.
//!
//! - `save` stops (or with `pause`, freezes) each running container whose
//!   volume it copies, copies, and brings the stack back as it was, also
//!   after Ctrl-C or an error; a save that does not finish leaves no
//!   snapshot (see [`stored`]).
//! - `restore` refuses when another repo's running container uses a
//!   volume, or when the snapshot's PostgreSQL data is of another major
//!   than the service's image runs; then stops the containers, replaces
//!   the volumes' contents and starts them again, waiting until they are
//!   ready as `up` does.
//! - `list`, `rm`, and `export`/`import` (a zstd-compressed tar: the
//!   manifest, then the volumes' files) for CI.
//!
//! Copies run in helper containers on the engine ([`copy`]), copy-on-write
//! where the engine's filesystem can.

mod archive;
mod copy;
mod stored;

pub use stored::Snapshot;

use super::{Error, Event, Observer, Session, StackEvents, Target, context};
use crate::engine::spec::ContainerSpec;
use crate::engine::{Engine, pull};
use crate::plan::remote::FetchPolicy;
use crate::plan::{Plan, UnitKind};
use crate::stack;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One saved volume, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedVolume {
    /// The volume the service mounts (`<project>_<key>`), which `restore`
    /// fills again.
    pub volume: String,
    /// `project/service` of the containers that mount it.
    pub services: Vec<String>,
    /// The service's image, which copies it.
    pub image: String,
    /// Bytes on disk.
    pub size: u64,
    /// The PostgreSQL major of its data (its `PG_VERSION`), when it holds a
    /// PostgreSQL data directory.
    pub postgres: Option<String>,
    /// The engine volume holding the copy (not in archives).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stored: String,
}

/// What a snapshot step is for, as its progress shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Save,
    Restore,
    Export,
    Import,
}

/// How a volume's files were copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Copy-on-write clones (xfs, btrfs): near-constant time.
    Reflink,
    /// Every byte read and written.
    Copy,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Reflink => "reflink",
            Method::Copy => "copy",
        }
    }
}

/// What a snapshot operation reports while it runs.
#[derive(Debug, Clone)]
pub enum Step {
    /// A container frozen for the copy (`save --pause`).
    Paused {
        container: String,
    },
    Unpaused {
        container: String,
    },
    /// Copying (or streaming) `volume` began; `total` bytes to go (0 when
    /// unknown).
    Copying {
        action: Action,
        volume: String,
        total: u64,
    },
    Progress {
        volume: String,
        done: u64,
    },
    Copied {
        action: Action,
        volume: String,
        bytes: u64,
        method: Option<Method>,
        elapsed: Duration,
    },
    /// A volume of the snapshot that no service of the plan mounts: not
    /// restored.
    Unused {
        volume: String,
    },
}

/// Why a snapshot operation refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("`{name}` is not a snapshot name")]
    BadName { name: String },
    #[error("{repo} has no snapshot `{name}`")]
    NotFound {
        name: String,
        repo: String,
        known: Vec<String>,
    },
    #[error("{repo} has a snapshot `{name}` already")]
    Exists { name: String, repo: String },
    #[error("nothing to save: {}", why)]
    NothingToSave { why: String },
    #[error("nothing to restore: {} of snapshot `{name}` ({})", if services.is_empty() { "no service of this plan mounts a volume".to_owned() } else { format!("{} mount{} no volume", services.join(", "), if services.len() == 1 { "s" } else { "" }) }, volumes.join(", "))]
    NothingToRestore {
        name: String,
        /// The services asked for (none: the whole plan).
        services: Vec<String>,
        volumes: Vec<String>,
    },
    #[error("volume {volume} is in use by {container}{}, which is running", project.as_ref().map(|p| format!(" (project {p})")).unwrap_or_default())]
    InUse {
        volume: String,
        container: String,
        project: Option<String>,
    },
    #[error(
        "snapshot `{name}` holds PostgreSQL {saved} data ({volume}), but {service} runs PostgreSQL {current} ({image})"
    )]
    PostgresMismatch {
        name: String,
        volume: String,
        saved: String,
        service: String,
        current: String,
        image: String,
    },
    #[error("no image of the stack can copy {volume}: {}", refused.join("; "))]
    NoTools {
        volume: String,
        refused: Vec<String>,
    },
    #[error("copying {volume} with {image} failed (exit code {code})")]
    CopyFailed {
        volume: String,
        image: String,
        code: i64,
        output: Vec<String>,
    },
    #[error("{} is not a devrig snapshot archive: {why}", path.display())]
    BadArchive { path: PathBuf, why: String },
}

impl SnapshotError {
    pub fn hint(&self) -> Option<String> {
        match self {
            SnapshotError::BadName { .. } => Some(
                "a name is up to 64 letters, digits, `.`, `_` and `-`, starting with a letter or digit"
                    .to_owned(),
            ),
            SnapshotError::NotFound { known, .. } if known.is_empty() => {
                Some("save one with `devrig snapshot save NAME`".to_owned())
            }
            SnapshotError::NotFound { known, .. } => {
                Some(format!("its snapshots: {}", known.join(", ")))
            }
            SnapshotError::Exists { name, .. } => Some(format!(
                "pass --force to replace it, or pick another name (`devrig snapshot rm {name}` deletes it)"
            )),
            SnapshotError::NothingToSave { .. } => Some(
                "snapshots hold named volumes (`volumes:` with a name, not a host path); run `up` first so they exist"
                    .to_owned(),
            ),
            SnapshotError::NothingToRestore { .. } => Some(
                "a snapshot is restored into the volumes of the same names; check the mode (`--mode`) and the services named"
                    .to_owned(),
            ),
            SnapshotError::InUse { container, .. } => Some(format!(
                "stop it first (`devrig down` in its repo, or `docker stop {container}`); nothing was changed"
            )),
            SnapshotError::PostgresMismatch { .. } => Some(
                "PostgreSQL cannot read another major's data directory: restore with the image it was saved with, or save a new snapshot; nothing was changed"
                    .to_owned(),
            ),
            SnapshotError::NoTools { .. } => Some(
                "a copy runs `/bin/sh` with cp, du, find and stat in the service's own image (or another image of the stack); use an image that has them"
                    .to_owned(),
            ),
            SnapshotError::CopyFailed { .. } => {
                Some("the stack is back as it was; see the copy's output above".to_owned())
            }
            SnapshotError::BadArchive { .. } => Some(
                "pass a file written by `devrig snapshot export`".to_owned(),
            ),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            SnapshotError::BadName { .. }
            | SnapshotError::NotFound { .. }
            | SnapshotError::Exists { .. }
            | SnapshotError::NothingToSave { .. }
            | SnapshotError::NothingToRestore { .. } => crate::exit::USAGE,
            _ => crate::exit::FAILURE,
        }
    }

    /// The copy's own output, for the error report.
    pub fn details(&self) -> &[String] {
        match self {
            SnapshotError::CopyFailed { output, .. } => output,
            _ => &[],
        }
    }
}

/// Which repo, mode and services a snapshot is about.
#[derive(Debug, Clone)]
pub struct Selection {
    pub target: Target,
    pub mode: String,
    pub fetch: FetchPolicy,
    pub mirror: Option<String>,
    /// Services (or `project/service`, or container names); every
    /// container of the plan when empty.
    pub services: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SaveOptions {
    pub name: String,
    pub selection: Selection,
    /// Freeze the containers (cgroup freezer) instead of stopping them:
    /// no restart, and a copy as consistent as a power cut.
    pub pause: bool,
    /// Replace a snapshot of that name.
    pub force: bool,
}

#[derive(Debug, Clone)]
pub struct RestoreOptions {
    pub name: String,
    pub selection: Selection,
}

#[derive(Debug, Clone)]
pub struct ListOptions {
    pub target: Target,
    /// Every repo's snapshots on the engine, not only this repo's.
    pub all: bool,
}

#[derive(Debug, Clone)]
pub struct RemoveOptions {
    pub target: Target,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub target: Target,
    pub name: String,
    pub file: PathBuf,
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub file: PathBuf,
    /// The name to import it as (default: the name it was saved under).
    pub name: Option<String>,
    pub force: bool,
}

/// One volume copied.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    pub volume: String,
    pub bytes: u64,
    pub method: Method,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SaveReport {
    pub snapshot: Snapshot,
    pub copies: Vec<CopyReport>,
    /// The snapshot of that name it replaced.
    pub replaced: bool,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub name: String,
    pub copies: Vec<CopyReport>,
    /// Volumes of the snapshot no service of the plan mounts: not restored.
    pub unused: Vec<String>,
    /// Containers started again (and ready).
    pub started: Vec<String>,
    /// Containers not running before, left so: `up` starts them.
    pub not_started: Vec<String>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListReport {
    pub snapshots: Vec<Snapshot>,
    /// Saves that never finished (killed): their volumes, until `rm`.
    pub incomplete: Vec<stored::Incomplete>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RemoveReport {
    pub name: String,
    pub volumes: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub name: String,
    pub file: PathBuf,
    /// The archive's size.
    pub bytes: u64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub snapshot: Snapshot,
    pub replaced: bool,
    pub seconds: f64,
}

fn check_name(name: &str) -> Result<(), SnapshotError> {
    if stored::valid_name(name) {
        Ok(())
    } else {
        Err(SnapshotError::BadName {
            name: name.to_owned(),
        })
    }
}

/// The plan, its containers, and those the selection names.
struct Resolved {
    plan: Plan,
    specs: Vec<ContainerSpec>,
    chosen: Vec<ContainerSpec>,
    /// How long a restarted container may take to be ready.
    timeout: Duration,
    config_file: PathBuf,
}

fn resolve(selection: &Selection, observer: &dyn Observer) -> Result<Resolved, Error> {
    let config = selection.target.load(observer)?;
    let timeout = Duration::from_secs(config.meta.healthcheck_timeout);
    let config_file = config.file.clone();
    let plan = context::resolve(config, &selection.mode, selection.fetch, observer)?;
    let specs = stack::specs(&plan, selection.mirror.as_deref());
    let chosen = context::select(specs.clone(), &selection.services)?;
    Ok(Resolved {
        plan,
        specs,
        chosen,
        timeout,
        config_file,
    })
}

/// A volume of the plan and the containers that mount it.
struct Planned<'a> {
    volume: String,
    /// Every container of the plan mounting it, the selected ones first.
    users: Vec<&'a ContainerSpec>,
    /// Images to copy it with: its users' first, then the plan's others.
    images: Vec<String>,
}

/// The named volumes of `chosen`, each once.
fn planned<'a>(chosen: &'a [ContainerSpec], all: &'a [ContainerSpec]) -> Vec<Planned<'a>> {
    let mut out: Vec<Planned<'a>> = Vec::new();
    for spec in chosen {
        for vol in &spec.volumes {
            if out.iter().any(|p| p.volume == vol.name) {
                continue;
            }
            out.push(planned_volume(&vol.name, chosen, all));
        }
    }
    out
}

fn planned_volume<'a>(
    volume: &str,
    chosen: &'a [ContainerSpec],
    all: &'a [ContainerSpec],
) -> Planned<'a> {
    let mounts = |s: &&ContainerSpec| s.volumes.iter().any(|v| v.name == volume);
    let mut users: Vec<&ContainerSpec> = chosen.iter().filter(mounts).collect();
    for spec in all.iter().filter(mounts) {
        if !users.iter().any(|u| u.name == spec.name) {
            users.push(spec);
        }
    }
    let mut images: Vec<String> = Vec::new();
    for spec in users.iter().copied().chain(all.iter()) {
        if !images.contains(&spec.image) {
            images.push(spec.image.clone());
        }
    }
    Planned {
        volume: volume.to_owned(),
        users,
        images,
    }
}

/// `plan` reduced to `containers`, for bringing just those back with
/// `up`'s own readiness.
fn only(plan: &Plan, containers: &[&ContainerSpec]) -> Plan {
    let mut reduced = plan.clone();
    reduced.levels = plan
        .levels
        .iter()
        .map(|level| {
            level
                .iter()
                .filter(|u| {
                    u.kind == UnitKind::Container
                        && containers
                            .iter()
                            .any(|s| s.project == u.project && s.service == u.name)
                })
                .cloned()
                .collect::<Vec<_>>()
        })
        .filter(|level| !level.is_empty())
        .collect();
    reduced
}

/// Pulls `image` when the engine lacks it (the service's own image is what
/// copies its volume).
async fn ensure_image(engine: &Engine, image: &str, observer: &dyn Observer) -> Result<(), Error> {
    if pull::present(engine, image).await? {
        return Ok(());
    }
    let stack = StackEvents(observer);
    use crate::stack::Observer as _;
    stack.event(stack::Event::PullStarted {
        image: image.to_owned(),
    });
    pull::pull(engine, image, None, &|_| {}, &|_, _| {}).await?;
    stack.event(stack::Event::PullDone {
        image: image.to_owned(),
    });
    Ok(())
}

/// Removes helper containers a killed devrig left behind for this repo
/// (they would hold snapshot volumes). Run under the state lock, so no
/// other snapshot operation of the repo is running.
async fn clear_helpers(engine: &Engine, repo: &str) -> Result<(), Error> {
    for id in engine
        .containers_labelled(&format!("{}={repo}", stored::LABEL_HELPER))
        .await?
    {
        engine.remove_helper(&id).await?;
    }
    Ok(())
}

/// `purge --snapshots`: every snapshot on the engine (every repo's), and
/// what interrupted saves left. Returns how many volumes went.
pub(crate) async fn purge(engine: &Engine, observer: &dyn Observer) -> Result<usize, Error> {
    let (snapshots, incomplete) = stored::all(engine).await?;
    let removed = stored::remove_everything(engine).await?;
    let stack = StackEvents(observer);
    use crate::stack::Observer as _;
    let names = snapshots
        .iter()
        .map(|s| (&s.repo, &s.name))
        .chain(incomplete.iter().map(|i| (&i.repo, &i.name)));
    let mut seen = Vec::new();
    for (repo, name) in names {
        if !seen.contains(&(repo, name)) {
            seen.push((repo, name));
            stack.event(stack::Event::Resource {
                verb: "Removed",
                what: format!("snapshot {name} of {repo}"),
            });
        }
    }
    Ok(removed)
}

fn seconds(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 100.0).round() / 100.0
}

/// The first 12 hex digits of the SHA-256 of `file`.
fn file_hash(file: &std::path::Path) -> Result<String, Error> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(file).map_err(|source| Error::Io {
        action: "read",
        path: file.to_owned(),
        source,
    })?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The commit checked out in the repo holding `config_file`, if it is a
/// git checkout.
fn git_commit(config_file: &std::path::Path) -> Option<String> {
    let dir = config_file.parent()?;
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !commit.is_empty()).then_some(commit)
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

/// `save NAME`: copies the selected containers' named volumes into a new
/// snapshot.
pub fn save(opts: &SaveOptions, observer: &dyn Observer) -> Result<SaveReport, Error> {
    check_name(&opts.name)?;
    let resolved = resolve(&opts.selection, observer)?;
    let session = Session::interruptible()?;
    session.block_on(save_on_engine(opts, &resolved, session.cancel(), observer))
}

async fn save_on_engine(
    opts: &SaveOptions,
    resolved: &Resolved,
    cancel: &CancellationToken,
    observer: &dyn Observer,
) -> Result<SaveReport, Error> {
    let started = Instant::now();
    let config_hash = file_hash(&resolved.config_file)?;
    let engine = context::engine(observer).await?;
    let (store, mut state) = context::locked_state(&engine, cancel, observer).await?;
    let repo = resolved.plan.root.clone();
    clear_helpers(&engine, &repo).await?;
    let replaced = stored::find(&engine, &repo, &opts.name).await?.is_some();
    if replaced && !opts.force {
        return Err(SnapshotError::Exists {
            name: opts.name.clone(),
            repo,
        }
        .into());
    }
    let mut jobs = Vec::new();
    for p in planned(&resolved.chosen, &resolved.specs) {
        if engine.volume_exists(&p.volume).await? {
            jobs.push(p);
        } else {
            observer.event(Event::Warning(format!(
                "volume {} does not exist yet (`up` creates it); not saved",
                p.volume
            )));
        }
    }
    if jobs.is_empty() {
        let names: Vec<&str> = resolved.chosen.iter().map(|s| s.name.as_str()).collect();
        return Err(SnapshotError::NothingToSave {
            why: format!("{} mount no named volume that exists", names.join(", ")),
        }
        .into());
    }
    for job in &jobs {
        for other in engine.volume_users(&job.volume).await? {
            if other.is_running() && !job.users.iter().any(|u| u.name == other.name) {
                observer.event(Event::Warning(format!(
                    "{} (not of this plan) runs with volume {} mounted: its copy may be inconsistent",
                    other.name, job.volume
                )));
            }
        }
        ensure_image(&engine, &job.images[0], observer).await?;
    }

    let (running, _) = running_users(&engine, resolved, &jobs).await?;
    let reason = format!("saving snapshot {}", opts.name);
    let quiet = if opts.pause {
        Quiet::Paused
    } else {
        Quiet::Stopped
    };
    let (quiesced, mut failures) = quiesce(&engine, &running, quiet, &reason, observer).await;

    // Copy, unless quiescing failed or Ctrl-C came first.
    let id = stored::new_id();
    let mut created: Vec<String> = Vec::new();
    let mut volumes: Vec<SavedVolume> = Vec::new();
    let mut copies: Vec<CopyReport> = Vec::new();
    if failures.is_empty() && !cancel.is_cancelled() {
        let results = in_parallel(jobs.iter(), |job| {
            let (engine, repo, id, name) = (&engine, &repo, &id, &opts.name);
            async move {
                let to = match stored::create_data(engine, repo, name, id, &job.volume).await {
                    Ok(to) => to,
                    Err(e) => return (None, Err(e.into())),
                };
                let job_copy = copy::Copy {
                    action: Action::Save,
                    volume: &job.volume,
                    from: &job.volume,
                    to: &to,
                    images: &job.images,
                    repo,
                };
                let copied = copy::copy(engine, &job_copy, cancel, observer).await;
                (Some(to), copied)
            }
        })
        .await;
        for (job, (to, result)) in jobs.iter().zip(results) {
            created.extend(to.clone());
            match result {
                Ok(Some(c)) => {
                    copies.push(CopyReport::of(&job.volume, &c));
                    volumes.push(SavedVolume {
                        volume: job.volume.clone(),
                        services: job
                            .users
                            .iter()
                            .map(|u| format!("{}/{}", u.project, u.service))
                            .collect(),
                        image: job.images[0].clone(),
                        size: c.bytes,
                        postgres: c.postgres,
                        stored: to.unwrap_or_default(),
                    });
                }
                Ok(None) => {}
                Err(e) => failures.push(e),
            }
        }
    }
    let interrupted = failures.is_empty() && volumes.len() < jobs.len();

    // The stack as it was, whatever happened above, and not cut short by
    // the Ctrl-C that may have ended the copy.
    let back = Resume {
        engine: &engine,
        resolved,
        mirror: opts.selection.mirror.as_deref(),
        store: &store,
        observer,
    }
    .run(&quiesced, quiet, &CancellationToken::new(), &mut state)
    .await;

    if !failures.is_empty() || interrupted {
        for volume in created.iter().rev() {
            engine.remove_volume(volume).await?;
        }
        if interrupted {
            failures.push(Error::Interrupted {
                kept: "no snapshot was saved, and the stack is back as it was",
            });
        }
        if let Err(e) = back {
            failures.push(e);
        }
        return Err(Error::many(failures).expect("a failure"));
    }
    let mut services: Vec<String> = Vec::new();
    for service in volumes.iter().flat_map(|v| &v.services) {
        if !services.contains(service) {
            services.push(service.clone());
        }
    }
    let snapshot = Snapshot {
        format: stored::FORMAT,
        name: opts.name.clone(),
        repo: repo.clone(),
        mode: resolved.plan.mode.clone(),
        created: now_rfc3339(),
        services,
        size: volumes.iter().map(|v| v.size).sum(),
        volumes,
        config_hash,
        commit: git_commit(&resolved.config_file),
        devrig: env!("CARGO_PKG_VERSION").to_owned(),
        id: id.clone(),
    };
    if let Err(e) = stored::commit(&engine, &snapshot).await {
        for volume in created.iter().rev() {
            engine.remove_volume(volume).await?;
        }
        return Err(e.into());
    }
    if replaced {
        stored::remove(&engine, &repo, &opts.name, Some(&id)).await?;
    }
    back?;
    Ok(SaveReport {
        snapshot,
        copies,
        replaced,
        seconds: seconds(started),
    })
}

/// Copies (and other engine work) at a time: each is a helper container,
/// and their disk work is what they share.
const COPIES: usize = 3;

/// `work` for each of `items`, [`COPIES`] at a time; the results in the
/// order of `items`.
async fn in_parallel<'a, T: 'a, R, F>(
    items: impl Iterator<Item = &'a T>,
    work: impl Fn(&'a T) -> F,
) -> Vec<R>
where
    F: std::future::Future<Output = R>,
{
    let mut results: Vec<(usize, R)> = futures_util::stream::iter(items.enumerate())
        .map(|(n, item)| {
            let future = work(item);
            async move { (n, future.await) }
        })
        .buffer_unordered(COPIES)
        .collect()
        .await;
    results.sort_by_key(|(n, _)| *n);
    results.into_iter().map(|(_, r)| r).collect()
}

/// The plan's containers mounting the jobs' volumes, split into running
/// and not, each once.
async fn running_users<'a>(
    engine: &Engine,
    resolved: &Resolved,
    jobs: &[Planned<'a>],
) -> Result<(Vec<&'a ContainerSpec>, Vec<String>), Error> {
    let projects: Vec<String> = resolved.plan.projects.keys().cloned().collect();
    let now: HashMap<String, bool> = engine
        .containers(&projects)
        .await?
        .into_iter()
        .map(|c| (c.name.clone(), c.is_running()))
        .collect();
    let mut running: Vec<&ContainerSpec> = Vec::new();
    let mut idle: Vec<String> = Vec::new();
    for spec in jobs.iter().flat_map(|j| j.users.iter().copied()) {
        if running.iter().any(|r| r.name == spec.name) || idle.contains(&spec.name) {
            continue;
        }
        if now.get(&spec.name) == Some(&true) {
            running.push(spec);
        } else {
            idle.push(spec.name.clone());
        }
    }
    Ok((running, idle))
}

/// How the containers are kept from writing during a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quiet {
    /// Stopped with its stop signal and grace period (a clean shutdown).
    Stopped,
    /// Stopped at once: everything it writes to is about to be replaced,
    /// so a clean shutdown would only cost time.
    Replaced,
    /// Frozen by the cgroup freezer.
    Paused,
}

/// Stops (or pauses) `running`, in parallel. Returns those it did, and
/// what failed.
async fn quiesce<'a>(
    engine: &Engine,
    running: &[&'a ContainerSpec],
    how: Quiet,
    reason: &str,
    observer: &dyn Observer,
) -> (Vec<&'a ContainerSpec>, Vec<Error>) {
    let results = in_parallel(running.iter(), |spec| async move {
        let result = match how {
            Quiet::Paused => engine.pause(&spec.name).await,
            Quiet::Stopped => engine.stop(&spec.name, None).await.map(drop),
            Quiet::Replaced => engine
                .stop(&spec.name, Some(Duration::ZERO))
                .await
                .map(drop),
        };
        if result.is_ok() {
            observer.event(match how {
                Quiet::Paused => Event::Snapshot(Step::Paused {
                    container: spec.name.clone(),
                }),
                Quiet::Stopped | Quiet::Replaced => Event::ContainerStopped {
                    container: spec.name.clone(),
                    reason: reason.to_owned(),
                },
            });
        }
        result
    })
    .await;
    let mut done = Vec::new();
    let mut failures = Vec::new();
    for (spec, result) in running.iter().zip(results) {
        match result {
            Ok(()) => done.push(*spec),
            Err(e) => failures.push(e.into()),
        }
    }
    (done, failures)
}

/// What undoing [`quiesce`] needs: the plan, to bring containers back
/// with `up`'s readiness, and the state, to record them ready.
struct Resume<'a> {
    engine: &'a Engine,
    resolved: &'a Resolved,
    mirror: Option<&'a str>,
    store: &'a crate::state::Store,
    observer: &'a dyn Observer,
}

impl Resume<'_> {
    /// Unpauses `quiesced`, or starts them and waits until they are ready
    /// as `up` does (`Ok(false)` when `cancel` ended that wait).
    async fn run(
        &self,
        quiesced: &[&ContainerSpec],
        how: Quiet,
        cancel: &CancellationToken,
        state: &mut crate::state::State,
    ) -> Result<bool, Error> {
        let (engine, observer) = (self.engine, self.observer);
        if quiesced.is_empty() {
            return Ok(true);
        }
        if how == Quiet::Paused {
            let results = in_parallel(quiesced.iter(), |spec| async move {
                let result = engine.unpause(&spec.name).await;
                if result.is_ok() {
                    observer.event(Event::Snapshot(Step::Unpaused {
                        container: spec.name.clone(),
                    }));
                }
                result
            })
            .await;
            let errors = results
                .into_iter()
                .filter_map(Result::err)
                .map(Error::from)
                .collect();
            return Error::many(errors).map_or(Ok(true), Err);
        }
        let opts = stack::up::UpOptions {
            mirror: self.mirror.map(str::to_owned),
            timeout: self.resolved.timeout,
            probe_interval: Duration::from_millis(100),
            seen_ready: HashMap::new(),
            cancel: cancel.clone(),
            // The containers come back as they were: their images are
            // here, and a snapshot is no time to move a tag.
            pulls: stack::up::Pulls {
                missing: true,
                ..Default::default()
            },
        };
        let report = stack::up::up(
            engine,
            &only(&self.resolved.plan, quiesced),
            &opts,
            &StackEvents(observer),
        )
        .await;
        if !report.ready.is_empty() {
            state.ready.extend(report.ready);
            self.store.save(state)?;
        }
        match Error::many(report.errors.into_iter().map(Error::from).collect()) {
            Some(e) => Err(e),
            None => Ok(!report.interrupted),
        }
    }
}

impl CopyReport {
    fn of(volume: &str, copied: &copy::Copied) -> CopyReport {
        CopyReport {
            volume: volume.to_owned(),
            bytes: copied.bytes,
            method: copied.method,
            seconds: (copied.elapsed.as_secs_f64() * 100.0).round() / 100.0,
        }
    }
}

/// `restore NAME`: puts a snapshot's contents back into the plan's volumes.
pub fn restore(opts: &RestoreOptions, observer: &dyn Observer) -> Result<RestoreReport, Error> {
    check_name(&opts.name)?;
    let resolved = resolve(&opts.selection, observer)?;
    let session = Session::interruptible()?;
    session.block_on(restore_on_engine(
        opts,
        &resolved,
        session.cancel(),
        observer,
    ))
}

async fn restore_on_engine(
    opts: &RestoreOptions,
    resolved: &Resolved,
    cancel: &CancellationToken,
    observer: &dyn Observer,
) -> Result<RestoreReport, Error> {
    let started = Instant::now();
    let engine = context::engine(observer).await?;
    let (store, mut state) = context::locked_state(&engine, cancel, observer).await?;
    let repo = resolved.plan.root.clone();
    clear_helpers(&engine, &repo).await?;
    let Some(snapshot) = stored::find(&engine, &repo, &opts.name).await? else {
        return Err(SnapshotError::NotFound {
            name: opts.name.clone(),
            known: stored::names(&engine, &repo).await?,
            repo,
        }
        .into());
    };

    // Which saved volume goes where.
    let mut saved: Vec<&SavedVolume> = Vec::new();
    let mut jobs: Vec<Planned> = Vec::new();
    let mut unused = Vec::new();
    for volume in &snapshot.volumes {
        let planned = planned_volume(&volume.volume, &resolved.chosen, &resolved.specs);
        let selected = planned
            .users
            .iter()
            .any(|u| resolved.chosen.iter().any(|c| c.name == u.name));
        if planned.users.is_empty() {
            observer.event(Event::Snapshot(Step::Unused {
                volume: volume.volume.clone(),
            }));
            unused.push(volume.volume.clone());
        } else if selected {
            saved.push(volume);
            jobs.push(planned);
        }
    }
    if jobs.is_empty() {
        return Err(SnapshotError::NothingToRestore {
            name: opts.name.clone(),
            services: opts.selection.services.clone(),
            volumes: snapshot.volumes.iter().map(|v| v.volume.clone()).collect(),
        }
        .into());
    }

    // Refusals, before anything changes.
    for job in &jobs {
        for other in engine.volume_users(&job.volume).await? {
            if other.is_running() && !job.users.iter().any(|u| u.name == other.name) {
                return Err(SnapshotError::InUse {
                    volume: job.volume.clone(),
                    project: other
                        .label(crate::engine::spec::LABEL_PROJECT)
                        .map(str::to_owned),
                    container: other.name,
                }
                .into());
            }
        }
    }
    for (volume, job) in saved.iter().zip(&jobs) {
        ensure_image(&engine, &job.images[0], observer).await?;
        let Some(major) = &volume.postgres else {
            continue;
        };
        let user = job.users[0];
        match copy::image_postgres(&engine, &user.image, &repo).await? {
            Some(current) if &current != major => {
                return Err(SnapshotError::PostgresMismatch {
                    name: opts.name.clone(),
                    volume: volume.volume.clone(),
                    saved: major.clone(),
                    service: format!("{}/{}", user.project, user.service),
                    current,
                    image: user.image.clone(),
                }
                .into());
            }
            Some(_) => {}
            None => observer.event(Event::Warning(format!(
                "{} holds PostgreSQL {major} data, but {} has no PostgreSQL to check it against",
                volume.volume, user.image
            ))),
        }
    }
    if cancel.is_cancelled() {
        return Err(Error::Interrupted {
            kept: "nothing was changed",
        });
    }

    // Stop, replace, start.
    let (running, not_started) = running_users(&engine, resolved, &jobs).await?;
    let reason = format!("restoring snapshot {}", opts.name);
    // A container whose every writable mount is about to be replaced is
    // stopped at once; one that also writes elsewhere shuts down cleanly.
    let restored: Vec<&str> = jobs.iter().map(|j| j.volume.as_str()).collect();
    let mut replaced = Vec::new();
    let mut others = Vec::new();
    for spec in running {
        let mounts = engine.mounts(&spec.name).await?;
        let discarded = mounts.iter().all(|m| {
            !m.writable
                || m.kind == "tmpfs"
                || (m.kind == "volume" && m.name.as_deref().is_some_and(|n| restored.contains(&n)))
        });
        if discarded {
            replaced.push(spec);
        } else {
            others.push(spec);
        }
    }
    let ((mut stopped, mut failures), (clean, more)) = tokio::join!(
        quiesce(&engine, &replaced, Quiet::Replaced, &reason, observer),
        quiesce(&engine, &others, Quiet::Stopped, &reason, observer),
    );
    stopped.extend(clean);
    failures.extend(more);
    // Ctrl-C from here on does not cut a copy short: a half-copied volume
    // would be worse than either the snapshot or the data it replaces.
    let mut copies = Vec::new();
    if failures.is_empty() {
        let never = CancellationToken::new();
        let results = in_parallel(
            saved.iter().zip(&jobs).collect::<Vec<_>>().iter(),
            |(volume, job)| {
                let (engine, repo, never) = (&engine, &repo, &never);
                async move {
                    ensure_target(engine, job, observer).await?;
                    let job_copy = copy::Copy {
                        action: Action::Restore,
                        volume: &job.volume,
                        from: &volume.stored,
                        to: &job.volume,
                        images: &job.images,
                        repo,
                    };
                    copy::copy(engine, &job_copy, never, observer).await
                }
            },
        )
        .await;
        for (job, result) in jobs.iter().zip(results) {
            match result {
                Ok(Some(c)) => copies.push(CopyReport::of(&job.volume, &c)),
                Ok(None) => {}
                Err(e) => failures.push(e),
            }
        }
    }
    // A Ctrl-C during the copies ends only the wait for readiness after.
    let wait = if cancel.is_cancelled() {
        CancellationToken::new()
    } else {
        cancel.clone()
    };
    let back = Resume {
        engine: &engine,
        resolved,
        mirror: opts.selection.mirror.as_deref(),
        store: &store,
        observer,
    }
    .run(&stopped, Quiet::Stopped, &wait, &mut state)
    .await;
    if !failures.is_empty() {
        failures.extend(back.err());
        return Err(Error::many(failures).expect("a failure"));
    }
    if !back? {
        return Err(Error::Interrupted {
            kept: "the snapshot is restored and its containers were started; `devrig status` shows when they are ready",
        });
    }
    Ok(RestoreReport {
        name: opts.name.clone(),
        copies,
        unused,
        started: stopped.iter().map(|s| s.name.clone()).collect(),
        not_started,
        seconds: seconds(started),
    })
}

/// Creates the volume a restore fills when it does not exist yet (after a
/// `purge --volumes`), labelled as `up` labels it.
async fn ensure_target(
    engine: &Engine,
    job: &Planned<'_>,
    observer: &dyn Observer,
) -> Result<(), Error> {
    let spec = job
        .users
        .iter()
        .find_map(|u| u.volumes.iter().find(|v| v.name == job.volume));
    if let Some(spec) = spec
        && engine.ensure_volume(spec).await?
    {
        use crate::stack::Observer as _;
        StackEvents(observer).event(stack::Event::Resource {
            verb: "Created",
            what: format!("volume {}", spec.name),
        });
    }
    Ok(())
}

/// `list`: the repo's snapshots (every repo's with `all`), oldest first.
pub fn list(opts: &ListOptions, observer: &dyn Observer) -> Result<ListReport, Error> {
    let repo = if opts.all {
        None
    } else {
        Some(opts.target.load(observer)?.project().to_owned())
    };
    Session::new()?.block_on(async {
        let engine = context::engine(observer).await?;
        let (snapshots, incomplete) = stored::all(&engine).await?;
        let ours = |r: &str| repo.as_deref().is_none_or(|x| x == r);
        Ok(ListReport {
            snapshots: snapshots.into_iter().filter(|s| ours(&s.repo)).collect(),
            incomplete: incomplete.into_iter().filter(|i| ours(&i.repo)).collect(),
        })
    })
}

/// `rm NAME`: deletes the snapshot's volumes, and nothing else.
pub fn remove(opts: &RemoveOptions, observer: &dyn Observer) -> Result<RemoveReport, Error> {
    check_name(&opts.name)?;
    let repo = opts.target.load(observer)?.project().to_owned();
    Session::new()?.block_on(async {
        let engine = context::engine(observer).await?;
        let cancel = CancellationToken::new();
        let _lock = context::locked_state(&engine, &cancel, observer).await?;
        let removed = stored::remove(&engine, &repo, &opts.name, None).await?;
        if removed == 0 {
            return Err(SnapshotError::NotFound {
                name: opts.name.clone(),
                known: stored::names(&engine, &repo).await?,
                repo,
            }
            .into());
        }
        Ok(RemoveReport {
            name: opts.name.clone(),
            volumes: removed,
        })
    })
}

/// `export NAME FILE`: the snapshot as one portable archive.
pub fn export(opts: &ExportOptions, observer: &dyn Observer) -> Result<ExportReport, Error> {
    check_name(&opts.name)?;
    let repo = opts.target.load(observer)?.project().to_owned();
    let session = Session::interruptible()?;
    session.block_on(async {
        let started = Instant::now();
        let engine = context::engine(observer).await?;
        let (_store, _) = context::locked_state(&engine, session.cancel(), observer).await?;
        let Some(snapshot) = stored::find(&engine, &repo, &opts.name).await? else {
            return Err(SnapshotError::NotFound {
                name: opts.name.clone(),
                known: stored::names(&engine, &repo).await?,
                repo,
            }
            .into());
        };
        let bytes =
            archive::export(&engine, &snapshot, &opts.file, session.cancel(), observer).await?;
        Ok(ExportReport {
            name: opts.name.clone(),
            file: opts.file.clone(),
            bytes,
            seconds: seconds(started),
        })
    })
}

/// `import FILE [NAME]`: an exported archive as a snapshot on this engine.
pub fn import(opts: &ImportOptions, observer: &dyn Observer) -> Result<ImportReport, Error> {
    if let Some(name) = &opts.name {
        check_name(name)?;
    }
    // A file that is no archive is refused before any engine is asked.
    let opened = archive::open(&opts.file, opts.name.as_deref())?;
    let session = Session::interruptible()?;
    session.block_on(async {
        let started = Instant::now();
        let engine = context::engine(observer).await?;
        let (_store, _) = context::locked_state(&engine, session.cancel(), observer).await?;
        let (snapshot, replaced) =
            archive::import(&engine, opened, opts.force, session.cancel(), observer).await?;
        Ok(ImportReport {
            snapshot,
            replaced,
            seconds: seconds(started),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Variables};

    fn specs() -> Vec<ContainerSpec> {
        let config = config::load_str(
            std::path::Path::new("/src/app/devservices/config.yml"),
            config_text(),
            &Variables::from_pairs([]),
        )
        .unwrap();
        ["db", "migrate", "cache"]
            .iter()
            .map(|s| crate::engine::spec::container("app", &config, &config.services[*s], None))
            .collect()
    }

    fn config_text() -> &'static str {
        indoc::indoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: app
              dependencies:
                db: {}
                migrate: {}
                cache: {}
              modes:
                default: [db, migrate, cache]
            services:
              db:
                image: postgres:14
                volumes: [pg:/var/lib/postgresql/data]
              migrate:
                image: migrator:1
                volumes: [pg:/data]
              cache:
                image: redis:7
                volumes: [cache:/data, ./conf:/conf]
            volumes:
              pg: {}
              cache: {}
        "}
    }

    #[test]
    fn each_volume_once_with_every_container_that_mounts_it() {
        let all = specs();
        let chosen = vec![all[0].clone()];
        let db = planned(&chosen, &all);
        assert_eq!(db.len(), 1);
        assert_eq!(db[0].volume, "app_pg");
        let users: Vec<&str> = db[0].users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(users, ["app-db-1", "app-migrate-1"]);
        assert_eq!(
            db[0].images,
            ["postgres:14", "migrator:1", "redis:7"],
            "the service's own image first, then the others of the stack"
        );
        let everything = planned(&all, &all);
        let volumes: Vec<&str> = everything.iter().map(|p| p.volume.as_str()).collect();
        assert_eq!(
            volumes,
            ["app_pg", "app_cache"],
            "bind mounts are not volumes"
        );
    }
}
