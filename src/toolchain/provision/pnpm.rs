//! pnpm at the version `package.json`'s `packageManager` names, installed
//! where sentry-devenv's `npm install -g` puts it (node-env's
//! `lib/node_modules/pnpm`, linked from node-env's `bin`), with its
//! `.devenv/bin/pnpm` shim. devrig fetches the tarball itself from the
//! registry the machine is configured with, so it needs no npm and no
//! corepack, and checks it against the registry's `integrity` and against
//! `packageManager`'s `+sha512.` hash when there is one.
//!
//! The registry is npm's: `npm_config_registry` in the environment, else
//! `registry=` in the repo's `.npmrc`, else in the user's
//! (`NPM_CONFIG_USERCONFIG`, `~/.npmrc`), else <https://registry.npmjs.org/>:
//! the files `npm config get registry` reads, read without starting npm.

use super::download::{self, Algo};
use super::{NODE_ENV, ProvisionError, Provisioned, Site};
use crate::toolchain::requirements::PnpmReq;
use crate::toolchain::sync::{Event, Observer};
use base64::Engine as _;
use std::path::{Path, PathBuf};

/// npm's public registry.
pub const DEFAULT_REGISTRY: &str = "https://registry.npmjs.org/";

/// Installs the pinned pnpm when `req` comes from `packageManager`;
/// `None` when sync does not install this requirement (a range, or no pin).
pub(crate) fn provision(
    site: &Site,
    req: &PnpmReq,
    observer: &mut dyn Observer,
) -> Result<Option<Provisioned>, ProvisionError> {
    let Some(pin) = req.version.as_ref().filter(|_| req.package_manager) else {
        return Ok(None);
    };
    let version = pin.written.clone();
    let binroot = site.binroot();
    let node_env = site.node_env();
    let package = node_env.join("lib/node_modules/pnpm");
    super::clean_up(&node_env.join("lib/node_modules"), "pnpm");
    let shim = super::node_shim(&binroot, "pnpm");
    if installed_version(&package).as_deref() == Some(version.as_str())
        && node_env.join("bin/pnpm").exists()
        && std::fs::read_to_string(binroot.join("pnpm")).is_ok_and(|t| t == shim)
    {
        return Ok(Some(Provisioned::Ready(format!(
            "{version} in {}/{NODE_ENV}",
            super::BINROOT
        ))));
    }

    let registry = registry(site);
    let spec = format!("pnpm@{version}");
    let document = format!("{}/pnpm/{version}", registry.trim_end_matches('/'));
    let text = super::fetch_text("pnpm", &document, observer)?;
    let bad = |reason: &str| ProvisionError::Registry {
        url: document.clone(),
        package: spec.clone(),
        reason: reason.to_owned(),
    };
    let manifest: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(&format!("not JSON ({e})")))?;
    let tarball = manifest["dist"]["tarball"]
        .as_str()
        .ok_or_else(|| bad("no dist.tarball"))?
        .to_owned();
    let integrity = manifest["dist"]["integrity"]
        .as_str()
        .ok_or_else(|| bad("no dist.integrity"))?;
    let registry_sha512 = sha512_of_integrity(integrity).ok_or_else(|| {
        bad(&format!(
            "dist.integrity `{integrity}` is not a sha512 value"
        ))
    })?;

    observer.event(Event::ToolInstalling {
        tool: "pnpm",
        detail: &format!("{version} from {tarball}"),
    });
    let modules = node_env.join("lib/node_modules");
    super::create_dir(&modules)?;
    super::ensure_binroot(site)?;
    let staging = super::staging(&modules, "pnpm")?;
    let result = install(
        &tarball,
        &staging,
        &[
            (registry_sha512, document.clone()),
            (
                req.sha512.clone().unwrap_or_default(),
                pin.source.to_string(),
            ),
        ],
        &package,
        observer,
    );
    let _ = std::fs::remove_dir_all(&staging);
    let bins = result?;
    let bin_dir = node_env.join("bin");
    super::create_dir(&bin_dir)?;
    for (name, target) in bins {
        let link = bin_dir.join(&name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(Path::new("../lib/node_modules/pnpm").join(&target), &link)
            .map_err(|source| ProvisionError::Io {
                action: "link",
                path: link.clone(),
                source,
            })?;
    }
    super::write_script(&binroot.join("pnpm"), &shim)?;
    Ok(Some(Provisioned::Installed(format!(
        "{version} into {}/{NODE_ENV}",
        super::BINROOT
    ))))
}

