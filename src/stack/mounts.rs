//! Bind mounts for an engine on another machine. A bind source names a
//! path on this machine, which the remote engine cannot see: each one
//! inside the repo or a cached remote checkout (snuba's ClickHouse XML,
//! relay's config) is copied to a per-project directory on the remote host,
//! over the engine's own SSH connection, and the mount points there
//! instead. One elsewhere (`/etc/…`, `~/…`) is an error before anything
//! starts: it would not exist remotely.
//!
//! The remote directory is named by the content's hash
//! (`~/.cache/devrig/mounts/<project>/<source>-<hash>/<name>`), so the
//! rewritten mount, and with it the container's config hash, changes
//! exactly when the content does: `up` copies the new content first and the
//! container is recreated onto it, as compose would do for a changed
//! service. What was copied is noted beside the SSH connection (in the
//! runtime dir), so an unchanged source costs nothing; one not noted costs
//! one remote `test -e` (all sources in one command), and is copied only
//! when the remote lacks it. Older copies of a source are removed once the
//! new one is in place.

use super::StackError;
use crate::engine::ssh::Remote;
use crate::plan::{Plan, UnitKind};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One bind source of the plan, as copied to the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// The path on this machine.
    pub source: PathBuf,
    /// `<project>/<source id>-<content hash>`, under the remote base.
    dir: String,
    /// The file or directory's own name inside `dir`.
    name: String,
}

impl Copy {
    /// `<project>/<source id>`: what every copy of this source starts with.
    fn source_dir(&self) -> &str {
        self.dir
            .rsplit_once('-')
            .map_or(&self.dir, |(head, _)| head)
    }

    /// Where the mount points on the remote, under `base`.
    fn remote_path(&self, base: &str) -> String {
        format!("{base}/{}/{}", self.dir, self.name)
    }
}

/// Where on the remote the copies live, beneath the login's home.
fn base(remote: &Remote) -> String {
    format!(
        "{}/.cache/devrig/mounts",
        remote.home().trim_end_matches('/')
    )
}

/// The bind sources of the plan's containers, each checked to be inside
/// one of the plan's trees (a repo, a remote checkout): `(project, service,
/// volume index, source)`.
fn binds(plan: &Plan) -> Result<Vec<(String, String, usize, PathBuf)>, StackError> {
    let roots: Vec<&Path> = plan
        .projects
        .values()
        .map(|p| p.config.dir.parent().unwrap_or(&p.config.dir))
        .collect();
    let mut found = Vec::new();
    for unit in plan.levels.iter().flatten() {
        if unit.kind != UnitKind::Container {
            continue;
        }
        let project = &plan.projects[&unit.project];
        let service = &project.config.services[&unit.name];
        for (index, volume) in service.volumes.iter().enumerate() {
            let Some(source) = volume.source.as_deref().filter(|_| volume.kind == "bind") else {
                continue;
            };
            let source = PathBuf::from(source);
            let source = std::path::absolute(&source).unwrap_or(source);
            if !roots.iter().any(|root| normal(&source).starts_with(root)) {
                return Err(StackError::BindOutside {
                    path: source,
                    service: format!("{}/{}", unit.project, unit.name),
                    config_file: project.config.file.clone(),
                    pos: volume.pos,
                });
            }
            found.push((unit.project.clone(), unit.name.clone(), index, source));
        }
    }
    Ok(found)
}

/// `a/./b/../c` → `a/c`, without asking the filesystem (a `..` must not
/// lead out of the repo unnoticed).
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Refuses a plan with a bind source no remote copy can be made of.
pub fn check(plan: &Plan) -> Result<(), StackError> {
    binds(plan).map(drop)
}

/// What [`sync`] did: the plan with every bind pointing at its copy on the
/// remote, and the sources it had to copy (unchanged ones were there).
pub struct Synced {
    pub plan: Plan,
    pub copied: Vec<(PathBuf, String)>,
}

