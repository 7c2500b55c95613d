//! `devenv fetch ORG/REPO`: clone into the coderoot (unless it is there),
//! then sync it, with sync's own lines (see [`crate::ops::fetch`]).

use super::{CmdResult, GlobalArgs, report, sync};
use crate::ops::fetch::{self, FetchOptions};
use crate::ui::{Printer, Verbosity};
use clap::Args;

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// The repository, as on GitHub: getsentry/sentry
    #[arg(value_name = "ORG/REPO")]
    pub repo: String,
    /// Clone over https instead of SSH (the default in CI)
    #[arg(long)]
    pub https: bool,
    /// A shallow clone of the last N commits (1 in CI)
    #[arg(long, value_name = "N")]
    pub depth: Option<u32>,
    /// Run every sync step, even those whose inputs are unchanged
    #[arg(long)]
    pub force: bool,
}

pub fn run(printer: &Printer, _global: &GlobalArgs, args: FetchArgs) -> CmdResult {
    let opts = FetchOptions {
        repo: args.repo,
        https: args.https,
        depth: args.depth,
        force: args.force,
        stream: printer.verbosity() == Verbosity::Verbose && !printer.is_json(),
    };
    let fetched = fetch::fetch(&opts).map_err(|e| report::diagnostics(&e))?;
    let at = fetched.checkout.display();
    match &fetched.cloned_from {
        Some(url) => printer.progress(Some("Fetched"), &format!("{url} into {at}")),
        None => printer.progress(Some("Exists"), &format!("{at} (not touched; syncing it)")),
    }
    sync::run_prepared(printer, &fetched.sync, &fetched.sync_options)
}
