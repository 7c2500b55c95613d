//! A program's log: written by the supervisor, rotated by size
//! (`name.log` → `name.log.1` → … → `name.log.N`), read by `logs`. A log
//! holds whatever the program prints (tokens, DSNs): it and its directory
//! are the user's alone ([`crate::private`]), and rotation keeps that.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub struct RotatingLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    backups: u32,
}

impl RotatingLog {
    /// Opens `path` for appending. `max_bytes` 0 never rotates.
    pub fn open(path: &Path, max_bytes: u64, backups: u32) -> io::Result<RotatingLog> {
        if let Some(dir) = path.parent() {
            crate::private::create_dir(dir)?;
        }
        let file = crate::private::options()
            .create(true)
            .append(true)
            .open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingLog {
            path: path.to_owned(),
            file,
            size,
            max_bytes,
            backups,
        })
    }

    /// Appends `bytes`, rotating whenever the file would pass its size:
    /// at a line's end where one fits, mid-line only for a line longer than
    /// a whole file. On failure the error says how many bytes made it in,
    /// so the caller can keep the rest without writing any twice.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), Unwritten> {
        let mut done = 0;
        let failed = |written: usize| move |source: io::Error| Unwritten { written, source };
        while done < bytes.len() {
            let rest = &bytes[done..];
            let room = self.max_bytes.saturating_sub(self.size);
            if self.max_bytes == 0 || rest.len() as u64 <= room {
                return self.append(rest).map_err(|(n, e)| failed(done + n)(e));
            }
            let room = usize::try_from(room).unwrap_or(usize::MAX);
            let cut = match rest[..room].iter().rposition(|b| *b == b'\n') {
                Some(newline) => newline + 1,
                None if self.size == 0 => room,
                None => 0,
            };
            self.append(&rest[..cut])
                .map_err(|(n, e)| failed(done + n)(e))?;
            done += cut;
            self.rotate().map_err(failed(done))?;
        }
        Ok(())
    }

    /// Writes what it can of `bytes`: on failure, how many got in.
    fn append(&mut self, bytes: &[u8]) -> Result<(), (usize, io::Error)> {
        let mut done = 0;
        while done < bytes.len() {
            match self.file.write(&bytes[done..]) {
                Ok(0) => return Err((done, io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    done += n;
                    self.size += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err((done, e)),
            }
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.backups == 0 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        for n in (1..self.backups).rev() {
            let from = backup(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, backup(&self.path, n + 1))?;
            }
        }
        std::fs::rename(&self.path, backup(&self.path, 1))?;
        self.file = crate::private::options()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// A write that did not get all its bytes into the log.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct Unwritten {
    /// How many of the bytes are in the log.
    pub written: usize,
    pub source: io::Error,
}

/// devrig's own line for a log, as of `at`, marked so it is not mistaken
/// for a program's output: `[devrig 2026-11-26T09:30:05Z] text`.
pub fn note_line(text: &str, at: SystemTime) -> String {
    format!("[devrig {}] {text}\n", utc_timestamp(at))
}

pub fn backup(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// `2026-11-26T09:30:05Z`: RFC 3339 in UTC, to the whole second (a
/// fraction is cut, not rounded, so a line never reads as later than it was).
pub fn utc_timestamp(at: SystemTime) -> String {
    let at = jiff::Timestamp::try_from(at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{at:.0}")
}

/// The last `n` lines of the log (all when `None`), reaching into the
/// rotated files when the current one holds fewer.
pub fn tail(path: &Path, n: Option<usize>) -> io::Result<Vec<String>> {
    let current = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    with_backups(path, &current, n)
}

/// [`tail`], and a [`Follower`] that goes on exactly where those lines end:
/// both come from one read of the open file, so no line is shown twice or
/// skipped. A last line still being written is left to the follower.
pub fn tail_then_follow(path: &Path, n: Option<usize>) -> io::Result<(Vec<String>, Follower)> {
    let mut follower = Follower {
        path: path.to_owned(),
        file: None,
        ino: 0,
        pending: Vec::new(),
    };
    let mut current = Vec::new();
    match File::open(path) {
        Ok(mut file) => {
            follower.ino = file.metadata()?.ino();
            file.read_to_end(&mut current)?;
            follower.file = Some(file);
            let whole = current
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            follower.pending = current.split_off(whole);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok((with_backups(path, &current, n)?, follower))
}

/// The last `n` lines of `current` (the log's content) and, when it holds
/// fewer, of the rotated files before it.
fn with_backups(path: &Path, current: &[u8], n: Option<usize>) -> io::Result<Vec<String>> {
    let mut lines: Vec<String> = String::from_utf8_lossy(current)
        .lines()
        .map(str::to_owned)
        .collect();
    let mut files = Vec::new();
    for i in 1.. {
        let b = backup(path, i);
        if !b.exists() {
            break;
        }
        files.push(b);
    }
    for file in &files {
        if n.is_some_and(|n| lines.len() >= n) {
            break;
        }
        let text = match std::fs::read(file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mut these: Vec<String> = text.lines().map(str::to_owned).collect();
        these.append(&mut lines);
        lines = these;
    }
    if let Some(n) = n {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    Ok(lines)
}

/// Follows a log as it grows, across rotations: keeps reading the file it
/// has open to its end, then switches to the new file at `path`.
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    ino: u64,
    pending: Vec<u8>,
}

impl Follower {
    /// Whole lines written since the last call.
    pub fn poll(&mut self) -> io::Result<Vec<String>> {
        let mut lines = Vec::new();
        self.drain(&mut lines)?;
        // Rotated (or created) since: finish the old file above, then
        // read the new one from its start.
        if let Ok(meta) = std::fs::metadata(&self.path)
            && (self.file.is_none() || meta.ino() != self.ino)
            && let Ok(file) = File::open(&self.path)
        {
            self.ino = meta.ino();
            self.file = Some(file);
            self.drain(&mut lines)?;
        }
        Ok(lines)
    }

    fn drain(&mut self, lines: &mut Vec<String>) -> io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        self.pending.extend_from_slice(&buf);
        while let Some(i) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            lines.push(text.trim_end_matches('\r').to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rotates_by_size_and_keeps_the_newest_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.log");
        let mut log = RotatingLog::open(&path, 100, 2).unwrap();
        for i in 0..30 {
            log.write(format!("line {i:02} of output\n").as_bytes())
                .unwrap();
        }
        // 19 bytes a line: five per file, the oldest beyond two backups gone.
        assert!(std::fs::metadata(&path).unwrap().len() <= 100);
        assert!(backup(&path, 2).exists());
        assert!(!backup(&path, 3).exists());
        // Every file of the log is the user's alone, the new ones too.
        for file in [path.clone(), backup(&path, 1), backup(&path, 2)] {
            let mode = std::fs::metadata(&file).unwrap().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
        let all = tail(&path, None).unwrap();
        assert_eq!(all.last().unwrap(), "line 29 of output");
        assert_eq!(all.len(), 15, "{all:?}");
        assert_eq!(
            tail(&path, Some(7)).unwrap(),
            (23..30)
                .map(|i| format!("line {i:02} of output"))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_large_write_is_split_at_line_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.log");
        let mut log = RotatingLog::open(&path, 40, 5).unwrap();
        let text: String = (0..10).map(|i| format!("line {i} of ten\n")).collect();
        log.write(text.as_bytes()).unwrap();
        // A line longer than a whole file is cut, not kept whole.
        log.write(&[b'x'; 100]).unwrap();
        for n in 0..=5 {
            let file = if n == 0 {
                path.clone()
            } else {
                backup(&path, n)
            };
            if let Ok(content) = std::fs::read_to_string(&file) {
                assert!(content.len() <= 40, "{}: {content:?}", file.display());
            }
        }
        assert!(
            std::fs::read_to_string(backup(&path, 4))
                .unwrap()
                .ends_with("of ten\n")
        );
    }

    #[test]
    fn tail_then_follow_neither_repeats_nor_skips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.log");
        let mut log = RotatingLog::open(&path, 0, 0).unwrap();
        log.write(b"one\ntwo\nthr").unwrap();
        let (past, mut follower) = tail_then_follow(&path, Some(5)).unwrap();
        assert_eq!(past, ["one", "two"]);
        log.write(b"ee\nfour\n").unwrap();
        assert_eq!(follower.poll().unwrap(), ["three", "four"]);
        let missing = dir.path().join("later.log");
        let (past, mut follower) = tail_then_follow(&missing, None).unwrap();
        assert!(past.is_empty());
        std::fs::write(&missing, "born\n").unwrap();
        assert_eq!(follower.poll().unwrap(), ["born"]);
    }

    #[test]
    fn follower_reads_across_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.log");
        let mut log = RotatingLog::open(&path, 25, 1).unwrap();
        log.write(b"before\n").unwrap();
        let (_, mut follower) = tail_then_follow(&path, Some(0)).unwrap();
        assert!(follower.poll().unwrap().is_empty());
        log.write(b"first half ").unwrap();
        assert!(follower.poll().unwrap().is_empty(), "no partial lines");
        // Rotates: the line's start is in the old file, its end in the new.
        log.write(b"and the rest\n").unwrap();
        log.write(b"after\n").unwrap();
        assert!(backup(&path, 1).exists());
        assert_eq!(
            follower.poll().unwrap(),
            ["first half and the rest", "after"]
        );
    }

    #[test]
    fn timestamps_are_civil_utc() {
        let at = UNIX_EPOCH + Duration::from_secs(1_795_685_405);
        assert_eq!(utc_timestamp(at), "2026-11-26T09:30:05Z");
        let later = at + Duration::from_millis(999);
        assert_eq!(utc_timestamp(later), "2026-11-26T09:30:05Z");
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
