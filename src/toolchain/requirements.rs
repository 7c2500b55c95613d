//! What a clone needs, and where each need was read from.
//!
//! An `x-devenv` block in `devservices/config.yml` says it explicitly (see
//! [`super::xdevenv`]); whatever the block leaves out is discovered from the
//! files a repo already has (see [`super::discover`]): `.python-version`,
//! `.nvmrc`, `package.json`, sentry-devenv's `devenv/config.ini`, lock files.
//! Explicit values win field by field, so a repo can pin Node in `x-devenv`
//! and keep its Python pin in `.python-version`.

use super::discover::{self, Discovered};
use super::version::VersionReq;
use super::xdevenv::{self, XDevenv};
use crate::config::ConfigError;
use serde::Serialize;
use std::fmt;
use std::path::Path;

/// The config file that may hold the `x-devenv` block, relative to the repo.
pub const CONFIG_FILE: &str = "devservices/config.yml";

/// The venv directory when nothing names one.
pub const DEFAULT_VENV: &str = ".venv";

/// Node's major version when nothing pins one: Sentry's frontend needs 22.
pub const DEFAULT_NODE: &str = "22";

/// What a repo needs of the machine, and what `devenv sync` runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Requirements {
    /// `None` when the repo is not a Python project.
    pub python: Option<PythonReq>,
    /// `None` when the repo has nothing to do with Node.
    pub node: Option<NodeReq>,
    /// `None` when the repo does not use pnpm.
    pub pnpm: Option<PnpmReq>,
    /// Whether the repo's environment is activated by direnv.
    pub direnv: bool,
    /// Whether the repo has a `.pre-commit-config.yaml`.
    pub pre_commit: bool,
    /// Whether its hooks are installed with prek rather than pre-commit.
    pub prek: bool,
    /// What `devenv sync` runs, in order.
    pub sync: Vec<SyncStep>,
}

/// The Python a repo needs, and its venv.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PythonReq {
    /// `None` when nothing pins a version: any Python 3 will do.
    pub version: Option<Pinned>,
    /// The virtualenv directory, relative to the repo root.
    pub venv: String,
    /// The command that installs the project and its dependencies into the
    /// venv (`uv sync --frozen`), when one is known.
    pub install: Option<String>,
    /// The distribution name of the project itself (from `pyproject.toml` or
    /// `setup.cfg`), which must be installed in the venv; `None` when the
    /// repo is not an installable package.
    pub project: Option<String>,
}

/// The Node a repo needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeReq {
    /// The version, and where it is pinned.
    pub version: Pinned,
    /// Where sentry-devenv's `config.ini` says to download it for this
    /// machine; `None` when it does not (then a Node mirror is asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dist: Option<NodeDist>,
}

/// A Node download named in `devenv/config.ini` `[node]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeDist {
    /// The `[node] version` the download is for (`v26.11.1`).
    pub version: String,
    /// `<system>_<machine>`: the archive.
    pub url: String,
    /// `<system>_<machine>_sha256`, lowercase hex.
    pub sha256: String,
    /// Where the URL is written.
    pub source: Source,
    /// Where the digest is written.
    pub sha256_source: Source,
}

/// The pnpm a repo needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PnpmReq {
    /// `None` when any pnpm will do (a `pnpm-lock.yaml` without a pin).
    pub version: Option<Pinned>,
    /// Pinned by `package.json`'s `packageManager`, which `devenv sync`
    /// installs; a range from `engines.pnpm` or `x-devenv` it only checks.
    pub package_manager: bool,
    /// The hex SHA-512 `packageManager` gives after `+sha512.`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha512: Option<String>,
}

/// A version requirement with its origin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pinned {
    /// What the checks compare against. A full version is exact
    /// (`.node-version` `26.11.1` is Node 26.11.1 and nothing else, as
    /// sentry's `.envrc` checks it; `.python-version` `3.12.6` is 3.12.6, as
    /// uv reads it); a partial one (`22`, `3.12`) or a range allows a line.
    pub req: VersionReq,
    /// The value as written (`22.11.0`, `pnpm@9.15.0+sha512.…` → `9.15.0`).
    pub written: String,
    /// Where it is written.
    pub source: Source,
}

