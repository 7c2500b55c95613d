//! What `devenv sync` installs before the repo's steps: the pinned Node
//! (into `.devenv/bin/node-env`, with `node`/`npm`/`npx` shims), the pnpm
//! that `packageManager` names (under node-env, with a `pnpm` shim), and
//! the Python venv at its pin. The layout is sentry-devenv's, so a clone it
//! set up is used as it is and sentry's `.envrc` (`PATH_add .devenv/bin`)
//! finds what devrig installs.
//!
//! Each part is skipped when it is already at its pin, decided from files
//! alone (a marker devrig writes beside what it unpacked, pnpm's
//! `package.json`, the venv's `pyvenv.cfg`): a no-op sync starts no
//! program and makes no request. An install downloads into a temporary
//! directory next to its target, checks the digest before unpacking,
//! checks the unpacked tool runs and says its version, and only then puts
//! it in place with one atomic swap ([`crate::sys::exchange`]): killed at
//! any point, the previous install still works, and the next sync removes
//! what was left half-done.

mod download;
pub(crate) mod node;
pub(crate) mod pnpm;
mod unpack;
pub(crate) mod venv;

pub(crate) use download::ATTEMPTS;

use super::env::HostEnv;
use super::sync::{Event, Observer};
use std::path::{Path, PathBuf};

/// Where sentry-devenv puts a repo's own tools; sentry's `.envrc` puts it
/// on PATH.
pub const BINROOT: &str = ".devenv/bin";

/// The directory a Node distribution is unpacked into, under [`BINROOT`].
pub const NODE_ENV: &str = "node-env";

/// What an install works on: the repo and the environment its tools see.
pub(crate) struct Site<'a> {
    pub root: &'a Path,
    pub env: &'a HostEnv,
}

impl Site<'_> {
    /// `<repo>/.devenv/bin`.
    pub fn binroot(&self) -> PathBuf {
        self.root.join(BINROOT)
    }

    /// `<repo>/.devenv/bin/node-env`.
    pub fn node_env(&self) -> PathBuf {
        self.binroot().join(NODE_ENV)
    }
}

/// How a toolchain part came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Provisioned {
    /// At its pin already; what was found.
    Ready(String),
    /// Installed now; what.
    Installed(String),
}

/// Why a toolchain part could not be installed. Nothing of the new one is
/// in place; whatever was installed before still is.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// Every attempt failed, or one failed for good.
    #[error("cannot download {url}: {reason} (attempt {attempts} of {})", ATTEMPTS)]
    Download {
        /// What was asked for.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// Why the last one failed.
        reason: String,
    },
    /// The bytes are not the ones the pin names.
    #[error("the download from {url} does not match its {algo} checksum")]
    Checksum {
        /// What was downloaded.
        url: String,
        /// `sha256`, `sha512`.
        algo: &'static str,
        /// The digest the repo (or registry) names.
        expected: String,
        /// The digest of what arrived.
        actual: String,
        /// Where the expected digest is written.
        expected_from: String,
    },
    /// The archive is not what it should be.
    #[error("cannot unpack {url}: {reason}")]
    Unpack {
        /// Where it came from.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The mirror lists no archive of that version for this machine.
    #[error("{mirror} has no Node {version} for {platform} ({listing})")]
    NoNodeDist {
        /// The Node distribution mirror.
        mirror: String,
        /// `v26.11.1`.
        version: String,
        /// `linux-x64`.
        platform: String,
        /// Where it looked.
        listing: String,
    },
    /// No release on the mirror meets a range.
    #[error("no Node release on {mirror} matches {req} (required by {required_by})")]
    NoNodeRelease {
        /// The mirror.
        mirror: String,
        /// The range.
        req: String,
        /// Where it is required.
        required_by: String,
    },
    /// The installed tool does not run, or says another version.
    #[error("the {tool} just unpacked {problem}")]
    Verify {
        /// `node`, `pnpm`.
        tool: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The registry's document is not what npm serves.
    #[error("{url} is not an npm registry document for {package}: {reason}")]
    Registry {
        /// The document.
        url: String,
        /// `pnpm@10.10.0`.
        package: String,
        /// What is missing.
        reason: String,
    },
    /// No interpreter of the pinned Python was found or could be installed.
    #[error("Python {version} (required by {required_by}) is not installed{detail}")]
    PythonNotFound {
        /// As pinned (`3.12.6`).
        version: String,
        /// Where it is pinned.
        required_by: String,
        /// What was tried, uv's answer.
        detail: String,
        /// Whether uv is on PATH.
        uv: bool,
    },
    /// `uv venv` or `python -m venv` failed.
    #[error("`{command}` failed: {detail}")]
    Venv {
        /// What ran.
        command: String,
        /// Its last words.
        detail: String,
    },
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// To what.
        path: PathBuf,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
}

impl ProvisionError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ProvisionError::Download { .. } => {
                "check the network (and HTTPS_PROXY), then run `devenv sync` again; what was installed before is untouched".to_owned()
            }
            ProvisionError::Checksum { expected_from, .. } => format!(
                "nothing was installed; the file changed since {expected_from} was written, or the download was tampered with: ask the repo's owners which is right"
            ),
            ProvisionError::NoNodeDist { .. } | ProvisionError::NoNodeRelease { .. } => {
                "pin a released version, or point DEVRIG_NODE_MIRROR at a mirror that has it".to_owned()
            }
            ProvisionError::PythonNotFound { version, uv, .. } => {
                let v = shell_words::quote(version);
                if *uv {
                    format!("install it with `uv python install {v}` or `pyenv install {v}`, then run `devenv sync` again")
                } else {
                    format!("install it with `pyenv install {v}`, or install uv (https://docs.astral.sh/uv/) and run `uv python install {v}`; then run `devenv sync` again")
                }
            }
            ProvisionError::Registry { .. } => {
                "check the registry in NPM_CONFIG_REGISTRY or .npmrc (`npm config get registry`)".to_owned()
            }
            _ => return None,
        })
    }
}

