//! `python.version` (the required Python is installed) and `python.venv`
//! (the repo's venv exists, was made with that Python, still runs, has the
//! project installed, and is active or activated by direnv).

use super::checks::{Action, Check, Ctx, Probe, id};
use super::direnv;
use super::env::HostEnv;
use super::requirements::{Pinned, PythonReq};
use super::run::{self, PROBE_TIMEOUT};
use super::version::Version;

/// The fix for what `devenv sync` provisions.
pub(crate) const SYNC: &str = "devenv sync";
use std::path::{Path, PathBuf};

/// A Python interpreter found on PATH, in pyenv's versions or among uv's
/// managed Pythons.
#[derive(Debug, Clone)]
pub(crate) struct Interpreter {
    /// The name it was found under (`python3.13`), or its path with `~`
    /// when it is not on PATH, as a fix should type it.
    pub name: String,
    pub path: PathBuf,
    pub version: Version,
}

/// What the machine offers: the first interpreter that meets the
/// requirement, and what else was tried, for the finding.
#[derive(Debug, Clone, Default)]
pub(crate) struct Found {
    pub matching: Option<Interpreter>,
    pub others: Vec<Interpreter>,
    /// Names on PATH that did not run (a pyenv shim for a version that is
    /// not installed), with the reason.
    pub broken: Vec<(String, String)>,
}

pub(crate) fn probes(ctx: &Ctx) -> Vec<Probe> {
    let Some(req) = &ctx.reqs.python else {
        return Vec::new();
    };
    let found = find(ctx.root, ctx.env, req.version.as_ref());
    vec![
        version_probe(ctx, req, &found),
        venv_probe(ctx, req, &found),
    ]
}

/// The names to try on PATH, most specific first: `python3.13` is what
/// pyenv, uv, Homebrew and Debian all install for 3.13, and `python3` may
/// be anything.
fn candidates(req: Option<&Pinned>) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(bare) = req.and_then(|p| p.req.bare()) {
        let mut parts = bare.split('.');
        if let (Some(major), Some(minor)) = (parts.next(), parts.next()) {
            names.push(format!("python{major}.{minor}"));
        }
    }
    names.extend(["python3".to_owned(), "python".to_owned()]);
    names
}

/// Finds an interpreter for `req` where uv looks: PATH first, then pyenv's
/// versions (`$PYENV_ROOT/versions`, `~/.pyenv/versions`), then uv's own
/// (`$UV_PYTHON_INSTALL_DIR`, `$XDG_DATA_HOME/uv/python`). Installed
/// versions are tried newest first, so a range gets its newest release.
pub(crate) fn find(root: &Path, env: &HostEnv, req: Option<&Pinned>) -> Found {
    let mut found = Found::default();
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut consider = |found: &mut Found, name: String, path: PathBuf| -> bool {
        match interpreter_version(root, env, &path) {
            Ok(version) => {
                let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
                let interp = Interpreter {
                    name,
                    path,
                    version,
                };
                if req.is_none_or(|p| p.req.matches(&version)) {
                    found.matching = Some(interp);
                    return true;
                }
                if !seen.contains(&canonical) {
                    seen.push(canonical);
                    found.others.push(interp);
                }
            }
            Err(reason) => found.broken.push((name, reason)),
        }
        false
    };
    for name in candidates(req) {
        if let Some(path) = env.which(&name, root)
            && consider(&mut found, name, path)
        {
            return found;
        }
    }
    let Some(pin) = req else {
        return found;
    };
    for path in installed_elsewhere(env, pin) {
        let name = env.tilde(&path);
        if consider(&mut found, name, path) {
            return found;
        }
    }
    found
}

