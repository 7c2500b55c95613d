//! `up`: pull what is missing, create networks and volumes, then start every
//! container as soon as what it depends on is ready, and wait until each is
//! really ready (its healthcheck test passes, probed by devrig itself).
//!
//! Every container is its own task: a slow service (snuba) holds back only
//! the containers that depend on it. The work they do on the engine is
//! bounded: at most [`PULLS`] pulls, [`STARTS`] creates/starts and
//! [`PROBES`] probes at a time, so a 30-service stack does not open 30
//! exec sessions at once. A cancelled token (Ctrl-C) ends the wait; what
//! was found ready so far is still reported.

use super::{Event, Observer, StackError, ports};
use crate::config::compose::Condition;
use crate::engine::spec::{ContainerSpec, LABEL_CONFIG_HASH};
use crate::engine::{Container, Engine, EngineError, Health, RunState, probe, pull};
use crate::plan::Plan;
use crate::state::Ready;
use futures_util::StreamExt;
use futures_util::future::{BoxFuture, FutureExt, Shared, join_all};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

pub struct UpOptions {
    pub mirror: Option<String>,
    /// How long a container may take to become ready.
    pub timeout: Duration,
    /// Pause between two probes of one container.
    pub probe_interval: Duration,
    /// Containers seen ready before: name → the start time they had then.
    /// One still running from that same start is ready without a probe,
    /// which keeps a no-op `up` from re-probing a stack whose Docker
    /// healthchecks have not run yet.
    pub seen_ready: HashMap<String, Ready>,
    /// Cancelled by Ctrl-C: stop waiting.
    pub cancel: CancellationToken,
    /// Which images may be pulled.
    pub pulls: Pulls,
}

/// Which images `up` pulls.
#[derive(Debug, Clone, Default)]
pub struct Pulls {
    /// An image that is not here is pulled (else `up` fails naming it).
    pub missing: bool,
    /// These are pulled again although they are here (moving tags due for
    /// a re-check, or every image with `--pull always`). A container whose
    /// image changed is recreated; the others are left alone. A re-check
    /// that fails is a warning: the image that is here is used.
    pub recheck: HashSet<String>,
}

/// What `up` found ready (name → start time), and what failed.
pub struct UpReport {
    pub ready: HashMap<String, Ready>,
    pub errors: Vec<StackError>,
    /// The wait was cancelled before every container was ready.
    pub interrupted: bool,
    /// The images re-checked against their registry.
    pub rechecked: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnitState {
    Pending,
    Started,
    Ready,
    Completed,
    Failed,
}

/// How often a still-waiting container is reported.
const WAITING_REPORT: Duration = Duration::from_secs(1);
/// Docker's default healthcheck timeout, used when the config sets none.
const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Pulls at a time: registries and links are shared, more only queue.
pub const PULLS: usize = 4;
/// Container creates and starts at a time.
pub const STARTS: usize = 8;
/// Healthcheck probes (exec sessions) at a time.
pub const PROBES: usize = 8;

struct Ctx<'a> {
    engine: &'a Engine,
    plan: &'a Plan,
    opts: &'a UpOptions,
    observer: &'a dyn Observer,
    existing: HashMap<String, Container>,
    /// `project/service` → its state, watched by the containers that depend on it.
    states: HashMap<String, watch::Sender<UnitState>>,
    /// Containers some dependent waits on to exit successfully.
    one_shots: HashSet<String>,
    ready: &'a Mutex<HashMap<String, Ready>>,
    /// Image → its re-check, which yields the image's id after it (`None`
    /// when the re-check failed).
    rechecks: Rechecks<'a>,
    starts: Semaphore,
    probes: Semaphore,
}