/// Reports `progress` of a download for `tool` as sync events.
fn report_download<'a>(
    tool: &'a str,
    url: &'a str,
    observer: &'a mut dyn Observer,
) -> impl FnMut(download::Progress<'_>) + 'a {
    let mut total = None;
    move |p| match p {
        download::Progress::Started { total: t } => {
            total = t;
            observer.event(Event::Downloading {
                tool,
                done: 0,
                total,
            });
        }
        download::Progress::Bytes { done } => {
            observer.event(Event::Downloading { tool, done, total })
        }
        download::Progress::Retry {
            attempt,
            reason,
            wait,
        } => observer.event(Event::DownloadRetry {
            tool,
            url,
            attempt,
            of: ATTEMPTS,
            reason,
            wait,
        }),
    }
}

/// The text at `url` (an index, a checksum list), its retries reported.
fn fetch_text(
    tool: &str,
    url: &str,
    observer: &mut dyn Observer,
) -> Result<String, ProvisionError> {
    download::text(url, &mut report_download(tool, url, observer))
}

/// `mkdir -p path`.
fn create_dir(path: &Path) -> Result<(), ProvisionError> {
    std::fs::create_dir_all(path).map_err(|source| ProvisionError::Io {
        action: "create",
        path: path.to_owned(),
        source,
    })
}

/// A fresh directory `<parent>/.<name>.partial-<pid>` to build in, beside
/// the target so that the final rename stays on one filesystem.
fn staging(parent: &Path, name: &str) -> Result<PathBuf, ProvisionError> {
    let dir = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    create_dir(&dir)?;
    Ok(dir)
}

/// Removes what an interrupted install left in `parent` for `name`, and
/// puts back a target a cut [`crate::sys::exchange`] left aside. Runs under
/// the sync lock, so nothing it removes is in use.
fn clean_up(parent: &Path, name: &str) {
    let target = parent.join(name);
    let aside = parent.join(format!("{name}.exchange"));
    if aside.exists() {
        if target.exists() {
            let _ = std::fs::remove_dir_all(&aside);
        } else {
            let _ = std::fs::rename(&aside, &target);
        }
    }
    let prefix = format!(".{name}.partial-");
    if let Ok(entries) = std::fs::read_dir(parent) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Puts the directory `new` at `target`: swapped in atomically when a
/// previous one is there (which is then removed), renamed otherwise.
fn put_in_place(new: &Path, target: &Path) -> Result<(), ProvisionError> {
    let io = |source| ProvisionError::Io {
        action: "put in place",
        path: target.to_owned(),
        source,
    };
    if target.symlink_metadata().is_ok() {
        crate::sys::exchange(new, target).map_err(io)?;
        let _ = std::fs::remove_dir_all(new);
    } else {
        std::fs::rename(new, target).map_err(io)?;
    }
    Ok(())
}

/// `.devenv/bin` with sentry-devenv's `.gitignore` of `*` in it.
fn ensure_binroot(site: &Site) -> Result<PathBuf, ProvisionError> {
    let bin = site.binroot();
    create_dir(&bin)?;
    let ignore = bin.join(".gitignore");
    if !ignore.exists() {
        std::fs::write(
            &ignore,
            "*\n# written by devrig's devenv sync, as sentry-devenv writes it; feel free to modify.\n",
        )
        .map_err(|source| ProvisionError::Io {
            action: "write",
            path: ignore.clone(),
            source,
        })?;
    }
    Ok(bin)
}

/// Writes the executable `path` with `text` (through a rename, so a shell
/// running the old one never reads half a script); unchanged files are not
/// touched.
fn write_script(path: &Path, text: &str) -> Result<(), ProvisionError> {
    if std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    let io = |source| ProvisionError::Io {
        action: "write",
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(io)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o775)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// sentry-devenv's shim for a program of node-env, byte for byte: node-env's
/// `bin` first on PATH, npm's global prefix in node-env (so `npm install
/// -g` lands there), then the program.
fn node_shim(binroot: &Path, program: &str) -> String {
    let bin = shell_words::quote(&binroot.display().to_string()).into_owned();
    let program = shell_words::quote(program).into_owned();
    format!(
        "#!/bin/sh\nexport PATH={bin}/{NODE_ENV}/bin:\"${{PATH}}\"\nexport NPM_CONFIG_PREFIX={bin}/{NODE_ENV}\nexec {bin}/{NODE_ENV}/bin/{program} \"$@\"\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shims_are_sentry_devenvs() {
        assert_eq!(
            node_shim(Path::new("/src/my app/.devenv/bin"), "npx"),
            "#!/bin/sh\nexport PATH='/src/my app/.devenv/bin'/node-env/bin:\"${PATH}\"\nexport NPM_CONFIG_PREFIX='/src/my app/.devenv/bin'/node-env\nexec '/src/my app/.devenv/bin'/node-env/bin/npx \"$@\"\n"
        );
    }

    #[test]
    fn clean_up_restores_a_target_left_aside_and_drops_partials() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("node-env.exchange/bin")).unwrap();
        std::fs::create_dir_all(p.join(".node-env.partial-1/x")).unwrap();
        clean_up(p, "node-env");
        assert!(p.join("node-env/bin").is_dir());
        assert!(!p.join(".node-env.partial-1").exists());
        assert!(!p.join("node-env.exchange").exists());
    }
}
