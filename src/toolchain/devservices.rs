//! `devservices.path`: which `devservices` the repo's shell runs.
//!
//! In a sentry checkout the Python devservices is a dependency of the venv,
//! and the `.envrc` that activates the venv puts `.venv/bin` first on PATH:
//! there, `devservices` is the Python one, however devrig was installed.
//! The check works out the PATH the repo's shell has once direnv loaded the
//! `.envrc` (what it prepends, then the user's PATH), finds the first
//! `devservices` on it and says what it is, without starting Python: a
//! script's version comes from its venv's `devservices-X.dist-info`, a
//! binary is asked `--version` under the name `devrig`, which a devrig
//! answers as `devrig X` whatever its file is called.

use super::checks::{Check, Ctx, Probe, id};
use super::run::{self, PROBE_TIMEOUT};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

pub(crate) fn probes(ctx: &Ctx) -> Vec<Probe> {
    if !ctx.root.join("devservices/config.yml").is_file() {
        return Vec::new();
    }
    vec![check(ctx).into()]
}

/// A directory of the repo shell's PATH, and the `.envrc` line that put it
/// there (`None`: the user's own PATH).
struct Entry {
    dir: PathBuf,
    envrc_line: Option<usize>,
}

/// What a `devservices` on PATH turned out to be.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Devrig {
        version: String,
    },
    /// The Python package's console script; its version when its venv says.
    Python {
        version: Option<String>,
    },
    Other {
        says: String,
    },
}

fn check(ctx: &Ctx) -> Check {
    let path = repo_shell_path(ctx);
    let found: Vec<(&Entry, PathBuf)> = path
        .iter()
        .filter_map(|entry| {
            let file = entry.dir.join("devservices");
            is_executable(&file).then_some((entry, file))
        })
        .collect();
    let Some(((winner_entry, winner), rest)) = found.split_first() else {
        return Check::warn(
            id::DEVSERVICES_PATH,
            "devservices is not on PATH",
            Some(
                "install devrig with its install.sh, which links devservices to it (or `ln -s \"$(command -v devrig)\" ~/.local/bin/devservices`)"
                    .to_owned(),
            ),
        );
    };
    let shown = display(ctx, winner);
    let kind = identify(ctx, winner);
    if let Kind::Devrig { version } = &kind {
        return Check::ok(
            id::DEVSERVICES_PATH,
            format!("devservices is devrig {version}: {shown}"),
        );
    }
    let how = winner_entry.envrc_line.map_or_else(String::new, |line| {
        format!(
            " (direnv puts {} first on PATH: .envrc:{line})",
            display(ctx, &winner_entry.dir)
        )
    });
    let what = match &kind {
        Kind::Python { version: Some(v) } => format!("the Python devservices {v}, not devrig"),
        Kind::Python { version: None } => "the Python devservices, not devrig".to_owned(),
        Kind::Other { says } => format!("not devrig ({says})"),
        Kind::Devrig { .. } => unreachable!("returned above"),
    };
    let devrig_dir = rest
        .iter()
        .find(|(_, file)| matches!(identify(ctx, file), Kind::Devrig { .. }))
        .map(|(entry, _)| display(ctx, &entry.dir));
    let remove = format!("remove {shown}");
    let remove = if winner.starts_with(ctx.root) && matches!(kind, Kind::Python { .. }) {
        format!("{remove} (`rm {shown}`; reinstalling the venv's devservices puts it back)")
    } else {
        remove
    };
    let fix = match (devrig_dir, winner_entry.envrc_line) {
        (Some(dir), Some(line)) => format!(
            "{remove}, or put devrig first: add `PATH_add {dir}` to .envrc below line {line}, then run `direnv allow`"
        ),
        (Some(dir), None) => format!(
            "{remove}, or put {dir} before {} on PATH",
            display(ctx, &winner_entry.dir)
        ),
        (None, _) => format!(
            "install devrig with its install.sh (it links devservices to devrig), then {remove}"
        ),
    };
    Check::warn(
        id::DEVSERVICES_PATH,
        format!("devservices is {what}: {shown}{how}"),
        Some(fix),
    )
}

