//! `devrig up [SERVICE]`: start a mode's containers, wait until they are
//! ready, then its programs (see [`crate::ops::up`]).

use super::args::{DebugArg, ExcludeLocalArg, PlanArgs};
use super::render::Renderer;
use super::{CmdResult, GlobalArgs, report};
use crate::ops::programs::Selection;
use crate::ops::pulls::PullPolicy;
use crate::ops::up::{self, UpOptions};
use crate::ui::Printer;
use clap::Args;

#[derive(Args, Debug)]
pub struct UpArgs {
    /// The service to bring up (its `service_name`; default: this repo's).
    /// Its checkout is found under sentry-devenv's coderoot.
    pub service: Option<String>,
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub exclude_local: ExcludeLocalArg,
    #[command(flatten)]
    pub debug: DebugArg,
    /// Which images to pull: `missing` ones only, `always` every one,
    /// `never`; by default the missing ones and moving tags (`latest`,
    /// `nightly`, none) at most once per DEVRIG_PULL_TTL (15 minutes)
    #[arg(long, value_enum, value_name = "WHEN")]
    pub pull: Option<Pull>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Pull {
    Always,
    Missing,
    Never,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: UpArgs) -> CmdResult {
    let opts = UpOptions {
        target: global.target_for(args.service),
        mode: args.plan.mode,
        fetch: args.plan.remote.up_policy(),
        mirror: args.plan.mirror.registry_mirror,
        programs: Selection::all(),
        exclude_local: args.exclude_local.exclude_local,
        pull: match args.pull {
            None => PullPolicy::Moving,
            Some(Pull::Always) => PullPolicy::Always,
            Some(Pull::Missing) => PullPolicy::Missing,
            Some(Pull::Never) => PullPolicy::Never,
        },
    };
    // The summary line comes from the operation's `ServiceUp` event.
    up::up(&opts, &Renderer::new(printer)).map_err(|e| report::diagnostics(&e))?;
    Ok(())
}
