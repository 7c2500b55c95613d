//! Node at the repo's pin, in `.devenv/bin/node-env` with sentry-devenv's
//! `node`, `npm` and `npx` shims beside it.
//!
//! - **Which version.** An exact pin (`26.11.1`) is installed as it is. A
//!   range (`22`, `>=22`) is met by what is installed already, in
//!   `.devenv/bin` or on PATH; else its newest release on the mirror
//!   (`index.json`) is installed.
//! - **From where.** `devenv/config.ini`'s `<system>_<machine>` URL and
//!   `_sha256` when they are for the pinned version (sentry's repos mirror
//!   Node themselves); else the Node distribution mirror
//!   (`DEVRIG_NODE_MIRROR`, default <https://nodejs.org/dist>), its
//!   `SHASUMS256.txt` giving the digest of the `.tar.xz` (or `.tar.gz`).
//! - **Already there.** devrig writes the version it installed to
//!   `node-env/.devrig-node`; a node-env without it (sentry-devenv's) is
//!   asked `node --version` once, and marked.

use super::download::{self, Algo};
use super::{NODE_ENV, ProvisionError, Provisioned, Site};
use crate::toolchain::requirements::NodeReq;
use crate::toolchain::run::{self, PROBE_TIMEOUT};
use crate::toolchain::sync::{Event, Observer};
use crate::toolchain::version::{Version, VersionReq};
use std::path::{Path, PathBuf};

/// The Node distribution site, when `DEVRIG_NODE_MIRROR` names no other.
pub const DEFAULT_MIRROR: &str = "https://nodejs.org/dist";

/// The programs of node-env that get a shim in `.devenv/bin`.
pub const SHIMS: [&str; 3] = ["node", "npm", "npx"];

/// The marker devrig writes into node-env: the version it installed.
const MARKER: &str = ".devrig-node";

/// Where one Node archive is, and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Archive {
    /// `v26.11.1`.
    version: String,
    url: String,
    sha256: String,
    /// Where the digest is written, for a mismatch.
    sha256_from: String,
}

/// Makes `.devenv/bin/node` the Node `req` pins (see the module docs).
pub(crate) fn provision(
    site: &Site,
    req: &NodeReq,
    observer: &mut dyn Observer,
) -> Result<Provisioned, ProvisionError> {
    let binroot = site.binroot();
    super::clean_up(&binroot, NODE_ENV);
    let node_env = site.node_env();
    let pin = &req.version.req;
    let installed = installed_version(&node_env);
    let shims_ok = SHIMS.iter().all(|s| {
        std::fs::read_to_string(binroot.join(s)).is_ok_and(|t| t == super::node_shim(&binroot, s))
    });
    if let Some(v) = &installed
        && pin.matches(v)
        && shims_ok
    {
        return Ok(Provisioned::Ready(format!("v{v} in {}", super::BINROOT)));
    }
    if pin.exact().is_none()
        && installed.is_none()
        && let Some((path, v)) = path_node(site)
        && pin.matches(&v)
    {
        return Ok(Provisioned::Ready(format!(
            "v{v} on PATH ({}) meets {pin}",
            site.env.tilde(&path)
        )));
    }

    let archive = source(site, req, observer)?;
    let replacing = installed
        .map(|v| format!(", replacing v{v}"))
        .unwrap_or_default();
    observer.event(Event::ToolInstalling {
        tool: "node",
        detail: &format!("{} from {}{replacing}", archive.version, archive.url),
    });
    let binroot = super::ensure_binroot(site)?;
    let staging = super::staging(&binroot, NODE_ENV)?;
    let result = install(site, &archive, &staging, observer);
    let _ = std::fs::remove_dir_all(&staging);
    result?;
    for shim in SHIMS {
        super::write_script(&binroot.join(shim), &super::node_shim(&binroot, shim))?;
    }
    Ok(Provisioned::Installed(format!(
        "{} into {}/{NODE_ENV}",
        archive.version,
        super::BINROOT
    )))
}

