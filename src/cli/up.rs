//! `devrig up`: start a mode's containers and wait until they are ready.

use super::{CmdResult, GlobalArgs, exit, report};
use super::{context, programs};
use crate::plan::remote::RemoteCache;
use crate::stack::{self, registry, up::UpOptions};
use crate::state::{Active, Store};
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
    let rt = context::runtime()?;
    let started = rt.block_on(async {
        let engine = context::engine(printer).await?;
        // Held until the state is saved: two `up`s at once are serialized.
        let store = Store::open(&Store::default_dir()).map_err(|e| report::stack_error(&e.into()))?;
        let (mut state, rebuilt) = registry::load(&engine, &store, &RemoteCache::default_root(), &context::plan_projects)
            .await
            .map_err(|e| report::engine_error(&e))?;
        if let Some(note) = rebuilt {
            printer.debug(&note);
        }
        let progress = Progress::new(printer);
        let opts = UpOptions {
            mirror: args.plan.mirror.registry_mirror.clone(),
            timeout,
            probe_interval: Duration::from_millis(100),
            seen_ready: state.ready.clone().into_iter().collect(),
        };
        let started = Instant::now();
        let outcome = tokio::select! {
            outcome = stack::up::up(&engine, &plan, &opts, &progress) => outcome,
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
                projects: plan.projects.keys().cloned().collect(),
            },
        );
        state.ready.extend(outcome.ready);
        store.save(&state).map_err(|e| report::stack_error(&e.into()))?;
        match outcome.errors.split_last() {
            None => Ok(started),
            Some((last, rest)) => {
                for e in rest {
                    printer.error(&report::stack_error(e));
                }
                Err(report::stack_error(last))
            }
        }
    })?;
    // Programs come after every container is ready, as devservices starts
    // supervisord after `docker compose up --wait`.
    programs::start(printer, &plan, &args.skip_programs)?;
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
