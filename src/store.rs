//! What devrig keeps between runs (the active services, each repo's sync
//! record): one JSON file of one serde type, which two devrig processes may
//! use at once.
//!
//! - **Lock.** A sibling lock file (`state.json` → `state.lock`) is locked,
//!   waiting for another holder, while the [`Store`] lives: two `up`s, or
//!   two syncs of one repo, take turns. The lock is advisory, and it is held
//!   on an open file, so two stores in one process take turns too.
//! - **Writes** go to a temp file named for the process
//!   (`state.json.<pid>.tmp`) that is then renamed over the file, so the
//!   file is only ever replaced whole: an interrupted write leaves the old
//!   version, and [`Store::peek`] may read without the lock. A failed write
//!   removes its temp file. There is no fsync: after a power loss the file
//!   may be older, or [`Loaded::Corrupt`], which callers handle anyway.
//! - **Reads** tell a missing file from an unreadable one: both are values
//!   ([`Loaded`]), not errors, since every caller rebuilds what it lost
//!   (from the engine's labels, or by rerunning a step). Bytes that are not
//!   UTF-8 are corrupt like any other bad JSON; only a file that cannot be
//!   read at all is a [`StoreError`].
//! - **Private.** The directory is created 0700, the file, its temp file
//!   and the lock 0600 ([`crate::private`]): the state names every repo
//!   and where it lives.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs::File;
use std::io;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// A JSON file of a `T`, locked while this value lives.
pub struct Store<T> {
    path: PathBuf,
    _lock: File,
    _value: PhantomData<fn() -> T>,
}

/// What reading found.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded<T> {
    Found(T),
    Missing,
    /// Not JSON of the type; why, as serde_json says it.
    Corrupt(String),
}

/// A file of the store that could not be used: the data file (also when
/// its temp file could not be written), its lock, or their directory.
#[derive(Debug, thiserror::Error)]
#[error("cannot use {}: {source}", path.display())]
pub struct StoreError {
    pub path: PathBuf,
    pub source: io::Error,
}

impl<T: Serialize + DeserializeOwned> Store<T> {
    /// Opens the store at `path`, creating its directory, and waits for
    /// (then holds) its lock.
    pub fn open(path: impl Into<PathBuf>) -> Result<Store<T>, StoreError> {
        Store::open_unless(path, &|| false)
    }

    /// [`Store::open`], giving up on the wait for another holder as soon
    /// as `cancelled` says so (Ctrl-C): the error's source is then of kind
    /// [`io::ErrorKind::Interrupted`].
    pub fn open_unless(
        path: impl Into<PathBuf>,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Store<T>, StoreError> {
        let path = path.into();
        if let Some(dir) = path.parent() {
            crate::private::create_dir(dir).map_err(failed(dir))?;
        }
        let lock_path = path.with_extension("lock");
        let lock = crate::private::create(&lock_path).map_err(failed(&lock_path))?;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if cancelled() => {
                    return Err(failed(&lock_path)(io::Error::from(
                        io::ErrorKind::Interrupted,
                    )));
                }
                // Polled rather than blocked on, so the wait can be given up.
                Err(std::fs::TryLockError::WouldBlock) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(failed(&lock_path)(e)),
            }
        }
        Ok(Store {
            path,
            _lock: lock,
            _value: PhantomData,
        })
    }

    /// Reads the file at `path` without the lock: writes replace it whole,
    /// so this sees one version or the other. A file that cannot be read
    /// reads as missing.
    pub fn peek(path: &Path) -> Loaded<T> {
        read(path).unwrap_or(Loaded::Missing)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn load(&self) -> Result<Loaded<T>, StoreError> {
        read(&self.path).map_err(failed(&self.path))
    }

    /// Replaces the file with `value`, as the module documentation says.
    pub fn save(&self, value: &T) -> Result<(), StoreError> {
        let text = serde_json::to_vec_pretty(value).map_err(failed(&self.path))?;
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{}.tmp", std::process::id()));
        let tmp = PathBuf::from(name);
        crate::private::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                failed(&self.path)(e)
            })
    }
}

fn read<T: DeserializeOwned>(path: &Path) -> io::Result<Loaded<T>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(match serde_json::from_slice(&bytes) {
            Ok(value) => Loaded::Found(value),
            Err(e) => Loaded::Corrupt(e.to_string()),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Loaded::Missing),
        Err(e) => Err(e),
    }
}