/// Interpreters of pyenv and uv whose directory names a version `pin`
/// allows, newest first (pyenv before uv for the same version).
fn installed_elsewhere(env: &HostEnv, pin: &Pinned) -> Vec<PathBuf> {
    let home = env.home();
    let pyenv = env
        .get("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".pyenv")))
        .map(|r| r.join("versions"));
    let uv = env
        .get("UV_PYTHON_INSTALL_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            env.get("XDG_DATA_HOME")
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".local/share")))
                .map(|d| d.join("uv/python"))
        });
    let mut all: Vec<(Version, usize, PathBuf)> = Vec::new();
    for (rank, dir) in [pyenv, uv].into_iter().enumerate() {
        let Some(entries) = dir.and_then(|d| std::fs::read_dir(d).ok()) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // pyenv: `3.12.6`; uv: `cpython-3.12.6-linux-x86_64-gnu`. Free-
            // threaded (`3.13t`) and other implementations are left out.
            let version_text = match rank {
                0 => name.as_str(),
                _ => match name.strip_prefix("cpython-") {
                    Some(rest) => rest.split('-').next().unwrap_or(""),
                    None => continue,
                },
            };
            let Some(version) = version_text
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
                .then(|| Version::parse(version_text))
                .flatten()
            else {
                continue;
            };
            if !pin.req.matches(&version) {
                continue;
            }
            let bin = entry.path().join("bin");
            let exe = [
                format!("python{}.{}", version.major, version.minor),
                "python3".to_owned(),
            ]
            .into_iter()
            .map(|n| bin.join(n))
            .find(|p| p.is_file());
            if let Some(exe) = exe {
                all.push((version, rank, exe));
            }
        }
    }
    all.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    all.into_iter().map(|(_, _, p)| p).collect()
}

/// `python --version` → `Python 3.13.1` (on stderr before Python 3.4).
fn interpreter_version(root: &Path, env: &HostEnv, path: &Path) -> Result<Version, String> {
    let mut cmd = run::command(path, root, env);
    cmd.arg("--version");
    let out = run::run(cmd, PROBE_TIMEOUT).map_err(|e| e.to_string())?;
    if !out.success() {
        return Err(out.error_line().to_owned());
    }
    let text = format!("{}\n{}", out.stdout, out.stderr);
    Version::find_in(&text).ok_or_else(|| format!("unexpected output `{}`", out.first_line()))
}