/// Copies what changed of the plan's bind sources to the remote and
/// returns the plan with the mounts rewritten to the copies.
pub async fn sync(remote: &Remote, plan: &Plan) -> Result<Synced, StackError> {
    let binds = binds(plan)?;
    let mut plan = plan.clone();
    if binds.is_empty() {
        return Ok(Synced {
            plan,
            copied: Vec::new(),
        });
    }
    let base = base(remote);
    let mut copies: BTreeMap<PathBuf, (Copy, Tree)> = BTreeMap::new();
    for (project, _, _, source) in &binds {
        if copies.contains_key(source) {
            continue;
        }
        let tree = Tree::read(source).map_err(|e| StackError::Copy {
            path: source.clone(),
            host: remote.target.name().to_owned(),
            message: e.to_string(),
        })?;
        let id: String =
            hex(&Sha256::digest(source.as_os_str().as_encoded_bytes()))[..12].to_owned();
        let name = source
            .file_name()
            .map_or_else(|| "root".to_owned(), |n| n.to_string_lossy().into_owned());
        let copy = Copy {
            source: source.clone(),
            dir: format!("{project}/{id}-{}", &tree.hash()[..16]),
            name,
        };
        copies.insert(source.clone(), (copy, tree));
    }
    let mut known: Vec<String> = std::fs::read_to_string(remote.record())
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    let unknown: Vec<&(Copy, Tree)> = copies
        .values()
        .filter(|(copy, _)| !known.contains(&copy.remote_path(&base)))
        .collect();
    let to_copy = if unknown.is_empty() {
        Vec::new()
    } else {
        copy_missing(remote, &base, &unknown).await?
    };
    known.extend(unknown.iter().map(|(copy, _)| copy.remote_path(&base)));
    // A changed source's older copy is gone there: so is its note.
    let current: Vec<String> = copies
        .values()
        .map(|(copy, _)| copy.remote_path(&base))
        .collect();
    let sources: Vec<String> = copies
        .values()
        .map(|(copy, _)| format!("{base}/{}-", copy.source_dir()))
        .collect();
    known.retain(|path| current.contains(path) || !sources.iter().any(|s| path.starts_with(s)));
    known.sort();
    known.dedup();
    let _ = crate::private::write(remote.record(), known.join("\n") + "\n");
    for (project, service, index, source) in &binds {
        let copy = &copies[source].0;
        if let Some(svc) = plan
            .projects
            .get_mut(project)
            .and_then(|p| p.config.services.get_mut(service))
            && let Some(volume) = svc.volumes.get_mut(*index)
        {
            volume.source = Some(copy.remote_path(&base));
        }
    }
    Ok(Synced {
        plan,
        copied: to_copy,
    })
}

