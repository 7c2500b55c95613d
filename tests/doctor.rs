//! `devenv doctor`'s toolchain checks against real environments.
//!
//! Every case is a real, isolated machine state built in a temp dir: a `bin`
//! directory that is the whole `PATH` (symlinks to this machine's Python,
//! Node, direnv and bash, and to a pnpm installed from npm once and cached
//! under `~/.cache/devrig-test`), a `HOME` with or without direnv's shell
//! hook, a repo with a real venv, a real `.envrc` approved (or not) by the
//! real direnv. Each case starts from a healthy setup and breaks one thing,
//! so its snapshot shows that one finding and its fix among passing checks.
//!
//! Needs: `direnv` (Debian: `apt-get install -y direnv`), `python3` with
//! the venv module, Node 20 with npm and corepack, and the npm registry
//! once to fill the pnpm cache. A missing tool fails the tests; it never
//! skips them.

mod common;

use common::{World, write};
use devrig::toolchain::{self, Check, HostEnv, apply_fix};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The pnpm the tests install; `package.json` pins it in the healthy setup.
const PNPM: &str = "9.15.0";

/// This machine's real tools, found once on the test process's own PATH.
struct Machine {
    /// The interpreter itself (not a pyenv shim, which needs pyenv's
    /// environment to run).
    python: PathBuf,
    /// `3.11.7`
    python_version: String,
    /// `3.11`
    python_line: String,
    node: PathBuf,
    /// `v20.20.2`
    node_version: String,
    direnv: PathBuf,
    /// `2.32.1`
    direnv_version: String,
    bash: PathBuf,
    corepack: PathBuf,
    /// `<cache>/pnpm-9.15.0`, an npm prefix holding `bin/pnpm`.
    pnpm_prefix: PathBuf,
}

fn machine() -> &'static Machine {
    static MACHINE: OnceLock<Machine> = OnceLock::new();
    MACHINE.get_or_init(Machine::find)
}

fn output(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Machine {
    fn find() -> Machine {
        let here = HostEnv::from_process();
        let need = |name: &str, how: &str| {
            here.which(name, Path::new("/")).unwrap_or_else(|| {
                panic!("`{name}` is not on PATH; the doctor tests need it: {how}")
            })
        };
        let direnv = need("direnv", "apt-get install -y direnv");
        let bash = need("bash", "apt-get install -y bash");
        let python3 = need("python3", "apt-get install -y python3 python3-venv");
        let node = need("node", "install Node 20");
        let npm = need("npm", "install Node 20 with npm");
        let corepack = need("corepack", "Node 20 ships corepack");

        let info = output(
            &python3,
            &[
                "-c",
                "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])",
            ],
        );
        let mut lines = info.lines();
        let python = PathBuf::from(lines.next().expect("sys.executable"));
        let python_version = lines.next().expect("version").to_owned();
        let python_line = python_version.rsplit_once('.').expect("x.y.z").0.to_owned();
        let node_version = output(&node, &["--version"]);
        let direnv_version = output(&direnv, &["version"]);

        let cache = match std::env::var_os("XDG_CACHE_HOME") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache"),
        }
        .join("devrig-test");
        let pnpm_prefix = cache.join(format!("pnpm-{PNPM}"));
        if !pnpm_prefix.join("bin/pnpm").exists() {
            // Installed beside its final place and renamed into it, so an
            // interrupted install never leaves a half-filled cache.
            let staging = cache.join(format!("pnpm-{PNPM}.{}", std::process::id()));
            std::fs::create_dir_all(&staging).expect("mkdir cache");
            output(
                &npm,
                &[
                    "install",
                    "-g",
                    "--no-fund",
                    "--no-audit",
                    "--prefix",
                    &staging.to_string_lossy(),
                    &format!("pnpm@{PNPM}"),
                ],
            );
            if std::fs::rename(&staging, &pnpm_prefix).is_err() {
                // Another test process won the race; its copy is as good.
                let _ = std::fs::remove_dir_all(&staging);
            }
        }
        Machine {
            python,
            python_version,
            python_line,
            node,
            node_version,
            direnv,
            direnv_version,
            bash,
            corepack,
            pnpm_prefix,
        }
    }
}

/// What a case sets up; [`Setup::healthy`] passes every check.
struct Setup {
    python: bool,
    node: bool,
    direnv: bool,
    pnpm: bool,
    corepack: bool,
    /// `eval "$(direnv hook bash)"` in `~/.bashrc`.
    hooked: bool,
    envrc: Option<&'static str>,
    /// `direnv allow` run after writing `.envrc`.
    allowed: bool,
    venv: bool,
    /// `.python-version`; `None` for the machine's own version.
    python_pin: Option<&'static str>,
    package_json: &'static str,
}