/// Downloads and checks the tarball against every non-empty expected
/// sha512, unpacks it and puts its `package/` at `package`; returns its
/// executables (`pnpm` → `bin/pnpm.cjs`).
fn install(
    url: &str,
    staging: &Path,
    expected: &[(String, String)],
    package: &Path,
    observer: &mut dyn Observer,
) -> Result<Vec<(String, PathBuf)>, ProvisionError> {
    let file = staging.join("download.tgz");
    let actual = download::to_file(
        url,
        &file,
        Algo::Sha512,
        &mut super::report_download("pnpm", url, observer),
    )?;
    for (want, from) in expected.iter().filter(|(want, _)| !want.is_empty()) {
        if *want != actual {
            return Err(ProvisionError::Checksum {
                url: url.to_owned(),
                algo: Algo::Sha512.name(),
                expected: want.clone(),
                actual,
                expected_from: from.clone(),
            });
        }
    }
    observer.event(Event::Unpacking { tool: "pnpm" });
    let unpacked = staging.join("unpacked");
    let unpack_error = |reason: String| ProvisionError::Unpack {
        url: url.to_owned(),
        reason,
    };
    super::unpack::unpack(&file, &unpacked).map_err(|e| unpack_error(e.to_string()))?;
    let top = unpacked.join("package");
    let manifest = std::fs::read_to_string(top.join("package.json"))
        .map_err(|e| unpack_error(format!("no package/package.json: {e}")))?;
    let manifest: serde_json::Value = serde_json::from_str(&manifest)
        .map_err(|e| unpack_error(format!("package.json is not JSON: {e}")))?;
    let bins: Vec<(String, PathBuf)> = match &manifest["bin"] {
        serde_json::Value::Object(map) => map
            .iter()
            .filter_map(|(name, path)| Some((name.clone(), PathBuf::from(path.as_str()?))))
            .collect(),
        serde_json::Value::String(path) => vec![("pnpm".to_owned(), PathBuf::from(path))],
        _ => Vec::new(),
    };
    if !bins.iter().any(|(name, _)| name == "pnpm") {
        return Err(unpack_error(
            "its package.json has no `pnpm` executable".to_owned(),
        ));
    }
    use std::os::unix::fs::PermissionsExt;
    for (_, path) in &bins {
        let _ = std::fs::set_permissions(top.join(path), std::fs::Permissions::from_mode(0o755));
    }
    super::put_in_place(&top, package)?;
    Ok(bins)
}

/// The version in an installed package's `package.json`: what `pnpm
/// --version` prints, read without starting Node.
fn installed_version(package: &Path) -> Option<String> {
    let text = std::fs::read_to_string(package.join("package.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["version"].as_str().map(str::to_owned)
}

/// `sha512-<base64>` (npm's Subresource Integrity form) as hex.
fn sha512_of_integrity(integrity: &str) -> Option<String> {
    integrity.split_whitespace().find_map(|one| {
        let b64 = one.strip_prefix("sha512-")?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        (bytes.len() == 64).then(|| download::hex(&bytes))
    })
}

/// The npm registry of this repo and user (see the module docs).
fn registry(site: &Site) -> String {
    for var in ["npm_config_registry", "NPM_CONFIG_REGISTRY"] {
        if let Some(value) = site.env.get(var) {
            return value.to_owned();
        }
    }
    let user = site
        .env
        .get("NPM_CONFIG_USERCONFIG")
        .or_else(|| site.env.get("npm_config_userconfig"))
        .map(PathBuf::from)
        .or_else(|| site.env.home().map(|h| h.join(".npmrc")));
    [Some(site.root.join(".npmrc")), user]
        .into_iter()
        .flatten()
        .find_map(|file| npmrc_registry(&std::fs::read_to_string(file).ok()?))
        .unwrap_or_else(|| DEFAULT_REGISTRY.to_owned())
}

/// `registry = …` in an npmrc (ini: `;`/`#` comments, optional quotes).
fn npmrc_registry(text: &str) -> Option<String> {
    text.lines().rev().find_map(|line| {
        let line = line.trim();
        let (key, value) = line.split_once('=')?;
        (key.trim() == "registry").then(|| value.trim().trim_matches(['"', '\'']).to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_values_become_hex() {
        // pnpm 10.10.0's, as the npm registry publishes it.
        let hex = sha512_of_integrity(
            "sha512-1hXbJG/nDyXc/qbY1z3ueCziPiJF48T2+Igkn7VoFJMYY33Kc8LFyO8qTKDVZX+5VnGIv6tH9WbR7mzph4FcOQ==",
        )
        .unwrap();
        assert_eq!(hex.len(), 128);
        assert!(hex.starts_with("d615db246fe70f25dcfea6d8d73dee78"));
        assert_eq!(sha512_of_integrity("sha1-abc"), None);
    }

    #[test]
    fn the_registry_comes_from_the_environment_then_npmrc_files() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(&root).unwrap();
        let env = crate::toolchain::HostEnv::from_vars([("HOME", home.display().to_string())]);
        let site = Site {
            root: &root,
            env: &env,
        };
        assert_eq!(registry(&site), DEFAULT_REGISTRY);
        std::fs::write(
            home.join(".npmrc"),
            "; mine\nregistry = \"https://npm.example/\"\n",
        )
        .unwrap();
        assert_eq!(registry(&site), "https://npm.example/");
        std::fs::write(root.join(".npmrc"), "registry=http://repo.example/\n").unwrap();
        assert_eq!(registry(&site), "http://repo.example/");
        let mut env = env.clone();
        env.set("NPM_CONFIG_REGISTRY", "http://env.example/");
        assert_eq!(
            registry(&Site {
                root: &root,
                env: &env
            }),
            "http://env.example/"
        );
    }
}