/// Asks the remote which of `copies` it lacks (one command), and copies
/// those (one more); returns what it copied, as (source, remote path).
async fn copy_missing(
    remote: &Remote,
    base: &str,
    copies: &[&(Copy, Tree)],
) -> Result<Vec<(PathBuf, String)>, StackError> {
    let base = base.to_owned();
    let mut check = String::new();
    for (copy, _) in copies {
        check.push_str(&format!(
            "[ -e {path} ] || echo {dir}\n",
            path = shell_words::quote(&copy.remote_path(&base)),
            dir = shell_words::quote(&copy.dir)
        ));
    }
    let out = remote.exec(&check, None).await?;
    let missing: Vec<&str> = std::str::from_utf8(&out.stdout)
        .unwrap_or_default()
        .lines()
        .collect();
    let to_copy: Vec<&(Copy, Tree)> = copies
        .iter()
        .copied()
        .filter(|(copy, _)| missing.contains(&copy.dir.as_str()))
        .collect();
    if !to_copy.is_empty() {
        let archive = archive(&to_copy).map_err(|e| StackError::Copy {
            path: to_copy[0].0.source.clone(),
            host: remote.target.name().to_owned(),
            message: e.to_string(),
        })?;
        let out = remote
            .exec(&unpack_script(&base, &to_copy), Some(&archive))
            .await?;
        if !out.status.success() {
            return Err(StackError::Copy {
                path: to_copy[0].0.source.clone(),
                host: remote.target.name().to_owned(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
    }
    Ok(to_copy
        .iter()
        .map(|(copy, _)| (copy.source.clone(), copy.remote_path(&base)))
        .collect())
}

/// Removes every copy on the remote (`purge`); true when there were any.
pub async fn remove_all(remote: &Remote) -> Result<bool, StackError> {
    let base = shell_words::quote(&base(remote)).into_owned();
    let out = remote
        .exec(&format!("[ -e {base} ] || exit 3; rm -rf {base}"), None)
        .await?;
    let _ = std::fs::remove_file(remote.record());
    match out.status.code() {
        Some(0) => Ok(true),
        Some(3) => Ok(false),
        _ => Err(StackError::Copy {
            path: PathBuf::from(base),
            host: remote.target.name().to_owned(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }),
    }
}

/// Unpacks the archive beside the copies, moves each into place, then
/// removes the older copies of the same sources.
fn unpack_script(base: &str, copies: &[&(Copy, Tree)]) -> String {
    let q = |s: &str| shell_words::quote(s).into_owned();
    let mut script = format!(
        "set -e\nmkdir -p {base}\nt=$(mktemp -d {tmp})\ntrap 'rm -rf \"$t\"' EXIT\ntar -x -f - -C \"$t\"\n",
        base = q(base),
        tmp = q(&format!("{base}/.incoming.XXXXXX"))
    );
    for (copy, _) in copies {
        let (project, _) = copy.dir.split_once('/').unwrap_or(("", &copy.dir));
        let target = format!("{base}/{}", copy.dir);
        script.push_str(&format!(
            "mkdir -p {parent}\nrm -rf {target}\nmv \"$t\"/{dir} {target}\n\
             for old in {older}-*; do [ \"$old\" = {target} ] || rm -rf \"$old\"; done\n",
            parent = q(&format!("{base}/{project}")),
            target = q(&target),
            dir = q(&copy.dir),
            older = q(&format!("{base}/{}", copy.source_dir())),
        ));
    }
    script
}

/// A tar stream holding each copy under its directory.
fn archive(copies: &[&(Copy, Tree)]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (copy, tree) in copies {
        let top = format!("{}/{}", copy.dir, copy.name);
        let mut dirs: Vec<String> = Vec::new();
        let mut parent = String::new();
        for part in copy.dir.split('/') {
            parent = if parent.is_empty() {
                part.to_owned()
            } else {
                format!("{parent}/{part}")
            };
            dirs.push(parent.clone());
        }
        for dir in dirs {
            append(&mut builder, &dir, &Entry::Dir { mode: 0o755 })?;
        }
        for (rel, entry) in &tree.entries {
            let path = if rel.is_empty() {
                top.clone()
            } else {
                format!("{top}/{rel}")
            };
            append(&mut builder, &path, entry)?;
        }
    }
    builder.into_inner()
}

fn append(builder: &mut tar::Builder<Vec<u8>>, path: &str, entry: &Entry) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_mtime(0);
    match entry {
        Entry::File { bytes, mode } => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(*mode);
            header.set_size(bytes.len() as u64);
            builder.append_data(&mut header, path, bytes.as_slice())
        }
        Entry::Dir { mode } => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(*mode);
            header.set_size(0);
            builder.append_data(&mut header, path, std::io::empty())
        }
        Entry::Link { target } => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            builder.append_link(&mut header, path, target)
        }
    }
}

/// A bind source as read from disk: `""` for the source itself, then the
/// paths under a directory, in order.
#[derive(Debug)]
struct Tree {
    entries: BTreeMap<String, Entry>,
}

#[derive(Debug)]
enum Entry {
    File {
        bytes: Vec<u8>,
        mode: u32,
    },
    Dir {
        mode: u32,
    },
    /// Kept as a link (a link out of the tree would point nowhere there).
    Link {
        target: PathBuf,
    },
}

impl Tree {
    /// A missing source reads as an empty directory, which is what the
    /// engine makes of a missing bind source itself.
    fn read(source: &Path) -> std::io::Result<Tree> {
        let mut entries = BTreeMap::new();
        match std::fs::symlink_metadata(source) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                entries.insert(String::new(), Entry::Dir { mode: 0o755 });
            }
            Err(e) => return Err(e),
            // The source itself is followed (a linked config file is its
            // content); what is under it is kept as it is.
            Ok(_) => walk(&std::fs::canonicalize(source)?, "", true, &mut entries)?,
        }
        Ok(Tree { entries })
    }

    /// Paths, kinds, modes and contents, each length-prefixed: two
    /// different trees never feed the same bytes.
    fn hash(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(b"devrig mounts v1");
        for (path, entry) in &self.entries {
            field(path.as_bytes());
            match entry {
                Entry::File { bytes, mode } => {
                    field(b"file");
                    field(&mode.to_le_bytes());
                    field(bytes);
                }
                Entry::Dir { mode } => {
                    field(b"dir");
                    field(&mode.to_le_bytes());
                }
                Entry::Link { target } => {
                    field(b"link");
                    field(target.as_os_str().as_encoded_bytes());
                }
            }
        }
        hex(&h.finalize())
    }
}

