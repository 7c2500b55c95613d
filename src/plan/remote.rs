//! Remote dependency repos: a light checkout of each repo's `devservices/`
//! directory, made and refreshed with the user's own `git` (so SSH keys and
//! credential helpers work as for `git clone`), kept in a cache directory.
//!
//! A first fetch is shallow, blob-less and sparse: only `devservices/` is ever
//! checked out, so a multi-GB repo costs a few kilobytes. It is made beside
//! the final directory and renamed into place, so an interrupted fetch never
//! leaves a half-made checkout where a good one is expected.

use crate::config::Remote;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

/// When the network may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchPolicy {
    /// Use a cached checkout as it is; fetch only what is missing. For read
    /// commands (`config`, `list-*`), which should never wait on the network.
    CacheFirst,
    /// Refresh a checkout older than this; fall back to it if refreshing fails.
    RefreshOlderThan(Duration),
    /// Refresh every checkout now.
    Refresh,
    /// Never touch the network; a missing checkout is an error.
    Offline,
}

/// Where remote checkouts live.
#[derive(Debug, Clone)]
pub struct RemoteCache {
    pub root: PathBuf,
    pub policy: FetchPolicy,
}

/// A remote's checkout, ready to be read.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub dir: PathBuf,
    /// Set when the checkout is older than intended because a refresh failed.
    pub stale_warning: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot fetch `{repo_name}` (branch `{branch}`) from {url}")]
    Fetch {
        repo_name: String,
        branch: String,
        url: String,
        /// git's own stderr, trimmed.
        stderr: String,
    },
    #[error("`{repo_name}` is not cached and --offline forbids fetching it")]
    OfflineMissing { repo_name: String },
    #[error("the cached checkout of `{repo_name}` at {} has local changes", dir.display())]
    LocalChanges { repo_name: String, dir: PathBuf },
    #[error("git is not installed (needed to fetch remote dependencies)")]
    GitMissing,
    #[error("cannot use the dependency cache at {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl RemoteError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            RemoteError::Fetch { url, branch, stderr, .. } => {
                if stderr.contains("not found in upstream") || stderr.contains("Remote branch") {
                    format!("check that branch `{branch}` exists in {url}")
                } else if stderr.contains("Authentication failed")
                    || stderr.contains("Permission denied")
                    || stderr.contains("could not read Username")
                {
                    format!("check that `git clone {url}` works for you (SSH key or credential helper)")
                } else {
                    format!("check your network and that `git ls-remote {url} {branch}` works; --offline uses cached copies")
                }
            }
            RemoteError::OfflineMissing { .. } => {
                "run once without --offline to fetch it".to_owned()
            }
            RemoteError::LocalChanges { dir, .. } => format!(
                "commit, stash or discard the changes in {} (devrig never overwrites them), or use --offline to use it as it is",
                dir.display()
            ),
            RemoteError::GitMissing => "install git (e.g. `apt install git`)".to_owned(),
            RemoteError::Io { .. } => {
                "check permissions, or set DEVSERVICES_DEPENDENCIES_CACHE_DIR to a writable directory".to_owned()
            }
        })
    }
}

/// How many times a transient git failure is tried in all.
const ATTEMPTS: u32 = 3;

impl RemoteCache {
    /// The cache dir: `DEVSERVICES_DEPENDENCIES_CACHE_DIR` (devservices' own
    /// variable, for users who already set it), else the XDG cache dir.
    pub fn default_root() -> PathBuf {
        if let Some(dir) = std::env::var_os("DEVSERVICES_DEPENDENCIES_CACHE_DIR") {
            return PathBuf::from(dir);
        }
        directories::ProjectDirs::from("", "", "devrig")
            .map(|d| d.cache_dir().join("dependencies"))
            .unwrap_or_else(|| std::env::temp_dir().join("devrig-dependencies"))
    }

    pub fn checkout_dir(&self, repo_name: &str) -> PathBuf {
        self.root.join(repo_name)
    }

    /// Makes sure `remote`'s checkout exists (and is fresh, per the policy).
    pub fn ensure(&self, remote: &Remote) -> Result<Checkout, RemoteError> {
        let dir = self.checkout_dir(&remote.repo_name);
        let exists = dir.join(".git").is_dir();
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| RemoteError::Io { path, source }
        };
        if exists && matches!(self.policy, FetchPolicy::CacheFirst | FetchPolicy::Offline) {
            return Ok(Checkout {
                dir,
                stale_warning: None,
            });
        }
        if !exists && self.policy == FetchPolicy::Offline {
            return Err(RemoteError::OfflineMissing {
                repo_name: remote.repo_name.clone(),
            });
        }
        if exists && let FetchPolicy::RefreshOlderThan(ttl) = self.policy {
            let age = last_fetch(&dir).and_then(|t| t.elapsed().ok());
            if age.is_some_and(|age| age < ttl) {
                return Ok(Checkout {
                    dir,
                    stale_warning: None,
                });
            }
        }
        let git = which::which("git").map_err(|_| RemoteError::GitMissing)?;
        fs::create_dir_all(&self.root).map_err(io_err(&self.root))?;
        // Two devrig processes must not fetch the same repo at once.
        let lock_path = self.root.join(format!(".{}.lock", remote.repo_name));
        let lock = File::create(&lock_path).map_err(io_err(&lock_path))?;
        lock.lock().map_err(io_err(&lock_path))?;