impl Setup {
    fn healthy() -> Setup {
        Setup {
            python: true,
            node: true,
            direnv: true,
            pnpm: true,
            corepack: false,
            hooked: true,
            envrc: Some("source .venv/bin/activate\n"),
            allowed: true,
            venv: true,
            python_pin: None,
            package_json: r#"{
  "name": "app",
  "engines": {"node": ">=18"},
  "packageManager": "pnpm@9.15.0"
}
"#,
        }
    }

    fn build(self) -> Host {
        let m = machine();
        let world = Host::new();
        world.tool("bash", &m.bash);
        if self.python {
            world.tool("python3", &m.python);
            world.tool(&format!("python{}", m.python_line), &m.python);
        }
        if self.node {
            world.tool("node", &m.node);
        }
        if self.direnv {
            world.tool("direnv", &m.direnv);
        }
        if self.pnpm {
            world.tool("pnpm", &m.pnpm_prefix.join("bin/pnpm"));
        }
        if self.corepack {
            world.tool("corepack", &m.corepack);
        }
        if self.hooked {
            world.home_file(
                ".bashrc",
                "export EDITOR=vi\neval \"$(direnv hook bash)\"\n",
            );
        }
        let pin = self.python_pin.unwrap_or(&m.python_version);
        world.file(".python-version", &format!("{pin}\n"));
        world.file("requirements-dev.txt", "");
        world.file("package.json", self.package_json);
        if self.venv {
            world.venv();
        }
        if let Some(envrc) = self.envrc {
            world.file(".envrc", envrc);
            if self.allowed {
                world.run(&m.direnv, &["allow"]);
            }
        }
        world
    }
}

/// One case's machine: a test world whose `bin` directory is the whole
/// PATH. While it lives, the test's snapshots show this machine's paths and
/// versions as placeholders.
struct Host {
    world: World,
    _filters: insta::internals::SettingsBindDropGuard,
}

impl std::ops::Deref for Host {
    type Target = World;

    fn deref(&self) -> &World {
        &self.world
    }
}

impl Host {
    fn new() -> Host {
        let m = machine();
        let world = World::new();
        std::fs::create_dir_all(world.root().join("bin")).expect("mkdir");
        world.placeholder(&m.pnpm_prefix.display().to_string(), "[PNPM_PREFIX]");
        world.placeholder(&m.python_version, "[PYTHON]");
        world.placeholder(&m.python_line, "[PY]");
        world.placeholder(&m.node_version, "[NODE]");
        world.placeholder(&format!("direnv {}", m.direnv_version), "direnv [DIRENV]");
        let _filters = world.snapshot_settings().bind_to_scope();
        Host { world, _filters }
    }

    fn tool(&self, name: &str, target: &Path) {
        std::os::unix::fs::symlink(target, self.root().join("bin").join(name)).expect("symlink");
    }

    fn home_file(&self, rel: &str, text: &str) {
        write(&self.home().join(rel), text);
    }

    /// The environment of a user whose PATH is only `bin`.
    fn env(&self) -> HostEnv {
        HostEnv::from_vars([
            ("PATH", self.root().join("bin").display().to_string()),
            ("HOME", self.home().display().to_string()),
            ("SHELL", "/bin/bash".to_owned()),
            ("LANG", "C.UTF-8".to_owned()),
        ])
    }

    /// Runs a real tool in the repo with this host's environment.
    fn run(&self, program: &Path, args: &[&str]) {
        let out = Command::new(program)
            .args(args)
            .current_dir(self.repo())
            .env_clear()
            .envs(self.env().vars())
            .output()
            .expect("tool runs");
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A real venv from this host's `python3`, without pip: the checks read
    /// `pyvenv.cfg` and run `bin/python`, and pip would add seconds.
    fn venv(&self) {
        self.run(
            &self.root().join("bin/python3"),
            &["-m", "venv", "--without-pip", ".venv"],
        );
    }

    fn checks(&self) -> Vec<Check> {
        toolchain::doctor(&self.repo(), &self.env()).expect("requirements load")
    }

    /// The one check with this id.
    fn check(&self, id: &str) -> Check {
        self.checks()
            .into_iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no {id} check"))
    }

    /// The checks as a user reads them.
    fn doctor(&self) -> String {
        report(&self.checks())
    }
}

fn report(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let outcome = serde_json::to_value(c.outcome).expect("serializes");
        out.push_str(&format!(
            "{:<4} {}: {}\n",
            outcome.as_str().unwrap_or_default(),
            c.id,
            c.finding
        ));
        if let Some(fix) = &c.fix {
            let auto = if c.fixable { " [fixable]" } else { "" };
            out.push_str(&format!("     fix{auto}: {fix}\n"));
        }
    }
    out
}

