//! direnv: `direnv.installed`, `direnv.hooked` (the user's shell runs
//! direnv's hook), `direnv.allowed` (direnv will load the repo's `.envrc`)
//! and `envrc.activates_venv` (loading it activates the repo's venv).

use super::checks::{Action, Check, Ctx, Probe, id};
use super::env::HostEnv;
use super::run::{self, PROBE_TIMEOUT};
use super::version::Version;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub(crate) fn probes(ctx: &Ctx) -> Vec<Probe> {
    if !ctx.reqs.direnv {
        return Vec::new();
    }
    let (installed, direnv) = installed(ctx);
    let mut out = vec![installed, hooked(ctx.env).into()];
    if let Some(direnv) = direnv {
        out.push(allowed(ctx, &direnv));
    }
    if let Some(probe) = activates_venv(ctx) {
        out.push(probe.into());
    }
    out
}

fn installed(ctx: &Ctx) -> (Probe, Option<PathBuf>) {
    let Some(direnv) = ctx.which("direnv") else {
        let check = Check::fail(
            id::DIRENV_INSTALLED,
            "direnv is not on PATH",
            Some(install_direnv(ctx)),
        );
        return (check.into(), None);
    };
    let mut cmd = run::command(&direnv, ctx.root, ctx.env);
    cmd.arg("version");
    let check = match run::run(cmd, PROBE_TIMEOUT) {
        Ok(out) if out.success() => match Version::find_in(&out.stdout) {
            Some(v) => Check::ok(id::DIRENV_INSTALLED, format!("direnv {v}")),
            None => Check::ok(id::DIRENV_INSTALLED, format!("direnv {}", out.first_line())),
        },
        Ok(out) => Check::fail(
            id::DIRENV_INSTALLED,
            format!("direnv does not run: {}", out.error_line()),
            Some(install_direnv(ctx)),
        ),
        Err(e) => Check::fail(
            id::DIRENV_INSTALLED,
            format!("direnv does not run: {e}"),
            Some(install_direnv(ctx)),
        ),
    };
    let usable = check.outcome == super::checks::Outcome::Ok;
    (check.into(), usable.then_some(direnv))
}

/// The install command for the package manager on PATH.
fn install_direnv(ctx: &Ctx) -> String {
    for (tool, command) in [
        ("brew", "brew install direnv"),
        ("apt-get", "sudo apt-get install direnv"),
        ("dnf", "sudo dnf install direnv"),
        ("pacman", "sudo pacman -S direnv"),
        ("nix-env", "nix-env -iA nixpkgs.direnv"),
    ] {
        if ctx.which(tool).is_some() {
            return command.to_owned();
        }
    }
    "install direnv: https://direnv.net/docs/installation.html".to_owned()
}

/// A shell direnv can hook into: its startup files and the line to add.
struct Shell {
    name: &'static str,
    files: Vec<PathBuf>,
    hook: &'static str,
}

fn shells(env: &HostEnv) -> Vec<Shell> {
    let home = env.home().unwrap_or_default();
    let zdotdir = env
        .get("ZDOTDIR")
        .map_or_else(|| home.clone(), PathBuf::from);
    let fish = env.config_home().unwrap_or_default().join("fish");
    let mut fish_files = vec![fish.join("config.fish")];
    if let Ok(entries) = std::fs::read_dir(fish.join("conf.d")) {
        let mut extra: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "fish"))
            .collect();
        extra.sort();
        fish_files.extend(extra);
    }
    vec![
        Shell {
            name: "bash",
            files: [".bashrc", ".bash_profile", ".profile"]
                .iter()
                .map(|f| home.join(f))
                .collect(),
            hook: r#"eval "$(direnv hook bash)""#,
        },
        Shell {
            name: "zsh",
            files: vec![zdotdir.join(".zshrc"), zdotdir.join(".zprofile")],
            hook: r#"eval "$(direnv hook zsh)""#,
        },
        Shell {
            name: "fish",
            files: fish_files,
            hook: "direnv hook fish | source",
        },
    ]
}

/// The line of a shell startup file that hooks direnv: `direnv hook …`, or
/// oh-my-zsh's `direnv` plugin in `plugins=(…)`.
fn hook_line(text: &str) -> Option<usize> {
    let mut in_plugins = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('#') {
            continue;
        }
        if line.contains("direnv hook") {
            return Some(i + 1);
        }
        let plugins = if let Some(rest) = line.strip_prefix("plugins=(") {
            in_plugins = true;
            rest
        } else if in_plugins {
            line
        } else {
            continue;
        };
        let list = plugins.split('#').next().unwrap_or("");
        if list
            .split(|c: char| c.is_whitespace() || c == ')')
            .any(|w| w == "direnv")
        {
            return Some(i + 1);
        }
        if list.contains(')') {
            in_plugins = false;
        }
    }
    None
}