pub async fn up(
    engine: &Engine,
    plan: &Plan,
    opts: &UpOptions,
    observer: &dyn Observer,
) -> UpReport {
    let ready = Mutex::new(HashMap::new());
    let outcome = tokio::select! {
        outcome = run(engine, plan, opts, observer, &ready) => Some(outcome),
        _ = opts.cancel.cancelled() => None,
    };
    let ready = ready.into_inner().unwrap_or_default();
    match outcome {
        Some(Ok((errors, rechecked))) => UpReport {
            ready,
            errors,
            interrupted: false,
            rechecked,
        },
        Some(Err(errors)) => UpReport {
            ready,
            errors,
            interrupted: false,
            rechecked: Vec::new(),
        },
        // What was re-checked is not recorded: the next `up` checks again.
        None => UpReport {
            ready,
            errors: Vec::new(),
            interrupted: true,
            rechecked: Vec::new(),
        },
    }
}

/// Image → its re-check (see [`Pulls::recheck`]).
type Rechecks<'a> = HashMap<String, Shared<BoxFuture<'a, Option<String>>>>;

async fn run(
    engine: &Engine,
    plan: &Plan,
    opts: &UpOptions,
    observer: &dyn Observer,
    ready: &Mutex<HashMap<String, Ready>>,
) -> Result<(Vec<StackError>, Vec<String>), Vec<StackError>> {
    let specs = super::specs(plan, opts.mirror.as_deref());
    let projects: Vec<String> = plan.projects.keys().cloned().collect();
    let existing: HashMap<String, Container> = engine
        .containers(&projects)
        .await
        .map_err(|e| vec![e.into()])?
        .into_iter()
        .map(|c| (c.name.clone(), c))
        .collect();
    // Everything that could refuse to start is checked before anything is made.
    let others = engine.containers(&[]).await.map_err(|e| vec![e.into()])?;
    ports::preflight(engine, plan, &specs, &others)
        .await
        .map_err(|e| vec![e])?;
    let ceiling = match &engine.endpoint.address {
        crate::engine::endpoint::Address::Unix(socket) => crate::sys::engine_nofile_ceiling(socket),
        _ => None,
    };
    ports::ulimits_preflight(plan, &specs, ceiling).map_err(|e| vec![e])?;

    let rechecks = prepare(engine, &specs, &existing, &opts.pulls, observer)
        .await
        .map_err(|e| vec![e])?;

    let mut one_shots = HashSet::new();
    for project in plan.projects.values() {
        for svc in project
            .services
            .iter()
            .filter_map(|s| project.config.services.get(s))
        {
            for (dep, on) in &svc.depends_on {
                if on.condition == Condition::ServiceCompletedSuccessfully {
                    one_shots.insert(format!("{}/{dep}", project.config.project()));
                }
            }
        }
    }
    let ctx = Ctx {
        engine,
        plan,
        opts,
        observer,
        existing,
        states: specs
            .iter()
            .map(|s| (key(s), watch::channel(UnitState::Pending).0))
            .collect(),
        one_shots,
        ready,
        rechecks,
        starts: Semaphore::new(STARTS),
        probes: Semaphore::new(PROBES),
    };
    let results = join_all(specs.iter().map(|spec| async {
        let result = run_unit(&ctx, spec).await;
        let state = match &result {
            Ok(state) => *state,
            Err(_) => UnitState::Failed,
        };
        if matches!(
            state,
            UnitState::Ready | UnitState::Completed | UnitState::Started
        ) {
            ctx.observer.event(Event::Available {
                project: spec.project.clone(),
                service: spec.service.clone(),
            });
        }
        ctx.states[&key(spec)].send_replace(state);
        result
    }))
    .await;
    let rechecked = ctx
        .rechecks
        .iter()
        .filter(|(_, check)| check.peek().is_some_and(Option::is_some))
        .map(|(image, _)| image.clone())
        .collect();
    Ok((
        results.into_iter().filter_map(Result::err).collect(),
        rechecked,
    ))
}

fn key(spec: &ContainerSpec) -> String {
    format!("{}/{}", spec.project, spec.service)
}