#[test]
fn healthy_environment_passes_every_check() {
    let world = Setup::healthy().build();
    insta::assert_snapshot!(world.doctor(), @"
    ok   python.version: python[PY] is Python [PYTHON], matching [PYTHON] from .python-version:1
    ok   python.venv: .venv has Python [PYTHON], direnv activates it
    ok   direnv.installed: direnv [DIRENV]
    ok   direnv.hooked: ~/.bashrc:2 hooks direnv into bash
    ok   direnv.allowed: .envrc is allowed
    ok   envrc.activates_venv: .envrc:1 activates .venv: source .venv/bin/activate
    ok   node.version: node [NODE] matches >=18, required by package.json:3 (engines.node)
    ok   pnpm.version: pnpm 9.15.0 matches 9.15.0, required by package.json:4 (packageManager)
    ");
}

#[test]
fn direnv_not_installed() {
    let world = Setup {
        direnv: false,
        allowed: false,
        ..Setup::healthy()
    }
    .build();
    insta::assert_snapshot!(world.doctor(), @"
    ok   python.version: python[PY] is Python [PYTHON], matching [PYTHON] from .python-version:1
    ok   python.venv: .venv has Python [PYTHON], direnv activates it
    fail direnv.installed: direnv is not on PATH
         fix: install direnv: https://direnv.net/docs/installation.html
    ok   direnv.hooked: ~/.bashrc:2 hooks direnv into bash
    ok   envrc.activates_venv: .envrc:1 activates .venv: source .venv/bin/activate
    ok   node.version: node [NODE] matches >=18, required by package.json:3 (engines.node)
    ok   pnpm.version: pnpm 9.15.0 matches 9.15.0, required by package.json:4 (packageManager)
    ");
}

#[test]
fn direnv_not_hooked() {
    let world = Setup {
        hooked: false,
        ..Setup::healthy()
    }
    .build();
    insta::assert_snapshot!(world.doctor(), @r#"
    ok   python.version: python[PY] is Python [PYTHON], matching [PYTHON] from .python-version:1
    ok   python.venv: .venv has Python [PYTHON], direnv activates it
    ok   direnv.installed: direnv [DIRENV]
    fail direnv.hooked: direnv is not hooked into bash: no `direnv hook` in ~/.bashrc, ~/.bash_profile or ~/.profile
         fix: add the line `eval "$(direnv hook bash)"` to ~/.bashrc, then open a new shell
    ok   direnv.allowed: .envrc is allowed
    ok   envrc.activates_venv: .envrc:1 activates .venv: source .venv/bin/activate
    ok   node.version: node [NODE] matches >=18, required by package.json:3 (engines.node)
    ok   pnpm.version: pnpm 9.15.0 matches 9.15.0, required by package.json:4 (packageManager)
    "#);
}

#[test]
fn direnv_active_counts_as_hooked() {
    let world = Setup {
        hooked: false,
        ..Setup::healthy()
    }
    .build();
    let mut env = world.env();
    env.set("DIRENV_DIR", format!("-{}", world.repo().display()));
    let checks = toolchain::doctor(&world.repo(), &env).expect("loads");
    let hooked = checks
        .iter()
        .find(|c| c.id == "direnv.hooked")
        .expect("check");
    assert_eq!(
        hooked.finding,
        "direnv is active in this shell (DIRENV_DIR is set)"
    );
}

#[test]
fn envrc_not_allowed_then_fixed() {
    let world = Setup {
        allowed: false,
        ..Setup::healthy()
    }
    .build();
    insta::assert_snapshot!(world.doctor(), @"
    ok   python.version: python[PY] is Python [PYTHON], matching [PYTHON] from .python-version:1
    ok   python.venv: .venv has Python [PYTHON], direnv activates it
    ok   direnv.installed: direnv [DIRENV]
    ok   direnv.hooked: ~/.bashrc:2 hooks direnv into bash
    fail direnv.allowed: .envrc is not allowed (it is new, or changed since the last `direnv allow`)
         fix [fixable]: direnv allow
    ok   envrc.activates_venv: .envrc:1 activates .venv: source .venv/bin/activate
    ok   node.version: node [NODE] matches >=18, required by package.json:3 (engines.node)
    ok   pnpm.version: pnpm 9.15.0 matches 9.15.0, required by package.json:4 (packageManager)
    ");

    let applied = apply_fix("direnv.allowed", &world.repo(), &world.env()).expect("fix applies");
    insta::assert_snapshot!(format!("ran: {}\n{}", applied.command, report(&[applied.check])), @"
    ran: direnv allow
    ok   direnv.allowed: .envrc is allowed
    ");
}

#[test]
fn envrc_changed_since_allowed() {
    let world = Setup::healthy().build();
    world.file(".envrc", "source .venv/bin/activate\nexport DEBUG=1\n");
    let checks = world.checks();
    let allowed = checks
        .iter()
        .find(|c| c.id == "direnv.allowed")
        .expect("check");
    assert_eq!(allowed.outcome, toolchain::Outcome::Fail, "{allowed:?}");
    assert!(allowed.fixable);
}

#[test]
fn envrc_denied_is_not_fixed_automatically() {
    let world = Setup::healthy().build();
    world.run(&machine().direnv, &["deny"]);
    let checks = world.checks();
    let allowed = checks
        .iter()
        .find(|c| c.id == "direnv.allowed")
        .expect("check");
    // direnv 2.33 records a denial; before, `deny` only revoked the approval,
    // which is the same state as never allowed, and `direnv allow` is safe.
    let records_denials = devrig::toolchain::version::Version::parse(&machine().direnv_version)
        .is_some_and(|v| (v.major, v.minor) >= (2, 33));
    let expected = if records_denials {
        (".envrc is denied (`direnv deny` was run for it)", false)
    } else {
        (
            ".envrc is not allowed (it is new, or changed since the last `direnv allow`)",
            true,
        )
    };
    assert_eq!((allowed.finding.as_str(), allowed.fixable), expected);
}

#[test]
fn envrc_does_not_activate_the_venv() {
    let world = Setup {
        envrc: Some("export DEBUG=1\nPATH_add node_modules/.bin\n"),
        ..Setup::healthy()
    }
    .build();
    insta::assert_snapshot!(world.doctor(), @"
    ok   python.version: python[PY] is Python [PYTHON], matching [PYTHON] from .python-version:1
    warn python.venv: .venv is not active (VIRTUAL_ENV is unset)
         fix: source .venv/bin/activate
    ok   direnv.installed: direnv [DIRENV]
    ok   direnv.hooked: ~/.bashrc:2 hooks direnv into bash
    ok   direnv.allowed: .envrc is allowed
    fail envrc.activates_venv: .envrc does not activate .venv
         fix: add the line `source .venv/bin/activate` to .envrc, then run `direnv allow`
    ok   node.version: node [NODE] matches >=18, required by package.json:3 (engines.node)
    ok   pnpm.version: pnpm 9.15.0 matches 9.15.0, required by package.json:4 (packageManager)
    ");
}

#[test]
fn no_venv_then_fixed() {
    let world = Setup {
        venv: false,
        ..Setup::healthy()
    }
    .build();
    insta::assert_snapshot!(world.doctor(), @"
    ok   python.version: python[PY] is Python [PYTHON], matching [PYTHON] from .python-version:1
    fail python.venv: .venv does not exist
         fix [fixable]: devenv sync
    ok   direnv.installed: direnv [DIRENV]
    ok   direnv.hooked: ~/.bashrc:2 hooks direnv into bash
    ok   direnv.allowed: .envrc is allowed
    ok   envrc.activates_venv: .envrc:1 activates .venv: source .venv/bin/activate
    ok   node.version: node [NODE] matches >=18, required by package.json:3 (engines.node)
    ok   pnpm.version: pnpm 9.15.0 matches 9.15.0, required by package.json:4 (packageManager)
    ");

    // The real fix: a venv with pip, made by the required Python.
    let applied = apply_fix("python.venv", &world.repo(), &world.env()).expect("fix applies");
    insta::assert_snapshot!(format!("ran: {}\n{}", applied.command, report(&[applied.check])), @"
    ran: python[PY] -m venv .venv
    ok   python.venv: .venv has Python [PYTHON], direnv activates it
    ");
    assert!(world.repo().join(".venv/bin/pip").exists());
}

#[test]
fn venv_from_the_wrong_python() {
    let world = Setup::healthy().build();
    // What a venv made by another interpreter says about itself.
    let cfg = world.repo().join(".venv/pyvenv.cfg");
    let text = std::fs::read_to_string(&cfg).expect("pyvenv.cfg");
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("version") {
                "version = 2.7.18\n".to_owned()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&cfg, text).expect("write");
    insta::assert_snapshot!(world.doctor(), @"
    ok   python.version: python[PY] is Python [PYTHON], matching [PYTHON] from .python-version:1
    fail python.venv: .venv was made with Python 2.7.18; .python-version:1 requires [PYTHON]
         fix: devenv sync
    ok   direnv.installed: direnv [DIRENV]
    ok   direnv.hooked: ~/.bashrc:2 hooks direnv into bash
    ok   direnv.allowed: .envrc is allowed
    ok   envrc.activates_venv: .envrc:1 activates .venv: source .venv/bin/activate
    ok   node.version: node [NODE] matches >=18, required by package.json:3 (engines.node)
    ok   pnpm.version: pnpm 9.15.0 matches 9.15.0, required by package.json:4 (packageManager)
    ");

    // Recreating deletes the user's venv: that is theirs to run.
    let err = apply_fix("python.venv", &world.repo(), &world.env()).unwrap_err();
    insta::assert_snapshot!(format!("{err}\nhint: {}", err.hint().unwrap_or_default()), @"
    `python.venv` cannot be fixed automatically: .venv was made with Python 2.7.18; .python-version:1 requires [PYTHON]
    hint: run it yourself: devenv sync
    ");
}

#[test]
fn venv_whose_interpreter_is_gone() {
    let world = Setup::healthy().build();
    // A venv outliving its base interpreter (a pyenv or Homebrew upgrade):
    // its python is a dangling link.
    let python = world.repo().join(".venv/bin/python");
    std::fs::remove_file(&python).expect("rm");
    std::os::unix::fs::symlink(world.root().join("gone/python3"), &python).expect("symlink");
    let checks = world.checks();
    let venv = checks
        .iter()
        .find(|c| c.id == "python.venv")
        .expect("check");
    assert_eq!(venv.outcome, toolchain::Outcome::Fail);
    assert!(
        venv.finding
            .starts_with(".venv/bin/python does not run: cannot run `python --version`"),
        "{venv:?}"
    );
}

#[test]
fn required_python_is_not_installed() {
    let world = Setup {
        python_pin: Some("3.99.1"),
        venv: false,
        ..Setup::healthy()
    }
    .build();
    insta::assert_snapshot!(world.doctor(), @"
    fail python.version: no Python 3.99.1 on PATH, in pyenv or among uv's Pythons (python3 is [PYTHON]); required by .python-version:1
         fix: install Python 3.99.1 (python.org, or `uv python install 3.99.1` with uv from https://docs.astral.sh/uv/)
    fail python.venv: .venv does not exist
         fix: devenv sync
    ok   direnv.installed: direnv [DIRENV]
    ok   direnv.hooked: ~/.bashrc:2 hooks direnv into bash
    ok   direnv.allowed: .envrc is allowed
    ok   envrc.activates_venv: .envrc:1 activates .venv: source .venv/bin/activate
    ok   node.version: node [NODE] matches >=18, required by package.json:3 (engines.node)
    ok   pnpm.version: pnpm 9.15.0 matches 9.15.0, required by package.json:4 (packageManager)
    ");
}

#[test]
fn another_venv_is_active() {
    let world = Setup::healthy().build();
    let mut env = world.env();
    env.set(
        "VIRTUAL_ENV",
        world.root().join("elsewhere/.venv").display().to_string(),
    );
    let checks = toolchain::doctor(&world.repo(), &env).expect("loads");
    let venv = checks
        .iter()
        .find(|c| c.id == "python.venv")
        .expect("check");
    insta::assert_snapshot!(report(std::slice::from_ref(venv)), @"
    warn python.venv: another virtualenv is active ([TMP]/elsewhere/.venv), not .venv
         fix: deactivate && source .venv/bin/activate
    ");
}

#[test]
fn node_too_old_for_the_default() {
    assert!(
        !machine().node_version.starts_with("v22."),
        "this case needs a Node other than 22 on the machine (it has {})",
        machine().node_version
    );
    // No pin anywhere: Sentry's Node 22 is required.
    let world = Setup {
        package_json: "{\"name\": \"app\", \"packageManager\": \"pnpm@9.15.0\"}\n",
        ..Setup::healthy()
    }
    .build();
    insta::assert_snapshot!(world.doctor(), @"
    ok   python.version: python[PY] is Python [PYTHON], matching [PYTHON] from .python-version:1
    ok   python.venv: .venv has Python [PYTHON], direnv activates it
    ok   direnv.installed: direnv [DIRENV]
    ok   direnv.hooked: ~/.bashrc:2 hooks direnv into bash
    ok   direnv.allowed: .envrc is allowed
    ok   envrc.activates_venv: .envrc:1 activates .venv: source .venv/bin/activate
    fail node.version: node [NODE] does not match 22, devrig's default when the repo pins no Node version (Sentry needs 22)
         fix: devenv sync
    ok   pnpm.version: pnpm 9.15.0 matches 9.15.0, required by package.json:1 (packageManager)
    ");

    // sync installs Node whatever version manager the user has.
    world.home_file(".nvm/nvm.sh", "# nvm\n");
    assert_eq!(
        world.check("node.version").fix.as_deref(),
        Some("devenv sync")
    );
}

/// The machine's `X.Y.Z` as `X.Y.(Z+1)`: a pin one patch release away.
fn next_patch(version: &str) -> String {
    let (line, patch) = version
        .trim_start_matches('v')
        .rsplit_once('.')
        .expect("x.y.z");
    format!("{line}.{}", patch.parse::<u32>().expect("a number") + 1)
}

#[test]
fn an_exact_node_pin_is_exact() {
    let world = Setup::healthy().build();
    let pin = next_patch(&machine().node_version);
    world.placeholder(&pin, "[NEXT]");
    let _filters = world.snapshot_settings().bind_to_scope();
    world.file(".node-version", &format!("{pin}\n"));
    let node = world.check("node.version");
    insta::assert_snapshot!(report(std::slice::from_ref(&node)), @"
    fail node.version: node [NODE] does not match [NEXT], required by .node-version:1
         fix: devenv sync
    ");
}

#[test]
fn an_exact_python_pin_is_exact() {
    let m = machine();
    let pin = next_patch(&m.python_version);
    let world = Setup {
        python_pin: Some(Box::leak(pin.clone().into_boxed_str())),
        venv: false,
        ..Setup::healthy()
    }
    .build();
    let python = world.check("python.version");
    // The finding names the full pin, not its release line.
    assert_eq!(python.outcome, toolchain::Outcome::Fail);
    assert!(
        python.finding.starts_with(&format!(
            "no Python {pin} on PATH, in pyenv or among uv's Pythons (python{} is {}",
            m.python_line, m.python_version
        )),
        "{python:?}"
    );
    assert!(
        python.finding.ends_with("; required by .python-version:1"),
        "{python:?}"
    );
    assert!(
        python
            .fix
            .as_deref()
            .is_some_and(|f| f.contains(&format!("uv python install {pin}")))
    );
    // The release line alone is a range: the machine's Python meets it.
    world.file(".python-version", &format!("{}\n", m.python_line));
    let python = world.check("python.version");
    assert_eq!(python.outcome, toolchain::Outcome::Ok, "{python:?}");
}

#[test]
fn node_pinned_by_nvmrc() {
    let world = Setup::healthy().build();
    world.file(".nvmrc", "lts/jod\n");
    let checks = world.checks();
    let node = checks
        .iter()
        .find(|c| c.id == "node.version")
        .expect("check");
    insta::assert_snapshot!(report(std::slice::from_ref(node)), @"
    fail node.version: node [NODE] does not match 22, required by .nvmrc:1
         fix: devenv sync
    ");
}

#[test]
fn pnpm_missing() {
    let world = Setup {
        pnpm: false,
        corepack: true,
        ..Setup::healthy()
    }
    .build();
    insta::assert_snapshot!(world.doctor(), @"
    ok   python.version: python[PY] is Python [PYTHON], matching [PYTHON] from .python-version:1
    ok   python.venv: .venv has Python [PYTHON], direnv activates it
    ok   direnv.installed: direnv [DIRENV]
    ok   direnv.hooked: ~/.bashrc:2 hooks direnv into bash
    ok   direnv.allowed: .envrc is allowed
    ok   envrc.activates_venv: .envrc:1 activates .venv: source .venv/bin/activate
    ok   node.version: node [NODE] matches >=18, required by package.json:3 (engines.node)
    fail pnpm.version: pnpm is not on PATH or in .devenv/bin; package.json:4 (packageManager) requires 9.15.0
         fix: devenv sync
    ");

    // A range sync does not install: corepack's shims, or without
    // corepack, npm.
    world.file(
        "package.json",
        "{\"name\": \"app\", \"engines\": {\"node\": \">=18\", \"pnpm\": \"9.x\"}}\n",
    );
    let pnpm_fix = || {
        let pnpm = world.check("pnpm.version");
        (pnpm.fix.unwrap_or_default(), pnpm.fixable)
    };
    assert_eq!(pnpm_fix(), ("corepack enable pnpm".to_owned(), true));
    std::fs::remove_file(world.root().join("bin/corepack")).expect("rm");
    assert_eq!(pnpm_fix(), ("npm install -g pnpm@9.x".to_owned(), false));
}

#[test]
fn pnpm_wrong_version() {
    let world = Setup {
        package_json: "{\"name\": \"app\", \"engines\": {\"node\": \">=18\"}, \"packageManager\": \"pnpm@10.4.1+sha512.c753b6c3ad7afa13af388fa6d808035a008e30ea9993f58c6663e2bc5ff21679aa834db094987129aa4d488b86df57f7b634981b2f827cdcacc698cc0cfb88af\"}\n",
        ..Setup::healthy()
    }
    .build();
    insta::assert_snapshot!(world.doctor(), @"
    ok   python.version: python[PY] is Python [PYTHON], matching [PYTHON] from .python-version:1
    ok   python.venv: .venv has Python [PYTHON], direnv activates it
    ok   direnv.installed: direnv [DIRENV]
    ok   direnv.hooked: ~/.bashrc:2 hooks direnv into bash
    ok   direnv.allowed: .envrc is allowed
    ok   envrc.activates_venv: .envrc:1 activates .venv: source .venv/bin/activate
    ok   node.version: node [NODE] matches >=18, required by package.json:1 (engines.node)
    fail pnpm.version: pnpm 9.15.0 does not match 10.4.1, required by package.json:1 (packageManager)
         fix: devenv sync
    ");
}

#[test]
fn x_devenv_block_overrides_the_repo_files() {
    let m = machine();
    let world = Setup::healthy().build();
    world.file(
        "devservices/config.yml",
        &format!(
            "x-sentry-service-config:\n  version: 0.1\n  service_name: app\nx-devenv:\n  python: {{version: \"{}\"}}\n  node: {{version: \">=18\"}}\n  package_manager: {{name: pnpm, version: \"9.x\"}}\n  direnv: false\n",
            m.python_line,
        ),
    );
    insta::assert_snapshot!(world.doctor(), @r#"
    ok   python.version: python[PY] is Python [PYTHON], matching [PY] from devservices/config.yml:5
    warn python.venv: .venv is not active (VIRTUAL_ENV is unset)
         fix: source .venv/bin/activate
    ok   node.version: node [NODE] matches >=18, required by devservices/config.yml:6
    ok   pnpm.version: pnpm 9.15.0 matches 9.x, required by devservices/config.yml:7
    warn devservices.path: devservices is not on PATH
         fix: install devrig with its install.sh, which links devservices to it (or `ln -s "$(command -v devrig)" ~/.local/bin/devservices`)
    "#);
}

#[test]
fn invalid_x_devenv_is_an_error_with_its_position() {
    let world = Host::new();
    world.file(
        "devservices/config.yml",
        "x-devenv:\n  node:\n    version: \"twenty-two\"\n",
    );
    let err = toolchain::doctor(&world.repo(), &world.env()).unwrap_err();
    insta::assert_snapshot!(format!("{}: {}\nhint: {}", err.location(), err.message, err.hint.unwrap_or_default()), @r#"
    [TMP]/repo/devservices/config.yml:3:14: x-devenv.node.version: `twenty-two` is not a version or version range
    hint: write a version such as "22", or a range such as ">=22"
    "#);
}

#[test]
fn a_repo_without_python_or_node_has_no_such_checks() {
    let world = Host::new();
    world.file(".envrc", "export A=1\n");
    world.tool("direnv", &machine().direnv);
    world.tool("bash", &machine().bash);
    world.home_file(".bashrc", "eval \"$(direnv hook bash)\"\n");
    insta::assert_snapshot!(world.doctor(), @"
    ok   direnv.installed: direnv [DIRENV]
    ok   direnv.hooked: ~/.bashrc:1 hooks direnv into bash
    fail direnv.allowed: .envrc is not allowed (it is new, or changed since the last `direnv allow`)
         fix [fixable]: direnv allow
    ");
}

#[test]
fn checks_serialize_to_json() {
    let world = Setup {
        hooked: false,
        ..Setup::healthy()
    }
    .build();
    let checks = world.checks();
    let hooked = checks
        .iter()
        .find(|c| c.id == "direnv.hooked")
        .expect("check");
    insta::assert_snapshot!(serde_json::to_string_pretty(hooked).expect("json"), @r#"
    {
      "id": "direnv.hooked",
      "outcome": "fail",
      "finding": "direnv is not hooked into bash: no `direnv hook` in ~/.bashrc, ~/.bash_profile or ~/.profile",
      "fix": "add the line `eval \"$(direnv hook bash)\"` to ~/.bashrc, then open a new shell",
      "fixable": false
    }
    "#);
}

#[test]
fn sentry_shaped_repo_requirements() {
    // The files getsentry/sentry has: sentry-devenv's config.ini, a Node
    // pin, pnpm, pre-commit, a package with setup.cfg metadata.
    let world = Host::new();
    world.file(
        "devenv/config.ini",
        "[devenv]\nminimum_version = 1.14.2\n\n[venv.sentry]\npython = 3.13.1\npath = .venv\nrequirements = requirements-dev.txt\neditable =\n  .\n# sourced by direnv\n# bins =\n\n[node]\n# upstream is mirrored\nversion = v22.11.0\n",
    );
    world.file("requirements-dev.txt", "-e .\n");
    world.file("setup.cfg", "[metadata]\nname = sentry\n");
    world.file("setup.py", "from setuptools import setup\nsetup()\n");
    world.file(
        "pyproject.toml",
        "[build-system]\nrequires = [\"setuptools\"]\n",
    );
    world.file(".node-version", "22.11.0\n");
    world.file(
        "package.json",
        "{\n  \"name\": \"sentry\",\n  \"engines\": {\"node\": \">=22\"},\n  \"packageManager\": \"pnpm@10.10.0\"\n}\n",
    );
    world.file("pnpm-lock.yaml", "lockfileVersion: '9.0'\n");
    world.file(".envrc", "source .venv/bin/activate\n");
    world.file(".pre-commit-config.yaml", "repos: []\n");
    let reqs = toolchain::requirements::load(&world.repo()).expect("loads");
    insta::assert_snapshot!(serde_json::to_string_pretty(&reqs).expect("json"), @r#"
    {
      "python": {
        "version": {
          "req": "3.13.1",
          "written": "3.13.1",
          "source": {
            "file": "devenv/config.ini",
            "line": 5,
            "field": "[venv.sentry] python"
          }
        },
        "venv": ".venv",
        "install": ".venv/bin/python -m pip install -r requirements-dev.txt -e .",
        "project": "sentry"
      },
      "node": {
        "version": {
          "req": "22.11.0",
          "written": "22.11.0",
          "source": {
            "file": ".node-version",
            "line": 1
          }
        }
      },
      "pnpm": {
        "version": {
          "req": "10.10.0",
          "written": "10.10.0",
          "source": {
            "file": "package.json",
            "line": 4,
            "field": "packageManager"
          }
        },
        "package_manager": true
      },
      "direnv": true,
      "pre_commit": true,
      "prek": false,
      "sync": [
        {
          "name": "python-deps",
          "command": ".venv/bin/python -m pip install -r requirements-dev.txt -e .",
          "inputs": [
            "pyproject.toml",
            "setup.cfg",
            "setup.py",
            "requirements-dev.txt"
          ],
          "source": {
            "file": "devenv/config.ini"
          }
        },
        {
          "name": "js-deps",
          "command": "pnpm install --frozen-lockfile",
          "inputs": [
            "package.json",
            "pnpm-lock.yaml"
          ],
          "source": {
            "file": "pnpm-lock.yaml"
          }
        },
        {
          "name": "hooks",
          "command": "pre-commit install",
          "inputs": [
            ".pre-commit-config.yaml"
          ],
          "source": {
            "file": ".pre-commit-config.yaml"
          }
        }
      ]
    }
    "#);
}

/// A healthy sentry-like setup that also uses devservices: a config, and
/// devrig linked as `devservices` in the user's `bin` (as install.sh does).
fn with_devservices() -> Host {
    let world = Setup::healthy().build();
    world.file(
        "devservices/config.yml",
        "x-sentry-service-config:\n  version: 0.1\n  service_name: app\n  modes:\n    default: []\n",
    );
    world.tool("devservices", Path::new(env!("CARGO_BIN_EXE_devrig")));
    world
}

/// In a sentry checkout the venv has the Python devservices, and direnv
/// puts the venv first on PATH: that one runs, and doctor says so, with
/// both ways out; each of them makes the check pass.
#[test]
fn the_venvs_python_devservices_shadows_devrig() {
    let world = with_devservices();
    world.placeholder(env!("CARGO_PKG_VERSION"), "[VERSION]");
    let _filters = world.snapshot_settings().bind_to_scope();
    common::toolchain::install_devservices(&world.repo().join(".venv"));
    let shadowed = world.check("devservices.path");
    insta::assert_snapshot!(report(&[shadowed]), @"
    warn devservices.path: devservices is the Python devservices 1.5.4, not devrig: .venv/bin/devservices (direnv puts .venv/bin first on PATH: .envrc:1)
         fix: remove .venv/bin/devservices (`rm .venv/bin/devservices`; reinstalling the venv's devservices puts it back), or put devrig first: add `PATH_add [TMP]/bin` to .envrc below line 1, then run `direnv allow`
    ");

    // Way out 1: devrig's directory first, below the venv's activation.
    let envrc = format!(
        "source .venv/bin/activate\nPATH_add {}\n",
        world.root().join("bin").display()
    );
    world.file(".envrc", &envrc);
    insta::assert_snapshot!(report(&[world.check("devservices.path")]), @"ok   devservices.path: devservices is devrig [VERSION]: [TMP]/bin/devservices");

    // Way out 2: the venv's copy removed.
    world.file(".envrc", "source .venv/bin/activate\n");
    std::fs::remove_file(world.repo().join(".venv/bin/devservices")).unwrap();
    insta::assert_snapshot!(report(&[world.check("devservices.path")]), @"ok   devservices.path: devservices is devrig [VERSION]: [TMP]/bin/devservices");
}

#[test]
fn no_devservices_on_path() {
    let world = Setup::healthy().build();
    world.file(
        "devservices/config.yml",
        "x-sentry-service-config:\n  version: 0.1\n  service_name: app\n  modes:\n    default: []\n",
    );
    insta::assert_snapshot!(report(&[world.check("devservices.path")]), @r#"
    warn devservices.path: devservices is not on PATH
         fix: install devrig with its install.sh, which links devservices to it (or `ln -s "$(command -v devrig)" ~/.local/bin/devservices`)
    "#);
}

/// A repo without a devservices config has no such check.
#[test]
fn no_devservices_check_without_a_config() {
    let world = Setup::healthy().build();
    assert!(world.checks().iter().all(|c| c.id != "devservices.path"));
}