fn version_probe(ctx: &Ctx, req: &PythonReq, found: &Found) -> Probe {
    let Some(pin) = &req.version else {
        return match &found.matching {
            Some(i) => Check::ok(
                id::PYTHON_VERSION,
                format!("{} is Python {}; no version is pinned", i.name, i.version),
            ),
            None => Check::fail(
                id::PYTHON_VERSION,
                "no Python on PATH (tried python3, python)",
                install_python(ctx, None),
            ),
        }
        .into();
    };
    if let Some(i) = &found.matching {
        return Check::ok(
            id::PYTHON_VERSION,
            format!(
                "{} is Python {}, matching {} from {}",
                i.name, i.version, pin.req, pin.source
            ),
        )
        .into();
    }
    let mut seen: Vec<String> = found
        .others
        .iter()
        .map(|i| format!("{} is {}", i.name, i.version))
        .collect();
    // pyenv's shims all fail the same way: one reason, every name.
    let mut reasons: Vec<(Vec<&str>, &str)> = Vec::new();
    for (name, why) in &found.broken {
        match reasons.iter_mut().find(|(_, w)| w == why) {
            Some((names, _)) => names.push(name),
            None => reasons.push((vec![name], why)),
        }
    }
    seen.extend(reasons.iter().map(|(names, why)| {
        let verb = if names.len() == 1 { "does" } else { "do" };
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        format!("{} {verb} not run: {why}", join_and(&names))
    }));
    let seen = if seen.is_empty() {
        "none found".to_owned()
    } else {
        seen.join("; ")
    };
    Check::fail(
        id::PYTHON_VERSION,
        format!(
            "no Python {} on PATH, in pyenv or among uv's Pythons ({seen}); required by {}",
            pin.req, pin.source
        ),
        install_python(ctx, Some(pin)),
    )
    .into()
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// How to install a Python: `devenv sync` when uv is there (sync's `uv venv`
/// installs the pin), else with the tool the user already has. pyenv gets
/// the version as pinned (its shims only run the exact version a
/// `.python-version` names); Homebrew has one formula per minor version.
fn install_python(ctx: &Ctx, pin: Option<&Pinned>) -> Option<String> {
    let line = pin.map_or("3", |p| p.req.bare().unwrap_or(p.req.as_str()));
    let exact = pin
        .map(|p| p.written.trim_start_matches(['v', 'V']))
        .filter(|w| Version::parse(w).is_some())
        .unwrap_or(line);
    let (line, exact) = (shell_words::quote(line), shell_words::quote(exact));
    Some(if ctx.which("uv").is_some() {
        SYNC.to_owned()
    } else if ctx.which("pyenv").is_some() {
        format!("pyenv install {exact}")
    } else if ctx.which("brew").is_some() {
        format!("brew install python@{line}")
    } else {
        format!(
            "install Python {line} (python.org, or `uv python install {exact}` with uv from https://docs.astral.sh/uv/)"
        )
    })
}

fn venv_probe(ctx: &Ctx, req: &PythonReq, found: &Found) -> Probe {
    let venv = &req.venv;
    let dir = ctx.root.join(venv);
    // sync makes the venv, and remakes one from another Python.
    let create = SYNC.to_owned();
    let recreate = SYNC.to_owned();

    if !dir.exists() {
        let check = Check::fail(
            id::PYTHON_VENV,
            format!("{venv} does not exist"),
            Some(create),
        );
        return match &found.matching {
            Some(i) => Probe::fixable(
                check,
                Action::CreateVenv {
                    python: i.path.clone(),
                    venv: venv.clone(),
                },
            ),
            None => check.into(),
        };
    }

    let Ok(cfg) = std::fs::read_to_string(dir.join("pyvenv.cfg")) else {
        return Check::fail(
            id::PYTHON_VENV,
            format!("{venv} is not a virtualenv (it has no pyvenv.cfg)"),
            Some(recreate),
        )
        .into();
    };
    let made_with = venv_version(&cfg);
    if let (Some(pin), Some(made_with)) = (&req.version, made_with)
        && !pin.req.matches(&made_with)
    {
        return Check::fail(
            id::PYTHON_VENV,
            format!(
                "{venv} was made with Python {made_with}; {} requires {}",
                pin.source, pin.req
            ),
            Some(recreate),
        )
        .into();
    }

    // A venv outlives the interpreter it links to (a Homebrew or pyenv
    // upgrade removes it): then nothing in it runs.
    let venv_python = dir.join("bin/python");
    let runs = match interpreter_version(ctx.root, ctx.env, &venv_python) {
        Ok(v) => v,
        Err(why) => {
            return Check::fail(
                id::PYTHON_VENV,
                format!("{venv}/bin/python does not run: {why}"),
                Some(recreate),
            )
            .into();
        }
    };
    let made_with = made_with.unwrap_or(runs);

    let mut facts = vec![format!("{venv} has Python {made_with}")];
    if let Some(project) = &req.project {
        if !project_installed(&dir, project) {
            let install = match &req.install {
                Some(_) => SYNC.to_owned(),
                None => format!("{venv}/bin/python -m pip install -e ."),
            };
            return Check::fail(
                id::PYTHON_VENV,
                format!("the project `{project}` is not installed in {venv}"),
                Some(install),
            )
            .into();
        }
        facts.push(format!("`{project}` installed"));
    }

    let activate = format!("source {}/bin/activate", shell_words::quote(venv));
    match ctx.env.get("VIRTUAL_ENV") {
        Some(active) if same_dir(Path::new(active), &dir) => {
            facts.push("active".to_owned());
        }
        Some(active) => {
            return Check::warn(
                id::PYTHON_VENV,
                format!("another virtualenv is active ({active}), not {venv}"),
                Some(format!("deactivate && {activate}")),
            )
            .into();
        }
        None if ctx.reqs.direnv && envrc_activates(ctx, venv) => {
            facts.push("direnv activates it".to_owned());
        }
        None => {
            return Check::warn(
                id::PYTHON_VENV,
                format!("{venv} is not active (VIRTUAL_ENV is unset)"),
                Some(activate),
            )
            .into();
        }
    }
    Check::ok(id::PYTHON_VENV, facts.join(", ")).into()
}

fn envrc_activates(ctx: &Ctx, venv: &str) -> bool {
    std::fs::read_to_string(ctx.root.join(".envrc"))
        .is_ok_and(|text| direnv::activation_line(&text, venv).is_some())
}

/// The version a venv was made with: `version` (venv), `version_info` (uv,
/// virtualenv: `3.11.7.final.0`).
pub(crate) fn venv_version(cfg: &str) -> Option<Version> {
    cfg.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        match k.trim() {
            "version" | "version_info" => {
                let numbers: Vec<&str> = v.trim().split('.').take(3).collect();
                Version::parse(&numbers.join("."))
            }
            _ => None,
        }
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// PEP 503 normalization: `Sentry_Kafka.schemas` → `sentry_kafka_schemas`
/// (underscores, because that is how wheels spell names in file names).
fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('_') {
                out.push('_');
            }
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Whether any installer left its mark for `project` in the venv's
/// site-packages: `<name>-<version>.dist-info` (pip, uv), `<name>.egg-link`
/// (`setup.py develop`), `__editable__.<name>-<version>.pth` (setuptools'
/// PEP 660 editables), `<name>-<version>.egg-info`.
fn project_installed(venv: &Path, project: &str) -> bool {
    let want = normalize(project);
    let Ok(libs) = std::fs::read_dir(venv.join("lib")) else {
        return false;
    };
    libs.filter_map(Result::ok)
        .filter(|lib| lib.file_name().to_string_lossy().starts_with("python"))
        .filter_map(|lib| std::fs::read_dir(lib.path().join("site-packages")).ok())
        .flatten()
        .filter_map(Result::ok)
        .any(|entry| {
            let file = entry.file_name().to_string_lossy().into_owned();
            let name = if let Some(rest) = file.strip_prefix("__editable__.") {
                rest.split('-').next()
            } else if let Some(stem) = file
                .strip_suffix(".dist-info")
                .or_else(|| file.strip_suffix(".egg-info"))
            {
                stem.split('-').next()
            } else {
                file.strip_suffix(".egg-link")
            };
            name.is_some_and(|n| normalize(n) == want)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venv_versions_from_every_tool() {
        assert_eq!(
            venv_version("home = /usr/bin\nversion = 3.11.2\n"),
            Version::parse("3.11.2")
        );
        assert_eq!(
            venv_version("implementation = CPython\nversion_info = 3.13.1\n"),
            Version::parse("3.13.1")
        );
        assert_eq!(
            venv_version("version_info = 3.11.7.final.0\n"),
            Version::parse("3.11.7")
        );
        assert_eq!(venv_version("home = /usr/bin\n"), None);
    }

    #[test]
    fn names_normalize_like_pep_503() {
        assert_eq!(normalize("Sentry-Kafka.Schemas"), "sentry_kafka_schemas");
        assert_eq!(normalize("a__b"), "a_b");
    }

    #[test]
    fn candidates_start_with_the_versioned_name() {
        let pin = Pinned {
            req: super::super::version::VersionReq::parse("3.13").unwrap(),
            written: "3.13.1".to_owned(),
            source: super::super::requirements::Source::file(".python-version"),
        };
        assert_eq!(candidates(Some(&pin)), ["python3.13", "python3", "python"]);
        assert_eq!(candidates(None), ["python3", "python"]);
    }
}