/// The PATH of the repo's shell once direnv has loaded its `.envrc`: the
/// venv's `bin` and every `PATH_add` directory where the `.envrc` adds them (each
/// addition prepends, so a later line comes first), then the user's PATH
/// without them. Without direnv, the user's PATH.
fn repo_shell_path(ctx: &Ctx) -> Vec<Entry> {
    let mut added: Vec<(usize, PathBuf)> = Vec::new();
    if ctx.reqs.direnv
        && let Ok(text) = std::fs::read_to_string(ctx.root.join(".envrc"))
    {
        if let Some(python) = &ctx.reqs.python
            && let Some((line, _)) = super::direnv::activation_line(&text, &python.venv)
        {
            added.push((line, ctx.root.join(&python.venv).join("bin")));
        }
        for (line, dir) in super::direnv::path_adds(&text) {
            let dir = match dir.strip_prefix("~/") {
                Some(rest) => ctx.env.home().unwrap_or_default().join(rest),
                None => ctx.root.join(dir),
            };
            added.push((line, dir));
        }
    }
    added.sort_by_key(|(line, _)| std::cmp::Reverse(*line));
    let mut entries: Vec<Entry> = added
        .into_iter()
        .map(|(line, dir)| Entry {
            dir,
            envrc_line: Some(line),
        })
        .collect();
    for dir in std::env::split_paths(ctx.env.get("PATH").unwrap_or_default()) {
        let dir = if dir.is_relative() {
            ctx.root.join(dir)
        } else {
            dir
        };
        if !entries.iter().any(|e| same_dir(&e.dir, &dir)) {
            entries.push(Entry {
                dir,
                envrc_line: None,
            });
        }
    }
    entries
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

fn is_executable(file: &Path) -> bool {
    std::fs::metadata(file).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn identify(ctx: &Ctx, file: &Path) -> Kind {
    let mut head = Vec::with_capacity(512);
    let read = std::fs::File::open(file).and_then(|f| f.take(4096).read_to_end(&mut head));
    if read.is_ok() && head.starts_with(b"#!") {
        let text = String::from_utf8_lossy(&head);
        if text.contains("devservices") {
            return Kind::Python {
                version: interpreter(&text).as_deref().and_then(dist_version),
            };
        }
    }
    // Under the name `devrig`, a devrig says so whatever its file is
    // called (as `devservices` it would answer like the Python tool).
    let mut cmd = run::command(file, ctx.root, ctx.env);
    cmd.arg0("devrig").arg("--version");
    match run::run(cmd, PROBE_TIMEOUT) {
        Ok(out) if out.success() => match out.first_line().strip_prefix("devrig ") {
            Some(version) => Kind::Devrig {
                version: version.trim().to_owned(),
            },
            None => Kind::Other {
                says: out.first_line().to_owned(),
            },
        },
        Ok(out) => Kind::Other {
            says: out.error_line().to_owned(),
        },
        Err(e) => Kind::Other {
            says: e.to_string(),
        },
    }
}

/// The interpreter a console script runs: its `#!` line, or, where that
/// path was too long for one, the `'''exec' "PYTHON" "$0" "$@"` line that
/// pip writes under a `#!/bin/sh`.
fn interpreter(script: &str) -> Option<PathBuf> {
    let mut lines = script.lines();
    let first = lines.next()?.strip_prefix("#!")?.trim();
    let program = first.split_whitespace().next()?;
    if program != "/bin/sh" {
        return Some(PathBuf::from(program));
    }
    let exec = lines.next()?.strip_prefix("'''exec' ")?;
    let quoted = exec.trim_start().strip_prefix('"')?;
    Some(PathBuf::from(&quoted[..quoted.find('"')?]))
}

/// The devservices version installed beside `interpreter`: the venv (or
/// prefix) two levels up holds `lib/pythonX.Y/site-packages/devservices-V.dist-info`.
fn dist_version(interpreter: &Path) -> Option<String> {
    let prefix = interpreter.parent()?.parent()?;
    for lib in std::fs::read_dir(prefix.join("lib")).ok()?.flatten() {
        let site = lib.path().join("site-packages");
        let Ok(entries) = std::fs::read_dir(&site) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(version) = name
                .to_str()
                .and_then(|n| n.strip_prefix("devservices-"))
                .and_then(|n| n.strip_suffix(".dist-info"))
            else {
                continue;
            };
            return Some(version.to_owned());
        }
    }
    None
}

/// `.venv/bin/devservices` inside the repo, `~/…` under the home.
fn display(ctx: &Ctx, path: &Path) -> String {
    match path.strip_prefix(ctx.root) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => ctx.env.tilde(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_script_interpreters() {
        assert_eq!(
            interpreter("#!/repo/.venv/bin/python3\n# -*- coding: utf-8 -*-\n"),
            Some(PathBuf::from("/repo/.venv/bin/python3"))
        );
        assert_eq!(
            interpreter(
                "#!/bin/sh\n'''exec' \"/a/very/long/.venv/bin/python\" \"$0\" \"$@\"\n' '''\n"
            ),
            Some(PathBuf::from("/a/very/long/.venv/bin/python"))
        );
        assert_eq!(interpreter("#!/bin/sh\necho hi\n"), None);
    }

    #[test]
    fn the_version_comes_from_the_venvs_dist_info() {
        let venv = tempfile::tempdir().unwrap();
        let site = venv.path().join("lib/python3.12/site-packages");
        std::fs::create_dir_all(site.join("devservices-1.5.4.dist-info")).unwrap();
        std::fs::create_dir_all(site.join("devservices")).unwrap();
        std::fs::create_dir_all(venv.path().join("bin")).unwrap();
        assert_eq!(
            dist_version(&venv.path().join("bin/python")),
            Some("1.5.4".to_owned())
        );
        assert_eq!(dist_version(Path::new("/nonexistent/bin/python")), None);
    }
}