/// Download, check, unpack, run, swap in.
fn install(
    site: &Site,
    archive: &Archive,
    staging: &Path,
    observer: &mut dyn Observer,
) -> Result<(), ProvisionError> {
    let file = staging.join("download");
    let actual = download::to_file(
        &archive.url,
        &file,
        Algo::Sha256,
        &mut super::report_download("node", &archive.url, observer),
    )?;
    if actual != archive.sha256 {
        return Err(ProvisionError::Checksum {
            url: archive.url.clone(),
            algo: Algo::Sha256.name(),
            expected: archive.sha256.clone(),
            actual,
            expected_from: archive.sha256_from.clone(),
        });
    }
    observer.event(Event::Unpacking { tool: "node" });
    let unpacked = staging.join("unpacked");
    let unpack_error = |reason: String| ProvisionError::Unpack {
        url: archive.url.clone(),
        reason,
    };
    super::unpack::unpack(&file, &unpacked).map_err(|e| unpack_error(e.to_string()))?;
    let _ = std::fs::remove_file(&file);
    let top = super::unpack::single_top(&unpacked)
        .map_err(|e| unpack_error(e.to_string()))?
        .ok_or_else(|| {
            unpack_error("it is not a Node distribution: it has no single top directory".to_owned())
        })?;
    let node = top.join("bin/node");
    if !node.is_file() {
        return Err(unpack_error("it has no bin/node".to_owned()));
    }
    // Checked before it replaces anything: a binary for another libc or
    // CPU must not take the place of one that works.
    let says = run_version(&node, site).map_err(|problem| ProvisionError::Verify {
        tool: "node",
        problem,
    })?;
    let wanted = Version::parse(&archive.version);
    if wanted.is_some() && Version::parse(&says) != wanted {
        return Err(ProvisionError::Verify {
            tool: "node",
            problem: format!("says it is {says}, not {}", archive.version),
        });
    }
    write_marker(&top, &says)?;
    carry_pnpm(&site.node_env(), &top);
    super::put_in_place(&top, &site.node_env())
}

/// pnpm installed in the node-env being replaced is plain JavaScript that
/// runs on any Node: it moves to the new one instead of being fetched again.
fn carry_pnpm(old: &Path, new: &Path) {
    let from = old.join("lib/node_modules/pnpm");
    if !from.is_dir() {
        return;
    }
    let to = new.join("lib/node_modules/pnpm");
    if to.exists() || std::fs::create_dir_all(new.join("lib/node_modules")).is_err() {
        return;
    }
    if std::fs::rename(&from, &to).is_ok() {
        for name in ["pnpm", "pnpx"] {
            if let Ok(target) = std::fs::read_link(old.join("bin").join(name)) {
                let _ = std::os::unix::fs::symlink(target, new.join("bin").join(name));
            }
        }
    }
}

fn write_marker(top: &Path, version: &str) -> Result<(), ProvisionError> {
    let path = top.join(MARKER);
    std::fs::write(&path, format!("{version}\n")).map_err(|source| ProvisionError::Io {
        action: "write",
        path,
        source,
    })
}

/// The version of the Node in `node_env`: its marker, else what it says
/// (and then it is marked). `None` when there is none that runs.
fn installed_version(node_env: &Path) -> Option<Version> {
    if !node_env.join("bin/node").is_file() {
        return None;
    }
    if let Ok(text) = std::fs::read_to_string(node_env.join(MARKER))
        && let Some(v) = Version::parse(text.trim())
    {
        return Some(v);
    }
    let env = crate::toolchain::HostEnv::from_vars([("PATH", "/usr/bin:/bin")]);
    let mut cmd = run::command(&node_env.join("bin/node"), node_env, &env);
    cmd.arg("--version");
    let out = run::run(cmd, PROBE_TIMEOUT).ok().filter(|o| o.success())?;
    let says = out.first_line().to_owned();
    let v = Version::parse(&says)?;
    let _ = write_marker(node_env, &says);
    Some(v)
}

/// `node --version` of the program at `node`.
fn run_version(node: &Path, site: &Site) -> Result<String, String> {
    let mut cmd = run::command(node, site.root, site.env);
    cmd.arg("--version");
    match run::run(cmd, PROBE_TIMEOUT) {
        Ok(out) if out.success() => Ok(out.first_line().to_owned()),
        Ok(out) => Err(format!("does not run: {}", out.error_line())),
        Err(e) => Err(format!("does not run: {e}")),
    }
}

/// The `node` on PATH and its version, when it runs.
fn path_node(site: &Site) -> Option<(PathBuf, Version)> {
    let node = site.env.which("node", site.root)?;
    let says = run_version(&node, site).ok()?;
    Some((node, Version::parse(&says)?))
}