/// Pulls missing images (in parallel, bounded), starts the re-checks of
/// the present images `pulls` names (awaited by the containers that use
/// them), then makes networks and volumes.
async fn prepare<'a>(
    engine: &'a Engine,
    specs: &[ContainerSpec],
    existing: &HashMap<String, Container>,
    pulls: &Pulls,
    observer: &'a dyn Observer,
) -> Result<Rechecks<'a>, StackError> {
    // Images of containers to be made, and images to re-check.
    let mut images: Vec<(String, Option<String>)> = Vec::new();
    for spec in specs {
        let current = existing
            .get(&spec.name)
            .and_then(|c| c.label(LABEL_CONFIG_HASH))
            .is_some_and(|h| h == spec.config_hash);
        let wanted = !current || pulls.recheck.contains(&spec.image);
        if wanted && !images.iter().any(|(i, _)| *i == spec.image) {
            images.push((spec.image.clone(), spec.platform.clone()));
        }
    }
    let present: Vec<Result<bool, EngineError>> = futures_util::stream::iter(&images)
        .map(|(image, _)| pull::present(engine, image))
        .buffered(PULLS)
        .collect()
        .await;
    let mut missing = Vec::new();
    let mut rechecks = Rechecks::new();
    for ((image, platform), present) in images.into_iter().zip(present) {
        if !present? {
            if !pulls.missing {
                return Err(StackError::ImageMissing { image });
            }
            missing.push((image, platform));
        } else if pulls.recheck.contains(&image) {
            let check = recheck(engine, image.clone(), platform, observer)
                .boxed()
                .shared();
            rechecks.insert(image, check);
        }
    }
    let pulled = futures_util::stream::iter(&missing).map(|(image, platform)| async move {
        observer.event(Event::PullStarted {
            image: image.to_owned(),
        });
        pull_reporting(engine, image, platform.as_deref(), observer).await?;
        observer.event(Event::PullDone {
            image: image.to_owned(),
        });
        Ok::<(), EngineError>(())
    });
    let results: Vec<_> = pulled.buffer_unordered(PULLS).collect().await;
    for result in results {
        result?;
    }
    let mut seen = HashSet::new();
    for net in specs.iter().flat_map(|s| &s.networks) {
        if seen.insert(&net.name) && engine.ensure_network(net).await? {
            observer.event(Event::Resource {
                verb: "Created",
                what: format!("network {}", net.name),
            });
        }
    }
    let mut seen = HashSet::new();
    for vol in specs.iter().flat_map(|s| &s.volumes) {
        if seen.insert(&vol.name) && engine.ensure_volume(vol).await? {
            observer.event(Event::Resource {
                verb: "Created",
                what: format!("volume {}", vol.name),
            });
        }
    }
    Ok(rechecks)
}

/// Pulls `image`, its progress and retries going to `observer`.
async fn pull_reporting(
    engine: &Engine,
    image: &str,
    platform: Option<&str>,
    observer: &dyn Observer,
) -> Result<(), EngineError> {
    let report = |progress: &pull::Progress| {
        observer.event(Event::PullProgress {
            image: image.to_owned(),
            progress: progress.clone(),
        })
    };
    let retrying = |attempt: u32, reason: &str| {
        observer.event(Event::PullRetry {
            image: image.to_owned(),
            attempt,
            reason: reason.to_owned(),
        })
    };
    pull::pull(engine, image, platform, &report, &retrying).await
}

/// Pulls a present `image` again; its id afterwards, `None` (and a
/// warning) when the registry could not be asked.
async fn recheck(
    engine: &Engine,
    image: String,
    platform: Option<String>,
    observer: &dyn Observer,
) -> Option<String> {
    let before = pull::image_id(engine, &image).await.ok().flatten();
    observer.event(Event::PullStarted {
        image: image.clone(),
    });
    let outcome = pull_reporting(engine, &image, platform.as_deref(), observer).await;
    let after = match outcome {
        Ok(()) => pull::image_id(engine, &image).await.ok().flatten(),
        Err(e) => {
            observer.event(Event::RecheckFailed {
                image: image.clone(),
                reason: e.to_string(),
            });
            return None;
        }
    };
    observer.event(Event::Rechecked {
        image: image.clone(),
        changed: after != before,
    });
    after
}