fn hooked(env: &HostEnv) -> Check {
    // Set by direnv itself whenever it has loaded an .envrc in this shell.
    if env.get("DIRENV_DIR").is_some() {
        return Check::ok(
            id::DIRENV_HOOKED,
            "direnv is active in this shell (DIRENV_DIR is set)",
        );
    }
    if env.home().is_none() {
        return Check::warn(
            id::DIRENV_HOOKED,
            "HOME is not set, so the shell startup files cannot be read",
            None,
        );
    }
    let current = env
        .get("SHELL")
        .and_then(|s| Path::new(s).file_name()?.to_str().map(str::to_owned));
    let all = shells(env);
    let mine: Vec<&Shell> = match all.iter().find(|s| current.as_deref() == Some(s.name)) {
        Some(shell) => vec![shell],
        // An unknown or unset SHELL: any hook will do; bash is the advice.
        None => all.iter().collect(),
    };
    for shell in &mine {
        for file in &shell.files {
            if let Some(line) = std::fs::read_to_string(file)
                .ok()
                .as_deref()
                .and_then(hook_line)
            {
                return Check::ok(
                    id::DIRENV_HOOKED,
                    format!(
                        "{}:{line} hooks direnv into {}",
                        env.tilde(file),
                        shell.name
                    ),
                );
            }
        }
    }
    let shell = mine[0];
    let looked: Vec<String> = mine
        .iter()
        .flat_map(|s| s.files.iter().map(|f| env.tilde(f)))
        .collect();
    Check::fail(
        id::DIRENV_HOOKED,
        format!(
            "direnv is not hooked into {}: no `direnv hook` in {}",
            match current.as_deref() {
                Some(name) if mine.len() == 1 => name,
                _ => "any shell",
            },
            join_or(&looked)
        ),
        Some(format!(
            "add the line `{}` to {}, then open a new shell",
            shell.hook,
            env.tilde(&shell.files[0])
        )),
    )
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Whether direnv will load the `.envrc`, from `direnv status`:
/// `Found RC allowed true|false` before direnv 2.33, `0` (allowed), `1` (not
/// allowed) or `2` (denied) since.
fn allowed(ctx: &Ctx, direnv: &Path) -> Probe {
    let envrc = ctx.root.join(".envrc");
    if !envrc.is_file() {
        let content = ctx
            .reqs
            .python
            .as_ref()
            .map(|p| format!(" containing `source {}/bin/activate`", p.venv))
            .unwrap_or_default();
        return Check::fail(
            id::DIRENV_ALLOWED,
            "the repo has no .envrc for direnv to load",
            Some(format!("create .envrc{content}, then run `direnv allow`")),
        )
        .into();
    }
    let mut cmd = run::command(direnv, ctx.root, ctx.env);
    cmd.arg("status");
    let out = match run::run(cmd, PROBE_TIMEOUT) {
        Ok(out) if out.success() => out,
        Ok(out) => {
            return Check::warn(
                id::DIRENV_ALLOWED,
                format!("`direnv status` failed: {}", out.error_line()),
                None,
            )
            .into();
        }
        Err(e) => return Check::warn(id::DIRENV_ALLOWED, e.to_string(), None).into(),
    };
    let status = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Found RC allowed "))
        .map(str::trim);
    let allow = Action::DirenvAllow {
        direnv: direnv.to_owned(),
    };
    match status {
        Some("true" | "0") => Check::ok(id::DIRENV_ALLOWED, ".envrc is allowed").into(),
        Some("false" | "1") => Probe::fixable(
            Check::fail(
                id::DIRENV_ALLOWED,
                ".envrc is not allowed (it is new, or changed since the last `direnv allow`)",
                Some("direnv allow".to_owned()),
            ),
            allow,
        ),
        // The user said no; approving it again is their call.
        Some("2") => Check::fail(
            id::DIRENV_ALLOWED,
            ".envrc is denied (`direnv deny` was run for it)",
            Some("direnv allow".to_owned()),
        )
        .into(),
        _ => Check::warn(
            id::DIRENV_ALLOWED,
            format!(
                "cannot tell from `direnv status` whether .envrc is allowed: {}",
                out.stdout
                    .lines()
                    .find(|l| l.starts_with("Found RC") || l.starts_with("No .envrc"))
                    .unwrap_or("no `Found RC` line")
            ),
            None,
        )
        .into(),
    }
}

fn activates_venv(ctx: &Ctx) -> Option<Check> {
    let venv = &ctx.reqs.python.as_ref()?.venv;
    let text = std::fs::read_to_string(ctx.root.join(".envrc")).ok()?;
    Some(match activation_line(&text, venv) {
        Some((line, content)) => Check::ok(
            id::ENVRC_ACTIVATES_VENV,
            format!(".envrc:{line} activates {venv}: {content}"),
        ),
        None => Check::fail(
            id::ENVRC_ACTIVATES_VENV,
            format!(".envrc does not activate {venv}"),
            Some(format!(
                "add the line `source {}/bin/activate` to .envrc, then run `direnv allow`",
                shell_words::quote(venv)
            )),
        ),
    })
}

/// The line of an `.envrc` that activates the venv at `venv` (relative to
/// the repo): `source .venv/bin/activate` (or `.`/`source_env`), direnv's
/// `layout python`, `PATH_add .venv/bin`, `export VIRTUAL_ENV=…/.venv`, or an
/// `export PATH=` with `.venv/bin`. Variables assigned a literal earlier in
/// the file (`venv_name=".venv"`) and `$PWD/` prefixes are expanded first,
/// as sentry's own `.envrc` writes `source "${venv_name}/bin/activate"`.
pub(crate) fn activation_line(text: &str, venv: &str) -> Option<(usize, String)> {
    let venv = venv.trim_start_matches("./").trim_end_matches('/');
    let bin = format!("{venv}/bin");
    let mut vars: HashMap<String, String> = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let expanded = expand(line, &vars);
        // `if [ -d .venv ]; then source .venv/bin/activate; fi`: each command
        // of a one-line compound counts.
        let commands = expanded.split([';', '&', '|']).map(|c| c.trim()).map(|c| {
            ["then ", "else ", "do ", "{ "]
                .iter()
                .fold(c, |c, kw| c.strip_prefix(kw).unwrap_or(c).trim_start())
        });
        let mut first_words: Option<Vec<String>> = None;
        for command in commands {
            let words = split_words(command);
            if activates(&words, venv, &bin) {
                return Some((i + 1, line.to_owned()));
            }
            first_words.get_or_insert(words);
        }
        let words = first_words.unwrap_or_default();
        let Some(first) = words.first().map(String::as_str) else {
            continue;
        };
        let rest = &words[1..];
        // Remember `name=value` and `export name=value` with literal values.
        let assignment = if first == "export" || first == "local" {
            rest.first()
        } else {
            Some(&words[0])
        };
        if let Some((name, value)) = assignment.and_then(|w| w.split_once('='))
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !value.contains('$')
        {
            vars.insert(name.to_owned(), value.to_owned());
        }
    }
    None
}