fn walk(
    path: &Path,
    rel: &str,
    follow: bool,
    entries: &mut BTreeMap<String, Entry>,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = if follow {
        std::fs::metadata(path)?
    } else {
        std::fs::symlink_metadata(path)?
    };
    let mode = meta.permissions().mode() & 0o7777;
    if meta.file_type().is_symlink() {
        entries.insert(
            rel.to_owned(),
            Entry::Link {
                target: std::fs::read_link(path)?,
            },
        );
    } else if meta.is_dir() {
        entries.insert(rel.to_owned(), Entry::Dir { mode });
        for child in std::fs::read_dir(path)? {
            let child = child?;
            let name = child.file_name().to_string_lossy().into_owned();
            let child_rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            walk(&child.path(), &child_rel, false, entries)?;
        }
    } else if meta.is_file() {
        entries.insert(
            rel.to_owned(),
            Entry::File {
                bytes: std::fs::read(path)?,
                mode,
            },
        );
    }
    // Sockets, fifos and devices have no content to copy.
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_decides_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("conf");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("a.xml"), "<a/>").unwrap();
        let one = Tree::read(&root).unwrap().hash();
        assert_eq!(one, Tree::read(&root).unwrap().hash(), "stable");
        std::fs::write(root.join("a.xml"), "<b/>").unwrap();
        let two = Tree::read(&root).unwrap().hash();
        assert_ne!(one, two, "content counts");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root.join("a.xml"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        assert_ne!(two, Tree::read(&root).unwrap().hash(), "modes count");
        let missing = Tree::read(&dir.path().join("nothing")).unwrap();
        assert!(matches!(missing.entries[""], Entry::Dir { .. }));
    }

    #[test]
    fn archives_unpack_under_their_directories() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("relay.yml");
        std::fs::write(&file, "relay: {}\n").unwrap();
        let tree = Tree::read(&file).unwrap();
        let copy = Copy {
            source: file.clone(),
            dir: "app/abc-123".to_owned(),
            name: "relay.yml".to_owned(),
        };
        let item = (copy, tree);
        let bytes = archive(&[&item]).unwrap();
        let mut names: Vec<String> = tar::Archive::new(bytes.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["app", "app/abc-123", "app/abc-123/relay.yml"]);
        assert_eq!(item.0.remote_path("/r"), "/r/app/abc-123/relay.yml");
        let script = unpack_script("/r", &[&item]);
        assert!(
            script.contains("mv \"$t\"/app/abc-123 /r/app/abc-123"),
            "{script}"
        );
        assert!(script.contains("for old in /r/app/abc-*"), "{script}");
    }

    #[test]
    fn dot_dot_does_not_lead_out_unnoticed() {
        assert_eq!(
            normal(Path::new("/src/app/devservices/../../etc/passwd")),
            PathBuf::from("/src/etc/passwd")
        );
        assert!(!normal(Path::new("/src/app/devservices/../../etc")).starts_with("/src/app"));
    }
}