/// Where a requirement was read, as a finding names it: `.nvmrc`,
/// `package.json (engines.node)`, `devservices/config.yml:7`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The file, relative to the repo root; `None` for devrig's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The line, when the file has several places it could be.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The field inside the file, when the file has several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Source {
    /// Read from `file` (relative to the repo root).
    pub fn file(file: &str) -> Self {
        Source {
            file: Some(file.to_owned()),
            line: None,
            field: None,
        }
    }

    /// Read from `field` of `file` (`package.json`, `engines.node`).
    pub fn field(file: &str, field: &str) -> Self {
        Source {
            field: Some(field.to_owned()),
            ..Source::file(file)
        }
    }

    /// The same place, at `line`.
    pub fn at(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    /// devrig's own default: nothing in the repo pins it.
    pub fn default_value() -> Self {
        Source {
            file: None,
            line: None,
            field: None,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(file) = &self.file else {
            return f.write_str("devrig's default");
        };
        f.write_str(file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, " ({field})")?;
        }
        Ok(())
    }
}

/// One step of `devenv sync`: a shell command, rerun when any of its inputs
/// changed since it last succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncStep {
    /// Its name, as sync reports it.
    pub name: String,
    /// The shell command, run with `sh -c` in the repo root.
    pub command: String,
    /// Files and directories, relative to the repo root.
    pub inputs: Vec<String>,
    /// Where the step is defined (or that it was discovered).
    pub source: Source,
}

/// Reads the requirements of the repo at `repo_root`.
pub fn load(repo_root: &Path) -> Result<Requirements, ConfigError> {
    let explicit = xdevenv::read(&repo_root.join(CONFIG_FILE))?.unwrap_or_default();
    let defaults = explicit.sync.is_none();
    let found = discover::scan(repo_root)?;
    let mut reqs = combine(explicit, &found);
    if defaults && let Some(step) = migrations_step(repo_root) {
        reqs.sync.push(step);
    }
    Ok(reqs)
}

/// When the devservices config has a `migrations` mode, the default sync
/// ends by running it (`devservices up --mode migrations`), again whenever
/// the config or a `migrations` directory changes.
fn migrations_step(repo_root: &Path) -> Option<SyncStep> {
    let text = std::fs::read_to_string(repo_root.join(CONFIG_FILE)).ok()?;
    let doc = crate::config::yaml::parse(&text).ok()?;
    doc.get("x-sentry-service-config")?
        .get("modes")?
        .get("migrations")?;
    // This very binary: `devservices` may not be on PATH yet on a new clone.
    let exe = std::env::current_exe().ok()?;
    let mut inputs = vec![CONFIG_FILE.to_owned()];
    inputs.extend(migration_dirs(repo_root, Path::new(""), 0));
    Some(SyncStep {
        name: "migrations".to_owned(),
        command: format!(
            "{} up --mode migrations",
            shell_words::quote(&exe.display().to_string())
        ),
        inputs,
        source: Source::file(CONFIG_FILE),
    })
}

/// Directories named `migrations` under the repo (not in hidden dirs,
/// `node_modules` or virtualenvs), relative, sorted; at most 6 levels deep.
fn migration_dirs(root: &Path, rel: &Path, depth: usize) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.join(rel)) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && n != "node_modules" && n != "venv")
        .collect();
    names.sort();
    for name in names {
        let path = rel.join(&name);
        if name == "migrations" {
            found.push(path.display().to_string());
        } else if depth < 6 {
            found.extend(migration_dirs(root, &path, depth + 1));
        }
    }
    found
}

