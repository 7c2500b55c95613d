//! What a check reports, and `doctor`: every check that applies to a repo,
//! in a fixed order.

use super::env::HostEnv;
use super::requirements::Requirements;
use super::{devservices, direnv, docker, node, pnpm, python};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Check ids, stable for `--json` consumers and `apply_fix`.
pub mod id {
    pub const PYTHON_VERSION: &str = "python.version";
    pub const PYTHON_VENV: &str = "python.venv";
    pub const DIRENV_INSTALLED: &str = "direnv.installed";
    pub const DIRENV_HOOKED: &str = "direnv.hooked";
    pub const DIRENV_ALLOWED: &str = "direnv.allowed";
    pub const ENVRC_ACTIVATES_VENV: &str = "envrc.activates_venv";
    pub const NODE_VERSION: &str = "node.version";
    pub const PNPM_VERSION: &str = "pnpm.version";
    pub const DEVSERVICES_PATH: &str = "devservices.path";
    pub const DOCKER_ENGINE: &str = "docker.engine";
    pub const DOCKER_DISK: &str = "docker.disk";
    pub const DOCKER_PORTS: &str = "docker.ports";
}

/// Every check, in the order `doctor` reports them.
pub const ALL: &[&str] = &[
    id::PYTHON_VERSION,
    id::PYTHON_VENV,
    id::DIRENV_INSTALLED,
    id::DIRENV_HOOKED,
    id::DIRENV_ALLOWED,
    id::ENVRC_ACTIVATES_VENV,
    id::NODE_VERSION,
    id::PNPM_VERSION,
    id::DEVSERVICES_PATH,
    id::DOCKER_ENGINE,
    id::DOCKER_DISK,
    id::DOCKER_PORTS,
];

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Works as the repo needs.
    Ok,
    /// Works, but not the way the repo expects (another venv is active).
    Warn,
    /// The environment is broken for this repo.
    Fail,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Its stable id (`node.version`), as in [`ALL`].
    pub id: &'static str,
    /// How it came out.
    pub outcome: Outcome,
    /// What was found, in one line.
    pub finding: String,
    /// The exact command to run, or the edit to make.
    pub fix: Option<String>,
    /// Whether [`super::apply_fix`] can apply the fix safely: it only adds
    /// (a venv, a direnv approval, corepack's shims), never replaces or
    /// deletes anything, and never edits a file the user owns.
    pub fixable: bool,
}

impl Check {
    /// A check that passed.
    pub fn ok(id: &'static str, finding: impl Into<String>) -> Self {
        Check {
            id,
            outcome: Outcome::Ok,
            finding: finding.into(),
            fix: None,
            fixable: false,
        }
    }

    /// A check that works, though not as the repo expects.
    pub fn warn(id: &'static str, finding: impl Into<String>, fix: Option<String>) -> Self {
        Check {
            outcome: Outcome::Warn,
            fix,
            ..Check::ok(id, finding)
        }
    }

    /// A check that failed.
    pub fn fail(id: &'static str, finding: impl Into<String>, fix: Option<String>) -> Self {
        Check {
            outcome: Outcome::Fail,
            fix,
            ..Check::ok(id, finding)
        }
    }
}

/// A safe fix, as [`super::apply_fix`] runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// `<python> -m venv <venv>` in the repo root.
    CreateVenv { python: PathBuf, venv: String },
    /// `direnv allow` in the repo root.
    DirenvAllow { direnv: PathBuf },
    /// `corepack enable pnpm`: pnpm shims next to corepack, which then run the
    /// version `packageManager` pins.
    CorepackEnable { corepack: PathBuf },
}

/// A check's result and, when its fix is safe, how to apply it.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    pub check: Check,
    pub action: Option<Action>,
}

impl From<Check> for Probe {
    fn from(check: Check) -> Self {
        Probe {
            check,
            action: None,
        }
    }
}

impl Probe {
    /// The check with a safe fix attached.
    pub fn fixable(mut check: Check, action: Action) -> Self {
        check.fixable = true;
        Probe {
            check,
            action: Some(action),
        }
    }
}

/// What every check reads: the repo, its requirements, the environment,
/// and whether the Docker checks run.
pub(crate) struct Ctx<'a> {
    pub root: &'a Path,
    pub env: &'a HostEnv,
    pub reqs: &'a Requirements,
    pub docker: Option<Docker<'a>>,
}

/// What the Docker checks read: the repo's devservices config, whose
/// default mode's ports are checked (none without one).
pub(crate) struct Docker<'a> {
    pub config: Option<&'a Path>,
}

