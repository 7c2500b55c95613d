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

    /// Where the previous checkout waits while a new one is swapped in.
    fn previous_dir(&self, repo_name: &str) -> PathBuf {
        self.root.join(format!(".{repo_name}.previous"))
    }

    /// Two devrig processes must not fetch or swap the same repo at once;
    /// the lock is held while the returned file lives.
    fn lock(&self, repo_name: &str) -> Result<File, RemoteError> {
        let path = self.root.join(format!(".{repo_name}.lock"));
        let io = |source| RemoteError::Io {
            path: path.clone(),
            source,
        };
        crate::private::create_dir(&self.root).map_err(io)?;
        let file = crate::private::create(&path).map_err(io)?;
        file.lock().map_err(io)?;
        Ok(file)
    }

    /// Undoes a swap that was interrupted between its two renames.
    fn recover(&self, repo_name: &str) {
        let dir = self.checkout_dir(repo_name);
        let previous = self.previous_dir(repo_name);
        if !dir.exists() && previous.join(".git").is_dir() {
            let _ = fs::rename(&previous, &dir);
        }
    }

    /// Makes sure `remote`'s checkout exists (and is fresh, per the policy).
    pub fn ensure(&self, remote: &Remote) -> Result<Checkout, RemoteError> {
        let dir = self.checkout_dir(&remote.repo_name);
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| RemoteError::Io { path, source }
        };
        if !dir.exists() && self.previous_dir(&remote.repo_name).exists() {
            // A swap was interrupted, or is under way in another devrig: the
            // lock tells which, and only the former needs undoing.
            let _lock = self.lock(&remote.repo_name)?;
            self.recover(&remote.repo_name);
        }
        let exists = dir.join(".git").is_dir();
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
        crate::private::create_dir(&self.root).map_err(io_err(&self.root))?;
        let _lock = self.lock(&remote.repo_name)?;

        if !dir.join(".git").is_dir() {
            self.clone_fresh(&git, remote, &dir)?;
            return Ok(Checkout {
                dir,
                stale_warning: None,
            });
        }
        check_clean(&git, remote, &dir)?;
        match self.clone_fresh(&git, remote, &dir) {
            Ok(()) => Ok(Checkout {
                dir,
                stale_warning: None,
            }),
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
            swap_into_place(&staging, dir, &self.previous_dir(&remote.repo_name))
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        result
    }
}

/// Refuses when the cached checkout has local changes: devrig never
/// overwrites what a user edited there.
fn check_clean(git: &Path, remote: &Remote, dir: &Path) -> Result<(), RemoteError> {
    let status = run_git(git, Some(dir), &["status", "--porcelain"], remote)?;
    if !String::from_utf8_lossy(&status.stdout).trim().is_empty() {
        return Err(RemoteError::LocalChanges {
            repo_name: remote.repo_name.clone(),
            dir: dir.to_owned(),
        });
    }
    Ok(())
}

/// Puts the new checkout `staging` at `dir`. The old one is renamed aside
/// first and deleted last; if devrig dies between the two renames,
/// [`RemoteCache::recover`] puts the old one back on the next run, so a
/// usable copy is always at `dir` or one rename away.
fn swap_into_place(staging: &Path, dir: &Path, previous: &Path) -> Result<(), RemoteError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| RemoteError::Io { path, source }
    };
    if previous.exists() {
        fs::remove_dir_all(previous).map_err(io(previous))?;
    }
    let had_one = dir.exists();
    if had_one {
        fs::rename(dir, previous).map_err(io(dir))?;
    }
    fs::rename(staging, dir).map_err(io(dir))?;
    if had_one {
        // Only space is lost if this fails; the next swap removes it.
        let _ = fs::remove_dir_all(previous);
    }
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
    let _ = crate::private::write(&stamp_path(dir), b"");
}

fn last_fetch(dir: &Path) -> Option<SystemTime> {
    fs::metadata(stamp_path(dir))
        .and_then(|m| m.modified())
        .ok()
}