/// Explicit values first, then what the repo's files say.
pub fn combine(explicit: XDevenv, found: &Discovered) -> Requirements {
    let python = if explicit.python.is_some() || found.python.is_project {
        let x = explicit.python.unwrap_or_default();
        let venv = x
            .venv
            .or_else(|| found.python.venv.clone())
            .unwrap_or_else(|| DEFAULT_VENV.to_owned());
        let install = x
            .install
            .or_else(|| found.python.install.as_ref().map(|i| i.command(&venv)));
        Some(PythonReq {
            version: x.version.or_else(|| found.python.version.clone()),
            venv,
            install,
            project: found.python.project.clone(),
        })
    } else {
        None
    };

    let wants_pnpm = explicit.pnpm.is_some() || found.pnpm.is_used;
    let node = if explicit.node.is_some() || wants_pnpm || found.node.is_used {
        let version = explicit
            .node
            .flatten()
            .or_else(|| found.node.version.clone())
            .unwrap_or_else(|| Pinned {
                req: VersionReq::parse(DEFAULT_NODE).expect("the default is a version"),
                written: DEFAULT_NODE.to_owned(),
                source: Source::default_value(),
            });
        // The download is for config.ini's own version only.
        let dist = found
            .node
            .dist
            .clone()
            .filter(|d| same_release(&d.version, &version.written));
        Some(NodeReq { version, dist })
    } else {
        None
    };

    let pnpm = wants_pnpm.then(|| match explicit.pnpm.flatten() {
        Some(version) => PnpmReq {
            version: Some(version),
            package_manager: false,
            sha512: None,
        },
        None => PnpmReq {
            version: found.pnpm.version.clone(),
            package_manager: found.pnpm.package_manager,
            sha512: found.pnpm.sha512.clone(),
        },
    });

    let direnv = explicit.direnv.unwrap_or(found.envrc);

    let sync = match explicit.sync {
        Some(steps) => steps,
        None => discover::default_sync(found, python.as_ref(), pnpm.is_some()),
    };

    Requirements {
        python,
        node,
        pnpm,
        direnv,
        pre_commit: found.pre_commit,
        prek: found.prek,
        sync,
    }
}

/// `v26.11.1` and `26.11.1` name one release.
fn same_release(a: &str, b: &str) -> bool {
    let strip = |s: &str| s.trim().trim_start_matches(['v', 'V']).to_owned();
    strip(a) == strip(b)
}

#[cfg(test)]
mod migration_tests {
    use super::*;

    #[test]
    fn a_migrations_mode_adds_a_last_step_over_the_migrations_dirs() {
        let repo = tempfile::tempdir().unwrap();
        let root = repo.path();
        std::fs::create_dir_all(root.join("devservices")).unwrap();
        std::fs::create_dir_all(root.join("src/app/migrations")).unwrap();
        std::fs::create_dir_all(root.join("node_modules/x/migrations")).unwrap();
        std::fs::write(
            root.join(CONFIG_FILE),
            "x-sentry-service-config:\n  version: 0.1\n  service_name: app\n  dependencies:\n    db: {description: db}\n  modes:\n    default: [db]\n    migrations: [db]\nservices:\n  db: {image: postgres}\n",
        )
        .unwrap();
        let reqs = load(root).unwrap();
        let step = reqs.sync.last().expect("a step");
        assert_eq!(step.name, "migrations");
        assert!(
            step.command.ends_with(" up --mode migrations"),
            "{}",
            step.command
        );
        assert_eq!(step.inputs, [CONFIG_FILE, "src/app/migrations"]);

        std::fs::write(
            root.join(CONFIG_FILE),
            "x-sentry-service-config:\n  version: 0.1\n  service_name: app\n  modes:\n    default: []\n",
        )
        .unwrap();
        assert!(
            load(root)
                .unwrap()
                .sync
                .iter()
                .all(|s| s.name != "migrations")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_read_like_places() {
        assert_eq!(Source::file(".nvmrc").to_string(), ".nvmrc");
        assert_eq!(
            Source::field("package.json", "engines.node").to_string(),
            "package.json (engines.node)"
        );
        assert_eq!(
            Source::file(CONFIG_FILE).at(7).to_string(),
            "devservices/config.yml:7"
        );
        assert_eq!(Source::default_value().to_string(), "devrig's default");
    }
}