/// The line of an `.envrc` that puts `dir` (relative to the repo) on PATH:
/// `PATH_add .devenv/bin`, as sentry's does, or `export PATH=…`.
pub(crate) fn path_add_line(text: &str, dir: &str) -> Option<usize> {
    text.lines().enumerate().find_map(|(i, raw)| {
        let line = raw.trim();
        if line.starts_with('#') {
            return None;
        }
        let expanded = expand(line, &HashMap::new());
        expanded
            .split([';', '&', '|'])
            .map(|c| split_words(c.trim()))
            .any(|words| match words.first().map(String::as_str) {
                Some("PATH_add" | "path_add") => words[1..].iter().any(|w| is_path(w, dir)),
                Some("export") => words[1..].iter().any(|w| {
                    w.strip_prefix("PATH=")
                        .is_some_and(|v| v.split(':').any(|p| is_path(p, dir)))
                }),
                _ => false,
            })
            .then_some(i + 1)
    })
}

/// Every directory a `PATH_add` line of an `.envrc` prepends, with its
/// 1-based line: as written (relative to the repo, or `~/…`), in file
/// order.
pub(crate) fn path_adds(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('#') {
            continue;
        }
        let expanded = expand(line, &HashMap::new());
        for command in expanded.split([';', '&', '|']) {
            let words = split_words(command.trim());
            if matches!(
                words.first().map(String::as_str),
                Some("PATH_add" | "path_add")
            ) {
                out.extend(words[1..].iter().map(|w| (i + 1, w.clone())));
            }
        }
    }
    out
}

fn split_words(command: &str) -> Vec<String> {
    shell_words::split(command)
        .unwrap_or_else(|_| command.split_whitespace().map(str::to_owned).collect())
}

