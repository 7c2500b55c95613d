//! `devrig down`: stop the repo's programs, then a mode's containers, keeping
//! what others still use; local dependencies go with their last user.

use super::context::{self, RemoteArgs};
use super::programs;
use super::{CmdResult, GlobalArgs, report};
use crate::plan::remote::FetchPolicy;
use crate::stack;
use crate::ui::{Printer, progress::Progress};
use clap::Args;

#[derive(Args, Debug)]
pub struct DownArgs {
    /// The mode to stop (default: the mode it was started in)
    #[arg(long, short)]
    pub mode: Option<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: DownArgs) -> CmdResult {
    let config = context::load(printer, global)?;
    let root = config.project().to_owned();
    // Programs first: they are the containers' clients, and a dev server
    // that loses its database mid-request only makes noise.
    for program in programs::shutdown(&root)? {
        printer.status("Stopped", &program.name);
    }
    let rt = context::runtime()?;
    let (local, state) = rt.block_on(async {
        let engine = context::engine(printer).await?;
        let (store, mut state) = context::locked_state(printer, &engine).await?;
        let mode = args
            .mode
            .clone()
            .or_else(|| state.services.get(&root).map(|a| a.mode.clone()))
            .unwrap_or_else(|| "default".to_owned());
        // `down` must work offline: it only needs what is already cached.
        let policy = if args.remote.refresh {
            FetchPolicy::Refresh
        } else {
            FetchPolicy::CacheFirst
        };
        let plan = context::resolve(printer, config, &mode, policy)?;
        let keep = state.used_by_others(&root);
        let progress = Progress::new(printer);
        stack::down::down(&engine, &plan, &keep, &progress)
            .await
            .map_err(|e| report::stack_error(&e))?;
        state.services.remove(&root);
        store
            .save(&state)
            .map_err(|e| report::stack_error(&e.into()))?;
        printer.status("Down", &format!("{root} (mode {mode})"));
        Ok::<_, crate::ui::Diagnostic>((plan.local, state))
    })?;
    stop_local_services(printer, global, &args, &root, &local, &state)
}

/// Local services this one relied on go down with it, unless another
/// active service still relies on them.
fn stop_local_services(
    printer: &Printer,
    global: &GlobalArgs,
    args: &DownArgs,
    root: &str,
    local: &[String],
    state: &crate::state::State,
) -> CmdResult {
    for service in local {
        let (Some(runtime), true) = (
            state.local.get(service),
            state.services.contains_key(service),
        ) else {
            continue;
        };
        let users = state.local_users(service, root);
        if !users.is_empty() {
            printer.status(
                "Kept",
                &format!("{service} running locally (used by {})", users.join(", ")),
            );
            continue;
        }
        run(
            printer,
            &context::with_config(global, &runtime.config_file()),
            DownArgs {
                mode: None,
                remote: args.remote.clone(),
            },
        )?;
    }
    Ok(())
}