/// Where to get the Node `req` pins.
fn source(
    site: &Site,
    req: &NodeReq,
    observer: &mut dyn Observer,
) -> Result<Archive, ProvisionError> {
    if let Some(dist) = &req.dist {
        return Ok(Archive {
            version: format!("v{}", dist.version.trim_start_matches(['v', 'V'])),
            url: dist.url.clone(),
            sha256: dist.sha256.clone(),
            sha256_from: dist.sha256_source.to_string(),
        });
    }
    let mirror = site
        .env
        .get("DEVRIG_NODE_MIRROR")
        .unwrap_or(DEFAULT_MIRROR)
        .trim_end_matches('/')
        .to_owned();
    let version = match req.version.req.exact() {
        Some(v) => format!("v{v}"),
        None => {
            let url = format!("{mirror}/index.json");
            let index = super::fetch_text("node", &url, observer)?;
            newest(&index, &req.version.req, &dist_platform()).ok_or_else(|| {
                ProvisionError::NoNodeRelease {
                    mirror: mirror.clone(),
                    req: req.version.req.to_string(),
                    required_by: req.version.source.to_string(),
                }
            })?
        }
    };
    let listing = format!("{mirror}/{version}/SHASUMS256.txt");
    let sums = super::fetch_text("node", &listing, observer)?;
    let platform = dist_platform();
    let (file, sha256) =
        pick(&sums, &version, &platform).ok_or_else(|| ProvisionError::NoNodeDist {
            mirror: mirror.clone(),
            version: version.clone(),
            platform: platform.clone(),
            listing: listing.clone(),
        })?;
    Ok(Archive {
        url: format!("{mirror}/{version}/{file}"),
        version,
        sha256,
        sha256_from: listing,
    })
}

/// This machine as Node's distributions name it: `linux-x64`,
/// `darwin-arm64`.
fn dist_platform() -> String {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!("{os}-{arch}")
}

/// The archive of `version` for `platform` in a `SHASUMS256.txt`, and its
/// digest: `.tar.xz` when listed (smaller), else `.tar.gz`.
fn pick(sums: &str, version: &str, platform: &str) -> Option<(String, String)> {
    let entries: Vec<(&str, &str)> = sums
        .lines()
        .filter_map(|line| {
            let (hash, name) = line.split_once(char::is_whitespace)?;
            Some((hash.trim(), name.trim().trim_start_matches('*')))
        })
        .collect();
    ["tar.xz", "tar.gz"].iter().find_map(|ext| {
        let name = format!("node-{version}-{platform}.{ext}");
        entries
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(hash, _)| (name.clone(), hash.to_ascii_lowercase()))
    })
}

/// The newest release in a mirror's `index.json` that meets `req` and has
/// a build for `platform`.
fn newest(index: &str, req: &VersionReq, platform: &str) -> Option<String> {
    let releases: Vec<serde_json::Value> = serde_json::from_str(index).ok()?;
    releases
        .iter()
        .filter(|r| {
            r["files"]
                .as_array()
                .is_some_and(|files| files.iter().any(|f| f.as_str() == Some(platform)))
        })
        .filter_map(|r| {
            let text = r["version"].as_str()?;
            let v = Version::parse(text)?;
            req.matches(&v).then(|| (v, text.to_owned()))
        })
        .max_by_key(|(v, _)| *v)
        .map(|(_, text)| text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smaller_archive_of_this_platform_is_picked() {
        let sums = "\
aaaa  node-v22.11.0-darwin-arm64.tar.xz
BBBB  node-v22.11.0-linux-x64.tar.gz
cccc  node-v22.11.0-linux-x64.tar.xz
dddd  node-v22.11.0-linux-x64.zip
";
        assert_eq!(
            pick(sums, "v22.11.0", "linux-x64"),
            Some(("node-v22.11.0-linux-x64.tar.xz".into(), "cccc".into()))
        );
        assert_eq!(
            pick(
                &sums.replace("cccc  node-v22.11.0-linux-x64.tar.xz\n", ""),
                "v22.11.0",
                "linux-x64"
            ),
            Some(("node-v22.11.0-linux-x64.tar.gz".into(), "bbbb".into()))
        );
        assert_eq!(pick(sums, "v22.11.0", "linux-arm64"), None);
    }

    #[test]
    fn a_range_resolves_to_its_newest_release_with_a_build_here() {
        let index = r#"[
            {"version": "v26.1.0", "files": ["linux-x64"]},
            {"version": "v22.12.0", "files": ["darwin-arm64"]},
            {"version": "v22.11.0", "files": ["linux-x64", "darwin-arm64"]},
            {"version": "v22.9.0", "files": ["linux-x64"]}
        ]"#;
        let req = |t: &str| VersionReq::parse(t).unwrap();
        assert_eq!(
            newest(index, &req("22"), "linux-x64").as_deref(),
            Some("v22.11.0")
        );
        assert_eq!(
            newest(index, &req(">=22"), "linux-x64").as_deref(),
            Some("v26.1.0")
        );
        assert_eq!(newest(index, &req("24"), "linux-x64"), None);
    }
}