/// The hint for a file of devrig's own (`path`, placed by the environment
/// variable `moved_by`) that failed with `source`: `no space left on …` for
/// a full disk, a read-only file system, or the permissions of its
/// directory.
pub fn hint_for(path: &Path, source: &io::Error, moved_by: &str) -> String {
    let dir = path.parent().unwrap_or(path).display();
    match source.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => format!(
            "no space left on the file system holding {dir}: free some there (or point {moved_by} at another disk) and run it again"
        ),
        io::ErrorKind::ReadOnlyFilesystem => {
            format!("{dir} is on a read-only file system: point {moved_by} at a writable directory")
        }
        _ => format!("check the permissions of {dir}"),
    }
}

/// The error for `path`, from an io or serde_json error.
fn failed<E: Into<io::Error>>(path: &Path) -> impl FnOnce(E) -> StoreError {
    let path = path.to_owned();
    move |e| StoreError {
        path,
        source: e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::mpsc;
    use std::time::Duration;

    type Counts = BTreeMap<String, u32>;

    fn counts(pairs: &[(&str, u32)]) -> Counts {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn round_trip_missing_and_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/counts.json");
        let store = Store::<Counts>::open(&path).unwrap();
        assert_eq!(store.path(), path);
        assert!(dir.path().join("nested/counts.lock").exists());
        assert_eq!(store.load().unwrap(), Loaded::Missing);
        assert_eq!(Store::<Counts>::peek(&path), Loaded::Missing);

        let value = counts(&[("a", 1), ("b", 2)]);
        store.save(&value).unwrap();
        assert_eq!(store.load().unwrap(), Loaded::Found(value.clone()));
        // Read by another, without the lock.
        assert_eq!(Store::<Counts>::peek(&path), Loaded::Found(value));
        let left: Vec<_> = std::fs::read_dir(dir.path().join("nested"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");

        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(store.load().unwrap(), Loaded::Corrupt(_)));
        std::fs::write(&path, r#"{"a": "one"}"#).unwrap();
        assert!(matches!(Store::<Counts>::peek(&path), Loaded::Corrupt(_)));
        // Garbage that is not even UTF-8 is corrupt too, not unreadable.
        std::fs::write(&path, [0xff, 0xfe, 0x00, 0x9c, b'{']).unwrap();
        match store.load().unwrap() {
            Loaded::Corrupt(why) => assert_eq!(why, "expected value at line 1 column 1"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_directory_file_and_lock_are_the_users_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let path = dir.path().join("state/counts.json");
        let store = Store::<Counts>::open(&path).unwrap();
        store.save(&counts(&[("a", 1)])).unwrap();
        assert_eq!(mode(&dir.path().join("state")), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&path.with_extension("lock")), 0o600);
        // A leftover temp file of this pid, made by an older devrig, does
        // not hand its mode on.
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".{}.tmp", std::process::id()));
        std::fs::write(&tmp, "").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
        store.save(&counts(&[("a", 2)])).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_failed_write_removes_its_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: writing the temp file
        // works, renaming it over the directory does not.
        let path = dir.path().join("counts.json");
        std::fs::create_dir_all(path.join("inside")).unwrap();
        let store = Store::<Counts>::open(&path).unwrap();
        let e = store.save(&counts(&[("a", 1)])).unwrap_err();
        assert_eq!(e.path, path);
        assert!(
            e.to_string()
                .starts_with(&format!("cannot use {}: ", path.display())),
            "{e}"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "only the file and its lock: {names:?}");
        assert!(path.join("inside").is_dir());
        // Unreadable is an error to `load`, missing to `peek`.
        assert_eq!(store.load().unwrap_err().path, path);
        assert_eq!(Store::<Counts>::peek(&path), Loaded::Missing);
    }

    #[test]
    fn a_value_json_cannot_hold_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pairs.json");
        let store = Store::<BTreeMap<(u8, u8), u8>>::open(&path).unwrap();
        let e = store.save(&BTreeMap::from([((1, 2), 3)])).unwrap_err();
        assert_eq!(e.path, path);
        assert!(!path.exists());
    }

    #[test]
    fn two_stores_on_one_file_take_turns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("counts.json");
        let first = Store::<Counts>::open(&path).unwrap();
        let (tx, rx) = mpsc::channel();
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || {
                let second = Store::<Counts>::open(&path).unwrap();
                tx.send(second.load().unwrap()).unwrap();
            })
        };
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(300)),
            Err(mpsc::RecvTimeoutError::Timeout),
            "the second store waits for the first"
        );
        first.save(&counts(&[("a", 1)])).unwrap();
        drop(first);
        let seen = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(seen, Loaded::Found(counts(&[("a", 1)])));
        waiter.join().unwrap();
    }
}