async fn run_unit(ctx: &Ctx<'_>, spec: &ContainerSpec) -> Result<UnitState, StackError> {
    let service = &ctx.plan.projects[&spec.project].config.services[&spec.service];
    for (dep, on) in &service.depends_on {
        let dep_key = format!("{}/{dep}", spec.project);
        let Some(sender) = ctx.states.get(&dep_key) else {
            continue;
        };
        let mut rx = sender.subscribe();
        let satisfied = |s: &UnitState| match on.condition {
            Condition::ServiceStarted => matches!(
                s,
                UnitState::Started | UnitState::Ready | UnitState::Completed
            ),
            Condition::ServiceHealthy => matches!(s, UnitState::Ready | UnitState::Completed),
            Condition::ServiceCompletedSuccessfully => *s == UnitState::Completed,
        };
        let state = *rx
            .wait_for(|s| satisfied(s) || *s == UnitState::Failed)
            .await
            .map_err(|_| StackError::DependencyFailed {
                container: spec.name.clone(),
                dependency: dep.clone(),
            })?;
        if state == UnitState::Failed && on.required {
            return Err(StackError::DependencyFailed {
                container: spec.name.clone(),
                dependency: dep.clone(),
            });
        }
    }

    let current = ctx.existing.get(&spec.name);
    let running = current.is_some_and(Container::is_running);
    let same_config = current
        .and_then(|c| c.label(LABEL_CONFIG_HASH))
        .is_some_and(|h| h == spec.config_hash);
    // A re-checked image that changed: only its containers are recreated.
    let new_image = match ctx.rechecks.get(&spec.image) {
        Some(check) => check
            .clone()
            .await
            .is_some_and(|id| current.is_some_and(|c| c.image_id != id)),
        None => false,
    };
    let same_config = same_config && !new_image;
    let engine = ctx.engine;
    let permit = ctx.starts.acquire().await;
    match (current, same_config, running) {
        (Some(_), true, true) => ctx.observer.event(Event::Unchanged {
            container: spec.name.clone(),
        }),
        (Some(_), true, false) => {
            engine
                .start(&spec.name)
                .await
                .map_err(|e| refused(e, ctx, spec))?;
            ctx.observer.event(Event::Started {
                container: spec.name.clone(),
            });
        }
        (Some(_), false, _) => {
            engine.remove(&spec.name).await?;
            create_and_start(ctx, spec).await?;
            ctx.observer.event(Event::Recreated {
                container: spec.name.clone(),
                because: if new_image {
                    "a newer image"
                } else {
                    "config changed"
                },
            });
        }
        (None, _, _) => {
            create_and_start(ctx, spec).await?;
            ctx.observer.event(Event::Created {
                container: spec.name.clone(),
            });
        }
    }
    drop(permit);
    ctx.states[&key(spec)].send_replace(UnitState::Started);

    if ctx.one_shots.contains(&key(spec)) {
        return wait_exit(ctx, spec).await;
    }
    // A running, unchanged container that Docker already reports healthy
    // needs no probe: this keeps a no-op `up` to one engine query.
    let already_healthy =
        running && same_config && current.and_then(|c| c.health) == Some(Health::Healthy);
    if already_healthy {
        return Ok(UnitState::Ready);
    }
    if running && same_config {
        let state = container_state(ctx, spec).await?;
        let unhealthy = state.health == Some(Health::Unhealthy);
        if let Some(started_at) = &state.started_at
            && let Some(seen) = ctx.opts.seen_ready.get(&spec.name)
            && seen.is_run(&state.id, started_at)
            && !unhealthy
        {
            // Still the run found ready before: its record stays as it was.
            if let Ok(mut ready) = ctx.ready.lock() {
                ready.insert(spec.name.clone(), seen.clone());
            }
            return Ok(UnitState::Ready);
        }
    }
    wait_ready(ctx, spec, service).await
}

