//! `devenv doctor`'s toolchain checks (is this clone's Python, venv,
//! direnv, Node and pnpm what the repo needs?) and `devenv sync` (install
//! what is pinned, [`provision`], then run the setup steps, [`sync`]).
//!
//! [`requirements`] reads what the repo needs (an `x-devenv` block, else the
//! files version managers already read); each check compares one need with
//! the machine and reports a [`Check`]: an outcome, a one-line finding and the
//! exact fix. Checks read the environment only through a [`HostEnv`], and
//! run tools only with its variables, so a test can build an isolated one.

pub(crate) mod checks;
mod devservices;
mod direnv;
pub(crate) mod discover;
mod docker;
pub(crate) mod env;
mod fix;
pub(crate) mod ini;
mod node;
mod pnpm;
pub(crate) mod provision;
mod python;
pub mod requirements;
pub(crate) mod run;
pub(crate) mod sync;
pub mod version;
pub(crate) mod xdevenv;

pub use checks::{Check, Outcome};
pub use env::HostEnv;
pub use fix::{Applied, FixError, apply_fix};
pub use requirements::Requirements;
pub(crate) use sync::SyncError;

use crate::config::ConfigError;
use std::path::Path;

/// Every check that applies to the repo at `repo_root`, in the order of
/// [`checks::ALL`]. Fails only when the repo's own files cannot be read (an
/// invalid `x-devenv` block, a `package.json` that is not JSON): that error
/// names the file, line and column.
pub fn doctor(repo_root: &Path, env: &HostEnv) -> Result<Vec<Check>, ConfigError> {
    let reqs = requirements::load(repo_root)?;
    Ok(doctor_with(repo_root, env, &reqs))
}

/// [`doctor`] with requirements already read (by `devenv sync`, say).
pub fn doctor_with(repo_root: &Path, env: &HostEnv, reqs: &Requirements) -> Vec<Check> {
    let ctx = checks::Ctx {
        root: repo_root,
        env,
        reqs,
        docker: None,
    };
    checks::probe_all(&ctx)
        .into_iter()
        .map(|p| p.check)
        .collect()
}

/// [`doctor`] and the Docker checks (`docker.*`): the engine answers, its
/// data dir has room, and the default mode of `config` (the repo's
/// devservices config, when it has one) finds its host ports free.
pub fn doctor_with_engine(
    repo_root: &Path,
    config: Option<&Path>,
    env: &HostEnv,
) -> Result<Vec<Check>, ConfigError> {
    let reqs = requirements::load(repo_root)?;
    let ctx = checks::Ctx {
        root: repo_root,
        env,
        reqs: &reqs,
        docker: Some(checks::Docker { config }),
    };
    Ok(checks::probe_all(&ctx)
        .into_iter()
        .map(|p| p.check)
        .collect())
}
