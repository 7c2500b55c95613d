//! devrig's own files are the user's alone: program logs carry tokens and
//! DSNs, the state names every repo, the runtime dir holds sockets that
//! control processes. Every directory devrig makes for itself is created
//! 0700 and every file it writes there 0600, whatever the umask lets
//! through; this module is how they are made, and how one that an
//! earlier devrig left readable by others is tightened.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of devrig's directories.
pub const DIR_MODE: u32 = 0o700;
/// The mode of devrig's files.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and whatever of its parents is missing, each 0700 (std
/// gives the parents the leaf's mode; a missing `~/.local/state` is made
/// 0700 as the XDG base directory spec asks). An existing directory is
/// left as it is.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

/// Options that create a missing file 0600 (an existing one keeps its
/// mode); the caller says how it is opened.
pub fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

/// `File::create`, 0600. A file that was there is emptied, so it is made
/// 0600 as well (open keeps the mode of a file an earlier devrig made).
pub fn create(path: &Path) -> io::Result<File> {
    let file = options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    if file.metadata()?.mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(file)
}

/// `fs::write`, 0600.
pub fn write(path: &Path, bytes: impl AsRef<[u8]>) -> io::Result<()> {
    create(path)?.write_all(bytes.as_ref())
}

/// A directory or file that was made private, and the mode it had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tightened {
    pub path: PathBuf,
    pub was: u32,
}

/// Takes group and other permissions off `path` (0755 → 0700, 0644 →
/// 0600) when the user owns it and anyone else has any; returns what it
/// changed. A symbolic link is not followed, and what belongs to someone
/// else is left alone (chmod would fail anyway, and the runtime dir's own
/// check says what is wrong with it). A missing path is no error.
pub fn tighten(path: &Path) -> io::Result<Option<Tightened>> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let was = meta.mode() & 0o7777;
    let kind = meta.file_type();
    if kind.is_symlink() || meta.uid() != rustix::process::getuid().as_raw() || was & 0o077 == 0 {
        return Ok(None);
    }
    let mode = if kind.is_dir() { DIR_MODE } else { was & 0o700 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(Some(Tightened {
        path: path.to_owned(),
        was,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn created_private() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        create_dir(&nested).unwrap();
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        let file = nested.join("f");
        write(&file, "secret").unwrap();
        assert_eq!(mode(&file), 0o600);
        // Rewriting one an older devrig left 0644 makes it private too.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&file, "secret").unwrap();
        assert_eq!(mode(&file), 0o600);
        let mut appended = options().append(true).create(true).open(&file).unwrap();
        appended.write_all(b" more").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "secret more");
    }

    #[test]
    fn tighten_takes_off_what_others_had_and_only_that() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("logs");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
        let log = sub.join("app.log");
        std::fs::write(&log, "token").unwrap();
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
        let script = sub.join("run");
        std::fs::write(&script, "").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

        assert_eq!(
            tighten(&sub).unwrap(),
            Some(Tightened {
                path: sub.clone(),
                was: 0o755
            })
        );
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(tighten(&log).unwrap().map(|t| t.was), Some(0o644));
        assert_eq!(mode(&log), 0o600);
        // The owner's own bits stay: an executable stays executable.
        tighten(&script).unwrap();
        assert_eq!(mode(&script), 0o700);
        // Already private, missing, or a link: nothing to do.
        assert_eq!(tighten(&log).unwrap(), None);
        assert_eq!(tighten(&sub.join("gone")).unwrap(), None);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&sub, &link).unwrap();
        assert_eq!(tighten(&link).unwrap(), None);
    }
}