impl Ctx<'_> {
    pub fn which(&self, name: &str) -> Option<PathBuf> {
        self.env.which(name, self.root)
    }

    /// The repo's own `name`: `.devenv/bin/<name>` (what `devenv sync`
    /// installs, and what the repo's shell runs once `.devenv/bin` is on
    /// PATH), else the one on PATH.
    pub fn repo_tool(&self, name: &str) -> Option<(PathBuf, Place)> {
        let bin = self.root.join(super::provision::BINROOT);
        let own = bin.join(name);
        if !own.is_file() {
            return self.which(name).map(|p| (p, Place::Path));
        }
        let bin_text = bin.display().to_string();
        let on_path = self
            .env
            .get("PATH")
            .is_some_and(|p| p.split(':').any(|d| d.trim_end_matches('/') == bin_text));
        let place = if on_path {
            Place::Binroot(Reach::OnPath)
        } else {
            match std::fs::read_to_string(self.root.join(".envrc"))
                .ok()
                .and_then(|t| super::direnv::path_add_line(&t, super::provision::BINROOT))
            {
                Some(line) => Place::Binroot(Reach::Direnv { line }),
                None => Place::Binroot(Reach::NotOnPath),
            }
        };
        Some((own, place))
    }
}

/// Where a repo tool was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// On PATH, outside the repo.
    Path,
    /// In the repo's `.devenv/bin`.
    Binroot(Reach),
}

/// How the repo's shell reaches `.devenv/bin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// It is on PATH now.
    OnPath,
    /// The `.envrc` puts it there (`PATH_add .devenv/bin` at `line`).
    Direnv { line: usize },
    /// Nothing does.
    NotOnPath,
}

impl Place {
    /// ` in .devenv/bin (direnv puts it on PATH: .envrc:2)`, for findings.
    pub fn describe(self) -> String {
        let bin = super::provision::BINROOT;
        match self {
            Place::Path => String::new(),
            Place::Binroot(Reach::OnPath) => format!(" in {bin}"),
            Place::Binroot(Reach::Direnv { line }) => {
                format!(" in {bin} (direnv puts it on PATH: .envrc:{line})")
            }
            Place::Binroot(Reach::NotOnPath) => format!(" in {bin}"),
        }
    }

    /// The warning when the tool is right but the shell will not run it.
    pub fn unreachable_fix(self) -> Option<String> {
        (self == Place::Binroot(Reach::NotOnPath)).then(|| {
            format!(
                "add `PATH_add {}` to .envrc and run `direnv allow` (or put it on PATH yourself)",
                super::provision::BINROOT
            )
        })
    }
}

/// Runs the checks that apply to the repo. Checks that only make sense for
/// some repos are left out elsewhere: no `python.*` without a Python
/// project, no `pnpm.version` without pnpm, no direnv checks when the repo
/// does not use direnv, no `direnv.allowed` when direnv is not installed
/// (`direnv.installed` already says so).
///
/// The groups (Python, direnv, Node, pnpm, devservices, Docker) start different tools
/// and share nothing, so they run at once: the slowest, a Node-based `pnpm
/// --version` or the engine's answer, sets the pace.
pub(crate) fn probe_all(ctx: &Ctx) -> Vec<Probe> {
    let groups: [fn(&Ctx) -> Vec<Probe>; 6] = [
        python::probes,
        direnv::probes,
        node::probes,
        pnpm::probes,
        devservices::probes,
        docker::probes,
    ];
    std::thread::scope(|s| {
        let handles: Vec<_> = groups.iter().map(|g| s.spawn(|| g(ctx))).collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// The one probe with this id, running only its group.
pub(crate) fn probe_one(ctx: &Ctx, check_id: &str) -> Option<Probe> {
    let group: fn(&Ctx) -> Vec<Probe> = match check_id.split('.').next()? {
        "python" => python::probes,
        "direnv" | "envrc" => direnv::probes,
        "node" => node::probes,
        "pnpm" => pnpm::probes,
        "devservices" => devservices::probes,
        "docker" => docker::probes,
        _ => return None,
    };
    group(ctx).into_iter().find(|p| p.check.id == check_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_serialize_for_json() {
        let check = Check::fail(
            id::NODE_VERSION,
            "node v20.1.0 does not match 22",
            Some("fnm use 22".into()),
        );
        assert_eq!(
            serde_json::to_string(&check).unwrap(),
            r#"{"id":"node.version","outcome":"fail","finding":"node v20.1.0 does not match 22","fix":"fnm use 22","fixable":false}"#
        );
    }
}
