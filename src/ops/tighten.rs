//! Before `up` and `down` write anything: devrig's state, logs and runtime
//! directories made the user's alone where an earlier devrig left them
//! readable by others (it made directories 0755 and files 0644, and
//! program logs carry tokens and DSNs). What devrig makes now is private
//! from the start ([`crate::private`]); this takes care of what is already
//! there, once: after it nothing is left to tighten, so the warning it
//! gives is seen once.
//!
//! Only devrig's own trees are walked, to a fixed depth, and only
//! directories and regular files are touched (a socket keeps its mode: its
//! directory keeps others out). A runtime dir that cannot be trusted is
//! left alone: using it is refused, with why, by whoever needs it.

use super::{Event, Observer};
use crate::private::{self, Tightened};
use crate::state::Store;
use crate::supervisor::paths;
use std::path::{Path, PathBuf};

/// Tightens devrig's directories and files; one warning when anything was
/// changed (and, under `-v`, a note for each), one for each that could not
/// be.
pub fn tighten(observer: &dyn Observer) {
    let mut roots = vec![
        // state.json, pulls.json, their locks; sync/ and its records.
        (Store::default_dir(), 1),
        // Each repo's logs and rotations; its devrig/supervisor.log.
        (paths::log_root(), 2),
    ];
    // Its locks and ssh/ (the masters' logs and notes).
    if let Ok(Some(dir)) = paths::existing_runtime_dir() {
        roots.push((dir, 1));
    }
    let mut changed: Vec<(PathBuf, Tightened)> = Vec::new();
    for (root, depth) in &roots {
        walk(root, *depth, &mut |path| match private::tighten(path) {
            Ok(Some(done)) => changed.push((root.clone(), done)),
            Ok(None) => {}
            Err(e) => observer.event(Event::Warning(format!(
                "cannot make {} yours alone: {e}",
                path.display()
            ))),
        });
    }
    if changed.is_empty() {
        return;
    }
    let dirs = changed.iter().filter(|(_, t)| t.path.is_dir()).count();
    let files = changed.len() - dirs;
    let mut where_: Vec<String> = Vec::new();
    for (root, _) in &changed {
        let root = root.display().to_string();
        if !where_.contains(&root) {
            where_.push(root);
        }
    }
    observer.event(Event::Warning(format!(
        "other users could read devrig's files; made {} yours alone, in {}",
        counted(dirs, files),
        where_.join(" and ")
    )));
    for (_, done) in &changed {
        observer.event(Event::Note(format!(
            "made {} private (it was {:04o})",
            done.path.display(),
            done.was
        )));
    }
}

/// `2 directories and 1 file`.
fn counted(dirs: usize, files: usize) -> String {
    let noun = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    match (dirs, files) {
        (0, f) => noun(f, "file", "files"),
        (d, 0) => noun(d, "directory", "directories"),
        (d, f) => format!(
            "{} and {}",
            noun(d, "directory", "directories"),
            noun(f, "file", "files")
        ),
    }
}

/// Calls `visit` on `dir`, then on its regular files and (down to `depth`
/// levels) its directories and theirs. A symbolic link is not followed; a
/// directory that cannot be listed is skipped (visiting it said why).
fn walk(dir: &Path, depth: u32, visit: &mut dyn FnMut(&Path)) {
    if !std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
        return;
    }
    visit(dir);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_file() {
            visit(&path);
        } else if kind.is_dir() && depth > 0 {
            walk(&path, depth - 1, visit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Mutex;

    #[test]
    fn counts_read_as_english() {
        assert_eq!(counted(1, 0), "1 directory");
        assert_eq!(counted(0, 3), "3 files");
        assert_eq!(counted(2, 1), "2 directories and 1 file");
    }

    #[test]
    fn walks_files_and_directories_to_its_depth_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("logs");
        for d in ["app/devrig/deeper", "other"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in [
            "app/web.log",
            "app/web.log.1",
            "app/devrig/supervisor.log",
            "app/devrig/deeper/x",
        ] {
            std::fs::write(root.join(f), "").unwrap();
        }
        std::os::unix::fs::symlink("/etc", root.join("app/link")).unwrap();
        let seen = Mutex::new(Vec::new());
        walk(&root, 2, &mut |p| {
            seen.lock()
                .unwrap()
                .push(p.strip_prefix(&root).unwrap().display().to_string())
        });
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(
            seen,
            [
                "",
                "app",
                "app/devrig",
                "app/devrig/supervisor.log",
                "app/web.log",
                "app/web.log.1",
                "other"
            ]
        );
        // A file where a root should be is not walked.
        let file = root.join("app/web.log");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        walk(&file, 1, &mut |p| panic!("visited {}", p.display()));
    }
}
