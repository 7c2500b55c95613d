//! `devenv fetch ORG/REPO`: clone a repo into sentry-devenv's coderoot and
//! sync it, as sentry-devenv's `fetch` does: `git@github.com:ORG/REPO` with
//! the user's own git (SSH keys, `insteadOf` rules), or
//! `https://github.com/ORG/REPO` with `--https`; in CI (`CI` set) https
//! and `--depth 1 --single-branch`, on `DEVENV_FETCH_BRANCH` when that is
//! set. The clone is made beside its place and renamed into it, so an
//! interrupted fetch leaves no half checkout for the next one to mistake
//! for a real one. An existing checkout is not touched, only synced.

use super::Error;
use super::sync::{self, Prepared, SyncOptions};
use crate::ops::Target;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// `ORG/REPO`.
    pub repo: String,
    /// Clone over https instead of SSH.
    pub https: bool,
    /// `--depth N`: a shallow clone.
    pub depth: Option<u32>,
    /// Passed to the sync that follows.
    pub force: bool,
    pub stream: bool,
}

/// Where the repo is, whether it was cloned now, and its sync, ready to run.
pub struct Fetched {
    pub checkout: PathBuf,
    /// `None`: the checkout existed and was left as it was.
    pub cloned_from: Option<String>,
    pub sync: Prepared,
    pub sync_options: SyncOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("`{0}` is not ORG/REPO")]
    BadRepo(String),
    #[error("git clone {url} failed ({status})")]
    Clone {
        url: String,
        status: String,
        /// git's own words.
        stderr: String,
    },
}

impl FetchError {
    pub fn hint(&self) -> Option<String> {
        match self {
            FetchError::BadRepo(_) => Some("name it as on GitHub: devenv fetch getsentry/sentry".to_owned()),
            FetchError::Clone { url, .. } if url.starts_with("git@") => Some(
                "check that your SSH key reaches GitHub (`ssh -T git@github.com`), or clone over https with --https".to_owned(),
            ),
            FetchError::Clone { .. } => Some("check the network and the repo's name".to_owned()),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            FetchError::BadRepo(_) => crate::exit::USAGE,
            FetchError::Clone { .. } => crate::exit::FAILURE,
        }
    }
}

/// Where sentry-devenv keeps checkouts: `[devenv] coderoot` of
/// `~/.config/sentry-devenv/config.ini`, else `~/code`.
pub fn coderoot() -> PathBuf {
    super::services::devenv_coderoot().unwrap_or_else(|| {
        directories::BaseDirs::new()
            .map(|d| d.home_dir().to_owned())
            .unwrap_or_else(|| PathBuf::from("."))
            .join("code")
    })
}

/// Clones `opts.repo` unless it is there, and prepares its sync.
pub fn fetch(opts: &FetchOptions) -> Result<Fetched, Error> {
    let (org, name) = opts
        .repo
        .split_once('/')
        .filter(|(o, n)| valid(o) && valid(n))
        .ok_or_else(|| FetchError::BadRepo(opts.repo.clone()))?;
    let root = coderoot();
    let checkout = root.join(name);
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    let cloned_from = if checkout.exists() {
        None
    } else {
        let url = if opts.https || ci {
            format!("https://github.com/{org}/{name}")
        } else {
            format!("git@github.com:{org}/{name}")
        };
        let depth = opts.depth.or(ci.then_some(1));
        clone(&url, depth, ci, &root, &checkout)?;
        Some(url)
    };
    let sync_options = SyncOptions {
        target: Target::file(checkout.join(crate::toolchain::requirements::CONFIG_FILE)),
        force: opts.force,
        stream: opts.stream,
    };
    let sync = sync::prepare(&sync_options)?;
    Ok(Fetched {
        checkout,
        cloned_from,
        sync,
        sync_options,
    })
}

fn valid(part: &str) -> bool {
    !part.is_empty()
        && part != "."
        && part != ".."
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn clone(
    url: &str,
    depth: Option<u32>,
    ci: bool,
    root: &Path,
    checkout: &Path,
) -> Result<(), Error> {
    std::fs::create_dir_all(root).map_err(|source| Error::Io {
        action: "create",
        path: root.to_owned(),
        source,
    })?;
    let name = checkout.file_name().unwrap_or_default().to_string_lossy();
    let partial = root.join(format!(".{name}.fetching-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(root).arg("clone");
    if let Some(depth) = depth {
        cmd.args(["--depth", &depth.to_string(), "--single-branch"]);
    }
    if ci
        && let Ok(branch) = std::env::var("DEVENV_FETCH_BRANCH")
        && !branch.is_empty()
    {
        cmd.arg(format!("--branch={branch}"));
    }
    cmd.arg(url).arg(&partial).stdin(Stdio::null());
    let out = cmd.output().map_err(|source| Error::Io {
        action: "run git in",
        path: root.to_owned(),
        source,
    })?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(FetchError::Clone {
            url: url.to_owned(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }
        .into());
    }
    std::fs::rename(&partial, checkout).map_err(|source| Error::Io {
        action: "move the clone to",
        path: checkout.to_owned(),
        source,
    })
}