/// Creates `spec`'s container (labelled with its image's id) and starts it.
async fn create_and_start(ctx: &Ctx<'_>, spec: &ContainerSpec) -> Result<(), StackError> {
    let engine = ctx.engine;
    engine
        .create(&with_image_label(engine, spec).await?)
        .await
        .map_err(|e| refused(e, ctx, spec))?;
    engine
        .start(&spec.name)
        .await
        .map_err(|e| refused(e, ctx, spec))?;
    Ok(())
}

/// The engine's refusal to create or start `spec`'s container, as the
/// error that names the service and its definition's line: a ulimit it
/// cannot grant (runc's `error setting rlimit type 7: operation not
/// permitted`) at that ulimit's line, anything else at the service's, the
/// engine's words kept. A lost or unreachable engine stays that error.
fn refused(e: EngineError, ctx: &Ctx<'_>, spec: &ContainerSpec) -> StackError {
    let EngineError::Api { message, .. } = &e else {
        return e.into();
    };
    let project = &ctx.plan.projects[&spec.project];
    let Some(service) = project.config.services.get(&spec.service) else {
        return e.into();
    };
    let Some(kind) = message
        .split("error setting rlimit type ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u32>().ok())
    else {
        return StackError::Refused {
            service: format!("{}/{}", spec.project, spec.service),
            config_file: project.config.file.clone(),
            pos: service.pos,
            source: e,
        };
    };
    // Linux's RLIMIT_* numbers, by compose's names.
    const NAMES: [&str; 16] = [
        "cpu",
        "fsize",
        "data",
        "stack",
        "core",
        "rss",
        "nproc",
        "nofile",
        "memlock",
        "as",
        "locks",
        "sigpending",
        "msgqueue",
        "nice",
        "rtprio",
        "rttime",
    ];
    let name = NAMES.get(kind as usize).copied().unwrap_or("?").to_owned();
    StackError::UlimitRefused {
        service: format!("{}/{}", spec.project, spec.service),
        pos: service.ulimits_at.get(&name).copied(),
        name,
        engine: message.clone(),
        config_file: project.config.file.clone(),
    }
}

/// `spec` with compose's image label: the id of the image it is created
/// from (compose recreates a container whose image id no longer matches).
async fn with_image_label(
    engine: &Engine,
    spec: &ContainerSpec,
) -> Result<ContainerSpec, EngineError> {
    let mut spec = spec.clone();
    if let Some(id) = pull::image_id(engine, &spec.image).await? {
        spec.add_label(crate::engine::spec::LABEL_IMAGE, &id);
    }
    Ok(spec)
}

/// Records that `state`'s run of the container is ready, now.
fn mark_ready(ctx: &Ctx<'_>, spec: &ContainerSpec, state: &RunState) {
    let Some(started_at) = &state.started_at else {
        return;
    };
    if let Ok(mut ready) = ctx.ready.lock() {
        ready.insert(
            spec.name.clone(),
            Ready {
                id: state.id.clone(),
                started_at: started_at.clone(),
                ready_at: jiff::Timestamp::now().to_string(),
            },
        );
    }
}

async fn wait_ready(
    ctx: &Ctx<'_>,
    spec: &ContainerSpec,
    service: &crate::config::Service,
) -> Result<UnitState, StackError> {
    let started = Instant::now();
    let healthcheck = service.healthcheck.as_ref();
    let probe_timeout = healthcheck
        .and_then(|h| h.timeout)
        .map_or(DEFAULT_PROBE_TIMEOUT, |t| t.as_std());
    let mut last_output: Option<String> = None;
    let mut last_report = Instant::now();
    // The start seen running on the previous poll.
    let mut previous_start: Option<String> = None;
    loop {
        let state = container_state(ctx, spec).await?;
        if !state.running && !state.restarting {
            return Err(StackError::Exited {
                container: spec.name.clone(),
                code: state.exit_code.unwrap_or(-1),
                logs: ctx.engine.tail(&spec.name, 20).await,
            });
        }
        // The test the container has: the config's, or, when the config
        // gives none (or only timings), its image's own HEALTHCHECK; none
        // when disabled (`NONE`).
        let command = state.healthcheck.as_deref().and_then(probe::command);
        let docker_healthy = state.health == Some(Health::Healthy);
        let ready = match (&command, docker_healthy) {
            // A restarting container is between two runs: never ready.
            _ if state.restarting => {
                last_output = Some("the container is restarting".to_owned());
                false
            }
            (_, true) => true,
            // Without a healthcheck, a run that lasted one probe interval:
            // a container that crashes at once is not ready for the moment
            // it ran.
            (None, false) => {
                let lasted = previous_start.is_some() && previous_start == state.started_at;
                previous_start.clone_from(&state.started_at);
                lasted
            }
            (Some(cmd), false) => {
                let _permit = ctx.probes.acquire().await;
                match probe::run(ctx.engine, &spec.name, cmd, probe_timeout).await? {
                    probe::Outcome::Passed => true,
                    probe::Outcome::Failed { exit_code, output } => {
                        last_output = Some(match exit_code {
                            Some(code) if output.is_empty() => format!("exit code {code}"),
                            _ => output,
                        });
                        false
                    }
                }
            }
        };
        if ready {
            mark_ready(ctx, spec, &state);
            ctx.observer.event(Event::Ready {
                container: spec.name.clone(),
                after: started.elapsed(),
            });
            return Ok(UnitState::Ready);
        }
        if started.elapsed() >= ctx.opts.timeout {
            return Err(StackError::Timeout {
                container: spec.name.clone(),
                timeout: ctx.opts.timeout,
                last_output,
                logs: ctx.engine.tail(&spec.name, 20).await,
            });
        }
        if last_report.elapsed() >= WAITING_REPORT {
            last_report = Instant::now();
            ctx.observer.event(Event::Waiting {
                container: spec.name.clone(),
                on: "healthcheck".to_owned(),
                waited: started.elapsed(),
                last_output: last_output.clone(),
            });
        }
        tokio::time::sleep(ctx.opts.probe_interval).await;
    }
}

async fn container_state(ctx: &Ctx<'_>, spec: &ContainerSpec) -> Result<RunState, EngineError> {
    ctx.engine.run_state(&spec.name).await
}

/// A one-shot setup container (migrations, topic creation) is done when it
/// exits 0: that is success, not a failure to stay up.
async fn wait_exit(ctx: &Ctx<'_>, spec: &ContainerSpec) -> Result<UnitState, StackError> {
    let started = Instant::now();
    loop {
        let state = container_state(ctx, spec).await?;
        if !state.running {
            let code = state.exit_code.unwrap_or(-1);
            if code == 0 {
                ctx.observer.event(Event::Completed {
                    container: spec.name.clone(),
                });
                return Ok(UnitState::Completed);
            }
            return Err(StackError::Exited {
                container: spec.name.clone(),
                code,
                logs: ctx.engine.tail(&spec.name, 20).await,
            });
        }
        if started.elapsed() >= ctx.opts.timeout {
            return Err(StackError::Timeout {
                container: spec.name.clone(),
                timeout: ctx.opts.timeout,
                last_output: Some("still running; it should exit when done".to_owned()),
                logs: ctx.engine.tail(&spec.name, 20).await,
            });
        }
        tokio::time::sleep(ctx.opts.probe_interval).await;
    }
}
