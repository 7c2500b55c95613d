//! Arguments several commands share: the mode, how remotes are fetched,
//! where images come from.

use crate::ops::context;
use crate::plan::remote::FetchPolicy;
use clap::Args;

/// How remote dependencies may be fetched, for commands that resolve a plan.
#[derive(Args, Debug, Clone, Default)]
pub struct RemoteArgs {
    /// Fetch every remote dependency again, even if a cached copy exists
    #[arg(long, conflicts_with = "offline")]
    pub refresh: bool,
    /// Never touch the network: use cached remote dependencies only
    #[arg(long)]
    pub offline: bool,
}

impl RemoteArgs {
    /// Read commands never wait on the network while a cached copy exists.
    pub fn read_policy(&self) -> FetchPolicy {
        context::read_policy(self.refresh, self.offline)
    }

    /// `up` refreshes remotes at most once per TTL.
    pub fn up_policy(&self) -> FetchPolicy {
        context::up_policy(self.refresh, self.offline)
    }
}

/// What names a plan on the engine: the mode, how remotes may be fetched,
/// and where images come from.
#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    /// The mode
    #[arg(long, short, default_value = "default")]
    pub mode: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub mirror: MirrorArgs,
}

/// The mode and remote freshness of commands that look at what runs and
/// create nothing (no image is pulled, so no mirror).
#[derive(Args, Debug, Clone)]
pub struct ReadPlanArgs {
    /// The mode (default: the mode it runs in, else `default`)
    #[arg(long, short)]
    pub mode: Option<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Where images are pulled from, for air-gapped CI.
#[derive(Args, Debug, Clone, Default)]
pub struct MirrorArgs {
    /// Pull every image through this registry (HOST[:PORT]) instead of its own
    #[arg(long, env = "DEVRIG_REGISTRY_MIRROR", value_name = "HOST[:PORT]")]
    pub registry_mirror: Option<String>,
}

/// devservices' `--debug`: the same as `-v` (on the commands where
/// devservices has it).
#[derive(Args, Debug, Clone, Default)]
pub struct DebugArg {
    /// Print what devrig does, step by step (as -v)
    #[arg(long)]
    pub debug: bool,
}

/// devservices' `--exclude-local`.
#[derive(Args, Debug, Clone, Default)]
pub struct ExcludeLocalArg {
    /// Leave dependencies toggled to run locally alone: neither started nor stopped
    #[arg(long)]
    pub exclude_local: bool,
}