        if !dir.join(".git").is_dir() {
            self.clone_fresh(&git, remote, &dir)?;
            return Ok(Checkout {
                dir,
                stale_warning: None,
            });
        }
        match update(&git, remote, &dir) {
            Ok(()) => Ok(Checkout {
                dir,
                stale_warning: None,
            }),
            Err(err @ RemoteError::LocalChanges { .. }) => Err(err),
            Err(err) => {
                let reason = match &err {
                    RemoteError::Fetch { stderr, .. } => last_line(stderr),
                    other => other.to_string(),
                };
                Ok(Checkout {
                    stale_warning: Some(format!(
                        "could not refresh `{}` (branch `{}`): {reason}; using the cached copy",
                        remote.repo_name, remote.branch
                    )),
                    dir,
                })
            }
        }
    }

    fn clone_fresh(&self, git: &Path, remote: &Remote, dir: &Path) -> Result<(), RemoteError> {
        let staging = self.root.join(format!(".{}.fetching", remote.repo_name));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(|source| RemoteError::Io {
                path: staging.clone(),
                source,
            })?;
        }
        let staging_str = staging.to_string_lossy().into_owned();
        let result = (|| {
            run_git(
                git,
                None,
                &[
                    "clone",
                    "--quiet",
                    "--depth=1",
                    "--filter=blob:none",
                    "--no-checkout",
                    "--single-branch",
                    "--branch",
                    &remote.branch,
                    &remote.repo_link,
                    &staging_str,
                ],
                remote,
            )?;
            run_git(
                git,
                Some(&staging),
                &["sparse-checkout", "set", "--no-cone", "/devservices/"],
                remote,
            )?;
            run_git(
                git,
                Some(&staging),
                &["checkout", "--quiet", &remote.branch],
                remote,
            )?;
            mark_fetched(&staging);
            fs::rename(&staging, dir).map_err(|source| RemoteError::Io {
                path: dir.to_owned(),
                source,
            })
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        result
    }
}

fn update(git: &Path, remote: &Remote, dir: &Path) -> Result<(), RemoteError> {
    let status = run_git(git, Some(dir), &["status", "--porcelain"], remote)?;
    if !String::from_utf8_lossy(&status.stdout).trim().is_empty() {
        return Err(RemoteError::LocalChanges {
            repo_name: remote.repo_name.clone(),
            dir: dir.to_owned(),
        });
    }
    run_git(
        git,
        Some(dir),
        &["remote", "set-url", "origin", &remote.repo_link],
        remote,
    )?;
    run_git(
        git,
        Some(dir),
        &[
            "fetch",
            "--quiet",
            "--depth=1",
            "--filter=blob:none",
            "origin",
            &remote.branch,
        ],
        remote,
    )?;
    run_git(
        git,
        Some(dir),
        &["checkout", "--quiet", "-B", &remote.branch, "FETCH_HEAD"],
        remote,
    )?;
    mark_fetched(dir);
    Ok(())
}

/// Runs git, retrying failures that look transient (network) with backoff.
fn run_git(
    git: &Path,
    cwd: Option<&Path>,
    args: &[&str],
    remote: &Remote,
) -> Result<Output, RemoteError> {
    let mut delay = Duration::from_millis(300);
    let mut attempt = 1;
    loop {
        let mut cmd = Command::new(git);
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        // Never let git stop to ask for a password: devrig may run in CI.
        cmd.args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ADVICE", "0")
            .stdin(std::process::Stdio::null());
        let output = cmd.output().map_err(|source| RemoteError::Io {
            path: git.to_owned(),
            source,
        })?;
        if output.status.success() {
            return Ok(output);
        }
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        if attempt >= ATTEMPTS || !is_transient(&stderr) {
            return Err(RemoteError::Fetch {
                repo_name: remote.repo_name.clone(),
                branch: remote.branch.clone(),
                url: remote.repo_link.clone(),
                stderr,
            });
        }
        std::thread::sleep(delay);
        delay *= 3;
        attempt += 1;
    }
}

fn is_transient(stderr: &str) -> bool {
    const MARKERS: &[&str] = &[
        "Could not resolve host",
        "Connection timed out",
        "Connection reset",
        "Connection refused",
        "early EOF",
        "RPC failed",
        "unexpected disconnect",
        "The remote end hung up",
        "Operation timed out",
        "502",
        "503",
        "504",
        "429",
    ];
    MARKERS.iter().any(|m| stderr.contains(m))
}

fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned()
}

fn stamp_path(dir: &Path) -> PathBuf {
    dir.join(".git").join("devrig-fetched")
}

fn mark_fetched(dir: &Path) {
    // Only a freshness hint: failing to write it means refreshing sooner.
    let _ = fs::write(stamp_path(dir), b"");
}

fn last_fetch(dir: &Path) -> Option<SystemTime> {
    fs::metadata(stamp_path(dir))
        .and_then(|m| m.modified())
        .ok()
}
