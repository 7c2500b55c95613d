//! `up`: start a mode's containers, wait until they are ready, then hand
//! its programs to the repo's supervisor (dependencies toggled to local
//! first, from their own checkouts).
//!
//! The service is recorded in the state before any container is made, and
//! what was found ready is recorded after, also when the wait was
//! interrupted: refcounts stay right after Ctrl-C, and the next `up`
//! converges.

use super::programs::{self, Selection};
use super::pulls::PullPolicy;
use super::{Error, Event, Observer, Session, StackEvents, Target, context};
use crate::plan::remote::FetchPolicy;
use crate::plan::{Plan, Unit, UnitKind};
use crate::stack;
use crate::state::Active;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What to bring up.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub target: Target,
    pub mode: String,
    pub fetch: FetchPolicy,
    /// Pull every image through this registry (`HOST[:PORT]`).
    pub mirror: Option<String>,
    pub programs: Selection,
    /// Dependencies toggled to run locally are not started (devservices'
    /// `--exclude-local`).
    pub exclude_local: bool,
    /// Which images are pulled (`--offline` pulls none).
    pub pull: PullPolicy,
}

/// What is up.
#[derive(Debug, Clone)]
pub struct UpReport {
    pub project: String,
    pub mode: String,
    /// From the first container's start to the last one ready.
    pub elapsed: Duration,
}

pub fn up(opts: &UpOptions, observer: &dyn Observer) -> Result<UpReport, Error> {
    up_in(&Session::interruptible()?, opts, observer)
}

/// [`up`] in `session` (interruptible), using its engine connection: for
/// operations that bring up several repos.
pub fn up_in(
    session: &Session,
    opts: &UpOptions,
    observer: &dyn Observer,
) -> Result<UpReport, Error> {
    super::tighten::tighten(observer);
    let config = opts.target.load(observer)?;
    let timeout = Duration::from_secs(config.meta.healthcheck_timeout);
    let plan = context::resolve(config, &opts.mode, opts.fetch, observer)?;
    // Nothing is created while two services claim the same port or name.
    if let Some(conflicts) = Error::many(plan.conflicts.iter().cloned().map(Error::from).collect())
    {
        return Err(conflicts);
    }
    programs::check_ports(&plan, &opts.programs)?;
    start_local_services(session, opts, &plan, observer)?;
    let (available, early) = mpsc::channel();
    let (containers, early) = std::thread::scope(|scope| {
        let starter = scope.spawn(|| start_early(&plan, &opts.programs, early, observer));
        let events = EarlyStarts {
            observer,
            available,
        };
        let containers = session.block_on(containers(session, opts, &plan, timeout, &events));
        // With the observer goes the sender: the starter has heard everything.
        drop(events);
        let early = starter.join().expect("the early starter does not panic");
        (containers, early)
    });
    let early = early?;
    let started = match containers {
        Ok(started) => started,
        Err(e) => {
            if !early.is_empty() {
                observer.event(Event::StartedBeforeFailure(early));
            }
            return Err(e);
        }
    };
    // The other programs come after every container is ready, as
    // devservices starts supervisord after `docker compose up --wait`.
    programs::start(&plan, &opts.programs, &early, session.cancel(), observer)?;
    let report = UpReport {
        project: plan.root.clone(),
        mode: plan.mode.clone(),
        elapsed: started.elapsed(),
    };
    observer.event(Event::ServiceUp {
        project: report.project.clone(),
        mode: report.mode.clone(),
        elapsed: report.elapsed,
    });
    Ok(report)
}

