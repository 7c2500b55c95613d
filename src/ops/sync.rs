//! `sync`: bring the toolchain to its pins, then run the repo's setup steps
//! whose inputs changed since they last succeeded (see
//! [`crate::toolchain::sync`] for how). In two steps, so the command knows
//! the steps (to line up their names) before any runs.

use super::{Error, Target};
use crate::state::Store;
use crate::toolchain::sync::{self as steps, Observer, StepReport};
use crate::toolchain::{HostEnv, Requirements, requirements};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub target: Target,
    /// Run every step, even those whose inputs are unchanged.
    pub force: bool,
    /// Report each line of a running step's output.
    pub stream: bool,
}

/// The repo and its steps, read.
pub struct Prepared {
    root: PathBuf,
    reqs: Requirements,
}

/// Reads the repo's requirements and steps.
pub fn prepare(opts: &SyncOptions) -> Result<Prepared, Error> {
    let root = opts.target.repo_root()?;
    let reqs = requirements::load(&root)?;
    Ok(Prepared { root, reqs })
}

impl Prepared {
    /// The names sync reports lines under, in order: the toolchain parts
    /// the repo needs, then its steps.
    pub fn step_names(&self) -> impl Iterator<Item = &str> {
        let tools = [
            self.reqs.node.as_ref().map(|_| "node"),
            self.reqs.pnpm.as_ref().map(|_| "pnpm"),
            self.reqs.python.as_ref().map(|_| "venv"),
        ];
        tools
            .into_iter()
            .flatten()
            .chain(self.reqs.sync.iter().map(|s| s.name.as_str()))
    }

    /// Runs the steps; each one's outcome, in order. Empty when the repo
    /// has none.
    pub fn run(
        &self,
        opts: &SyncOptions,
        observer: &mut dyn Observer,
    ) -> Result<Vec<StepReport>, Error> {
        if self.step_names().next().is_none() {
            return Ok(Vec::new());
        }
        let options = steps::SyncOptions {
            force: opts.force,
            stream: opts.stream,
            state_dir: Store::default_dir(),
        };
        let env = HostEnv::from_process();
        Ok(steps::sync(
            &self.root, &env, &self.reqs, &options, observer,
        )?)
    }
}
