//! `devrig up`: start a mode's containers, wait until they are ready, then
//! hand its programs to the repo's supervisor (local dependencies first).

use super::{CmdResult, GlobalArgs, exit, report};
use super::{context, programs};
use crate::plan::{Unit, UnitKind};
use crate::stack::{self, Event, Observer, up::UpOptions};
use crate::state::Active;
use crate::ui::{Diagnostic, Printer, progress::Progress};
use clap::Args;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub plan: context::PlanArgs,
    /// Programs not to start (`serve` runs the dev server itself)
    #[arg(skip)]
    pub skip_programs: Vec<String>,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: UpArgs) -> CmdResult {
    let config = context::load(printer, global)?;
    let timeout = Duration::from_secs(config.meta.healthcheck_timeout);
    let plan = context::resolve(
        printer,
        config,
        &args.plan.mode,
        context::up_policy(&args.plan.remote),
    )?;
    // Nothing is created while two services claim the same port or name.
    if let Some((last, rest)) = plan.conflicts.split_last() {
        for c in rest {
            printer.error(&report::conflict(c));
        }
        return Err(report::conflict(last));
    }
    programs::check_ports(&plan, &args.skip_programs)?;
    start_local_services(printer, global, &args, &plan)?;
    let rt = context::runtime()?;
    let (available, early) = std::sync::mpsc::channel();
    let early_starts = std::thread::scope(|scope| {
        let starter = scope.spawn(|| start_early(printer, &plan, &args.skip_programs, early));
        let observer = EarlyStarts {
            progress: Progress::new(printer),
            available,
        };
        let containers = rt.block_on(containers(printer, &args, &plan, timeout, &observer));
        // With the observer goes the sender: the starter has heard everything.
        drop(observer);
        let early = starter.join().expect("the early starter does not panic");
        (containers, early)
    });
    let (containers, early) = early_starts;
    let early = early?;
    let started = match containers {
        Ok(started) => started,
        Err(e) => {
            if !early.is_empty() {
                printer.warn(&format!(
                    "started before the failure, as what they need was ready: {}",
                    early.join(", ")
                ));
            }
            return Err(e);
        }
    };
    // The other programs come after every container is ready, as
    // devservices starts supervisord after `docker compose up --wait`.
    programs::start(printer, &plan, &args.skip_programs, &early)?;
    printer.status(
        "Up",
        &format!(
            "{} (mode {}) in {:.1}s",
            plan.root,
            plan.mode,
            started.elapsed().as_secs_f32()
        ),
    );
    Ok(())
}

/// Brings the plan's containers up and records them in the state. Returns
/// when the last one is ready (the time it started counting from).
async fn containers(
    printer: &Printer,
    args: &UpArgs,
    plan: &crate::plan::Plan,
    timeout: Duration,
    observer: &EarlyStarts,
) -> Result<Instant, Diagnostic> {
    let engine = context::engine(printer).await?;
    // Held until the state is saved.
    let (store, mut state) = context::locked_state(printer, &engine).await?;
    let opts = UpOptions {
        mirror: args.plan.mirror.registry_mirror.clone(),
        timeout,
        probe_interval: Duration::from_millis(100),
        seen_ready: state.ready.clone().into_iter().collect(),
    };
    let started = Instant::now();
    let outcome = tokio::select! {
        outcome = stack::up::up(&engine, plan, &opts, observer) => outcome,
        _ = tokio::signal::ctrl_c() => {
            return Err(Diagnostic::new("interrupted", exit::INTERRUPTED).hint(Some(
                "containers made so far are complete and kept; run `up` again to finish".to_owned(),
            )));
        }
    };
    // Recorded even after a failure: what started is running and is ours.
    let root = &plan.projects[&plan.root];
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
    state.ready.extend(outcome.ready);
    store
        .save(&state)
        .map_err(|e| report::stack_error(&e.into()))?;
    match outcome.errors.split_last() {
        None => Ok(started),
        Some((last, rest)) => {
            for e in rest {
                printer.error(&report::stack_error(e));
            }
            Err(report::stack_error(last))
        }
    }
}

/// Services toggled to run locally start from their own checkouts, in
/// their default mode, before this plan (as devservices does), unless they
/// already run.
fn start_local_services(
    printer: &Printer,
    global: &GlobalArgs,
    args: &UpArgs,
    plan: &crate::plan::Plan,
) -> CmdResult {
    if plan.local.is_empty() {
        return Ok(());
    }
    let state = context::peek_state();
    for service in &plan.local {
        let Some(runtime) = state.local.get(service) else {
            continue;
        };
        if state.services.contains_key(service) {
            printer.status(
                "Local",
                &format!("{service} already runs from {}", runtime.checkout.display()),
            );
            continue;
        }
        printer.status(
            "Local",
            &format!(
                "starting {service} from {} (toggled to local)",
                runtime.checkout.display()
            ),
        );
        run(
            printer,
            &context::with_config(global, &runtime.config_file()),
            UpArgs {
                plan: context::PlanArgs {
                    mode: DEFAULT_MODE.to_owned(),
                    remote: args.plan.remote.clone(),
                    mirror: args.plan.mirror.clone(),
                },
                skip_programs: Vec::new(),
            },
        )?;
    }
    Ok(())
}

/// The mode a local service runs in when another service needs it.
const DEFAULT_MODE: &str = "default";

/// Shows progress, and tells the early starter which containers are
/// available.
struct EarlyStarts {
    progress: Progress,
    available: std::sync::mpsc::Sender<Unit>,
}

impl Observer for EarlyStarts {
    fn event(&self, event: Event) {
        if let Event::Available { project, service } = &event {
            // The starter is gone only if it failed; it reports that itself.
            let _ = self.available.send(Unit {
                project: project.clone(),
                name: service.clone(),
                kind: UnitKind::Container,
            });
        }
        self.progress.event(event);
    }
}

/// Starts each program whose `depends_on` narrows what it needs as soon as
/// those containers are available, while the rest of the plan comes up.
/// Returns the programs it started.
fn start_early(
    printer: &Printer,
    plan: &crate::plan::Plan,
    skip: &[String],
    available: std::sync::mpsc::Receiver<Unit>,
) -> Result<Vec<String>, Diagnostic> {
    let mut waiting: Vec<_> = programs::specs(plan, skip)
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
                printer.debug(&format!(
                    "{}: what it needs is ready; starting it",
                    spec.name
                ));
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