/// Whether one simple command activates the venv.
fn activates(words: &[String], venv: &str, bin: &str) -> bool {
    let Some(first) = words.first().map(String::as_str) else {
        return false;
    };
    let rest = &words[1..];
    let names = |needle: &str| rest.iter().any(|w| is_path(w, needle));
    match first {
        "source" | "." | "source_env" => names(&format!("{bin}/activate")),
        "layout" => rest.first().is_some_and(|w| w.starts_with("python")),
        "PATH_add" | "path_add" => names(bin),
        "export" => rest.iter().any(|w| {
            w.strip_prefix("VIRTUAL_ENV=")
                .is_some_and(|v| is_path(v, venv))
                || w.strip_prefix("PATH=")
                    .is_some_and(|v| v.split(':').any(|p| is_path(p, bin)))
        }),
        _ => first.starts_with("layout_python"),
    }
}

/// `word` is `target`, `./target` or `<anything>/target` (such as
/// `$PWD/.venv` after expansion).
fn is_path(word: &str, target: &str) -> bool {
    let word = word.trim_end_matches('/');
    word == target
        || word.strip_prefix("./") == Some(target)
        || word.ends_with(&format!("/{target}"))
}

fn expand(line: &str, vars: &HashMap<String, String>) -> String {
    let mut out = line.replace("${PWD}/", "").replace("$PWD/", "");
    // Longest names first: `$venv` must not eat the start of `$venv_name`.
    let mut vars: Vec<(&String, &String)> = vars.iter().collect();
    vars.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    for (name, value) in vars {
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envrc_activations() {
        let yes = [
            "source .venv/bin/activate",
            "  . ./.venv/bin/activate",
            "source \"$PWD/.venv/bin/activate\"",
            "layout python3",
            "layout_python",
            "PATH_add .venv/bin",
            "export VIRTUAL_ENV=\"${PWD}/.venv\"",
            "export PATH=\"$PWD/.venv/bin:$PATH\"",
            "venv_name=\".venv\"\nsource \"${venv_name}/bin/activate\"",
            "venv=other\nvenv_name=.venv\nsource $venv_name/bin/activate",
            "if [ -d .venv ]; then source .venv/bin/activate; fi",
        ];
        for text in yes {
            assert!(activation_line(text, ".venv").is_some(), "{text}");
        }
        let no = [
            "# source .venv/bin/activate",
            "source other/bin/activate",
            "export PATH=\"$PWD/node_modules/.bin:$PATH\"",
            "echo .venv/bin/activate",
            "dotenv",
        ];
        for text in no {
            assert!(activation_line(text, ".venv").is_none(), "{text}");
        }
        assert_eq!(
            activation_line("set -e\n\nsource .venv/bin/activate\n", ".venv"),
            Some((3, "source .venv/bin/activate".to_owned()))
        );
    }

    #[test]
    fn hook_lines() {
        assert_eq!(
            hook_line("export A=1\neval \"$(direnv hook bash)\"\n"),
            Some(2)
        );
        assert_eq!(hook_line("# eval \"$(direnv hook bash)\"\n"), None);
        assert_eq!(hook_line("plugins=(git direnv)\n"), Some(1));
        assert_eq!(hook_line("plugins=(\n  git\n  direnv\n)\n"), Some(3));
        assert_eq!(hook_line("plugins=(git)\ndirenv=1\n"), None);
    }

    #[test]
    fn hooked_reads_the_current_shells_files() {
        let home = tempfile::tempdir().unwrap();
        let env = |shell: &str| {
            HostEnv::from_vars([
                ("HOME", home.path().display().to_string()),
                ("SHELL", shell.to_owned()),
            ])
        };
        std::fs::write(home.path().join(".zshrc"), "plugins=(git direnv)\n").unwrap();
        let zsh = hooked(&env("/usr/bin/zsh"));
        assert_eq!(zsh.finding, "~/.zshrc:1 hooks direnv into zsh");
        let bash = hooked(&env("/bin/bash"));
        assert_eq!(bash.outcome, super::super::checks::Outcome::Fail);
        let fish = hooked(&env("/usr/bin/fish"));
        assert_eq!(
            fish.fix.as_deref(),
            Some(
                "add the line `direnv hook fish | source` to ~/.config/fish/config.fish, then open a new shell"
            )
        );
        // Any shell's hook counts when SHELL says nothing.
        assert_eq!(hooked(&env("")).outcome, super::super::checks::Outcome::Ok);
        let no_home = hooked(&HostEnv::from_vars([("SHELL", "/bin/bash")]));
        assert_eq!(no_home.outcome, super::super::checks::Outcome::Warn);
    }

    #[test]
    fn join_or_reads_naturally() {
        let items = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
        assert_eq!(join_or(&items), "a, b or c");
        assert_eq!(join_or(&items[..1]), "a");
    }
}