/// Brings the plan's containers up and records them in the state. Returns
/// when the last one is ready (the time it started counting from).
async fn containers(
    session: &Session,
    opts: &UpOptions,
    plan: &Plan,
    timeout: Duration,
    observer: &EarlyStarts<'_>,
) -> Result<Instant, Error> {
    let engine = session.engine(observer).await?;
    let cancel = session.cancel();
    super::remote::check(engine, plan)?;
    // Held until the state is saved.
    let (store, mut state) = context::locked_state(engine, cancel, observer).await?;
    let root = &plan.projects[&plan.root];
    let mut saved = state.clone();
    state.services.insert(
        plan.root.clone(),
        Active {
            mode: plan.mode.clone(),
            config_file: root.config.file.clone(),
            // Local services are not run by this plan; their own
            // entries say what they use.
            projects: plan
                .projects
                .keys()
                .filter(|p| !plan.local.contains(p))
                .cloned()
                .collect(),
            local: plan.local.clone(),
        },
    );
    // Intent first: whatever is created from here on is ours, also if
    // this `up` never gets to its end. (Unchanged, as on a no-op `up`, it
    // is not written again.)
    if state != saved {
        store.save(&state)?;
        saved = state.clone();
    }
    let plan = &*super::remote::prepare(engine, plan, observer).await?;
    let policy = if matches!(opts.fetch, FetchPolicy::Offline) {
        PullPolicy::Never
    } else {
        opts.pull
    };
    let specs = stack::specs(plan, opts.mirror.as_deref());
    let stack_opts = stack::up::UpOptions {
        mirror: opts.mirror.clone(),
        timeout,
        probe_interval: Duration::from_millis(100),
        seen_ready: state.ready.clone().into_iter().collect(),
        cancel: cancel.clone(),
        pulls: super::pulls::plan(policy, &specs),
    };
    let started = Instant::now();
    let outcome = stack::up::up(engine, plan, &stack_opts, &StackEvents(observer)).await;
    super::pulls::checked(&outcome.rechecked)?;
    state.ready.extend(outcome.ready);
    if state != saved {
        store.save(&state)?;
    }
    if outcome.interrupted {
        return Err(Error::Interrupted {
            kept: "containers made so far are complete and kept; run `up` again to finish",
        });
    }
    match Error::many(outcome.errors.into_iter().map(Error::from).collect()) {
        None => Ok(started),
        Some(e) => Err(e),
    }
}

/// Services toggled to run locally start from their own checkouts, in
/// their default mode, before this plan (as devservices does), unless they
/// already run.
fn start_local_services(
    session: &Session,
    opts: &UpOptions,
    plan: &Plan,
    observer: &dyn Observer,
) -> Result<(), Error> {
    if opts.exclude_local {
        for service in &plan.local {
            observer.event(Event::Warning(format!(
                "skipping {service}: it is toggled to run locally (--exclude-local)"
            )));
        }
        return Ok(());
    }
    let state = context::peek_state();
    for service in &plan.local {
        let Some(runtime) = state.local.get(service) else {
            continue;
        };
        let already_running = state.services.contains_key(service);
        observer.event(Event::LocalStarting {
            service: service.clone(),
            checkout: runtime.checkout.clone(),
            already_running,
        });
        if already_running {
            continue;
        }
        up_in(
            session,
            &UpOptions {
                target: Target::file(runtime.config_file()),
                mode: super::DEFAULT_MODE.to_owned(),
                fetch: opts.fetch,
                mirror: opts.mirror.clone(),
                programs: Selection::all(),
                // Its own local dependencies come up too (devservices skips
                // them, which its own code marks as a bug to fix).
                exclude_local: false,
                pull: opts.pull,
            },
            observer,
        )?;
    }
    Ok(())
}

/// Passes events on, and tells the early starter which containers are
/// available.
struct EarlyStarts<'a> {
    observer: &'a dyn Observer,
    available: mpsc::Sender<Unit>,
}

impl Observer for EarlyStarts<'_> {
    fn event(&self, event: Event) {
        if let Event::Stack(stack::Event::Available { project, service }) = &event {
            // The starter is gone only if it failed; it reports that itself.
            let _ = self.available.send(Unit {
                project: project.clone(),
                name: service.clone(),
                kind: UnitKind::Container,
            });
        }
        self.observer.event(event);
    }
}

/// Starts each program whose `depends_on` narrows what it needs as soon as
/// those containers are available, while the rest of the plan comes up.
/// Returns the programs it started.
fn start_early(
    plan: &Plan,
    selection: &Selection,
    available: mpsc::Receiver<Unit>,
    observer: &dyn Observer,
) -> Result<Vec<String>, Error> {
    let mut waiting: Vec<_> = programs::specs(plan, selection)
        .into_iter()
        .filter_map(|spec| Some((plan.needs.get(&spec.name)?.clone(), spec)))
        .collect();
    let mut seen: Vec<Unit> = Vec::new();
    let mut started = Vec::new();
    loop {
        let (ready, rest): (Vec<_>, Vec<_>) = waiting
            .into_iter()
            .partition(|(needs, _)| needs.iter().all(|u| seen.contains(u)));
        waiting = rest;
        if !ready.is_empty() {
            let specs: Vec<_> = ready.into_iter().map(|(_, spec)| spec).collect();
            for spec in &specs {
                observer.event(Event::Note(format!(
                    "{}: what it needs is ready; starting it",
                    spec.name
                )));
                started.push(spec.name.clone());
            }
            programs::apply(&plan.root, specs)?;
        }
        if waiting.is_empty() {
            return Ok(started);
        }
        match available.recv() {
            Ok(unit) => seen.push(unit),
            Err(_) => return Ok(started),
        }
    }
}
