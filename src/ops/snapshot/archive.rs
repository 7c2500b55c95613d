//! Snapshot archives (`export`/`import`): one zstd-compressed tar holding
//! `manifest.json` first, then the volumes' files under
//! `volumes/<volume>/`, as the engine itself streams them (owners, modes
//! and links kept). Writing the manifest entry before the engine's own tar
//! stream, and reading it off the front again, means the volumes' bytes
//! are never unpacked on this machine: they go from the engine to the file
//! and back through the Engine API, so it works against a remote engine.

use super::copy;
use super::stored::{self, Snapshot};
use super::{Action, SnapshotError, Step};
use crate::engine::helper::{HelperSpec, Mount};
use crate::engine::{Engine, pull};
use crate::ops::{Error, Event, Observer};
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const MANIFEST: &str = "manifest.json";
/// Where a helper mounts the volumes it streams, one directory each.
const ROOT: &str = "/volumes";
/// How often a transfer reports progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);
/// zstd's default level: fast, and a PostgreSQL data directory shrinks
/// several times.
const LEVEL: i32 = 3;
/// Reads of the archive handed to the engine at a time.
const CHUNK: usize = 256 * 1024;

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Writes `snapshot` to `file` (through `file.partial`, renamed when
/// complete, so an interrupted export leaves no archive). Returns the
/// archive's size.
pub async fn export(
    engine: &Engine,
    snapshot: &Snapshot,
    file: &Path,
    cancel: &CancellationToken,
    observer: &dyn Observer,
) -> Result<u64, Error> {
    let started = Instant::now();
    let mounts = snapshot
        .volumes
        .iter()
        .map(|v| Mount {
            volume: v.stored.clone(),
            target: format!("{ROOT}/{}", v.volume),
            read_only: true,
        })
        .collect();
    let image = helper_image(engine, snapshot, observer).await?;
    let helper = engine
        .create_helper(&HelperSpec {
            image,
            mounts,
            script: String::new(),
            labels: labels(&snapshot.repo),
        })
        .await?;
    let partial = PathBuf::from(format!("{}.partial", file.display()));
    let written = write(engine, &helper, snapshot, &partial, cancel, observer).await;
    let removed = engine.remove_helper(&helper).await;
    let written = match written.and_then(|w| removed.map(|()| w).map_err(Error::from)) {
        Ok(Some(bytes)) => bytes,
        outcome => {
            let _ = std::fs::remove_file(&partial);
            return match outcome {
                Err(e) => Err(e),
                _ => Err(Error::Interrupted {
                    kept: "no archive was written; the snapshot is as it was",
                }),
            };
        }
    };
    std::fs::rename(&partial, file).map_err(io_error("write", file))?;
    observer.event(Event::Snapshot(Step::Copied {
        action: Action::Export,
        volume: snapshot.name.clone(),
        bytes: written,
        method: None,
        elapsed: started.elapsed(),
    }));
    let size = std::fs::metadata(file)
        .map_err(io_error("read", file))?
        .len();
    Ok(size)
}

/// The archive into `partial`: the manifest, then the engine's stream.
/// `None` when cancelled. Returns the bytes of volume data written.
async fn write(
    engine: &Engine,
    helper: &str,
    snapshot: &Snapshot,
    partial: &Path,
    cancel: &CancellationToken,
    observer: &dyn Observer,
) -> Result<Option<u64>, Error> {
    let out = std::fs::File::create(partial).map_err(io_error("create", partial))?;
    let mut encoder = zstd::Encoder::new(std::io::BufWriter::new(out), LEVEL)
        .map_err(io_error("write", partial))?;
    let mut manifest = snapshot.clone();
    manifest.id.clear();
    for volume in &mut manifest.volumes {
        volume.stored.clear();
    }
    let json = serde_json::to_vec_pretty(&manifest).expect("a snapshot serializes");
    encoder
        .write_all(&manifest_entry(&json))
        .map_err(io_error("write", partial))?;
    observer.event(Event::Snapshot(Step::Copying {
        action: Action::Export,
        volume: snapshot.name.clone(),
        total: snapshot.size,
    }));
    let mut stream = engine.download(helper, ROOT);
    let mut done: u64 = 0;
    let mut reported = Instant::now();
    loop {
        tokio::select! {
            chunk = stream.next() => match chunk {
                Some(chunk) => {
                    let chunk = chunk?;
                    encoder.write_all(&chunk).map_err(io_error("write", partial))?;
                    done += chunk.len() as u64;
                    if reported.elapsed() >= PROGRESS_EVERY {
                        reported = Instant::now();
                        observer.event(Event::Snapshot(Step::Progress {
                            volume: snapshot.name.clone(),
                            done: done.min(snapshot.size),
                        }));
                    }
                }
                None => break,
            },
            _ = cancel.cancelled() => return Ok(None),
        }
    }
    let out = encoder.finish().map_err(io_error("write", partial))?;
    let file = out
        .into_inner()
        .map_err(|e| io_error("write", partial)(e.into_error()))?;
    file.sync_all().map_err(io_error("write", partial))?;
    Ok(Some(done))
}

/// A tar header and the padded contents of `manifest.json`.
fn manifest_entry(json: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_ustar();
    header
        .set_path(MANIFEST)
        .expect("a short ASCII path fits a header");
    header.set_size(json.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    header.set_cksum();
    let mut entry = header.as_bytes().to_vec();
    entry.extend_from_slice(json);
    entry.resize(entry.len().div_ceil(512) * 512, 0);
    entry
}

/// Reads the manifest entry off the front of an archive's tar stream,
/// leaving `reader` at the volumes' entries.
fn read_manifest(reader: &mut impl Read, path: &Path) -> Result<Snapshot, SnapshotError> {
    let bad = |why: String| SnapshotError::BadArchive {
        path: path.to_owned(),
        why,
    };
    let mut block = [0u8; 512];
    reader
        .read_exact(&mut block)
        .map_err(|e| bad(format!("no tar header at its start ({e})")))?;
    let header = tar::Header::from_byte_slice(&block);
    let name = header
        .path()
        .map_err(|e| bad(format!("unreadable first entry ({e})")))?;
    if header.as_ustar().is_none() || name != Path::new(MANIFEST) {
        return Err(bad(format!("its first entry is not {MANIFEST}")));
    }
    let size = header
        .entry_size()
        .map_err(|e| bad(format!("unreadable size of {MANIFEST} ({e})")))?;
    if size > 16 * 1024 * 1024 {
        return Err(bad(format!("{MANIFEST} is {size} bytes")));
    }
    let mut json = vec![0u8; (size as usize).div_ceil(512) * 512];
    reader
        .read_exact(&mut json)
        .map_err(|e| bad(format!("{MANIFEST} is cut short ({e})")))?;
    json.truncate(size as usize);
    let snapshot: Snapshot =
        serde_json::from_slice(&json).map_err(|e| bad(format!("{MANIFEST}: {e}")))?;
    if snapshot.format > stored::FORMAT {
        return Err(bad(format!(
            "its format {} is newer than this devrig's ({}); update devrig",
            snapshot.format,
            stored::FORMAT
        )));
    }
    if snapshot.volumes.is_empty() {
        return Err(bad(format!("its {MANIFEST} names no volume")));
    }
    // Each becomes a directory name in the helper.
    for volume in &snapshot.volumes {
        if !stored::valid_volume_name(&volume.volume) {
            return Err(bad(format!("`{}` is not a volume name", volume.volume)));
        }
    }
    Ok(snapshot)
}

/// An open archive: its manifest read, the volumes' entries to come.
pub struct Opened {
    pub snapshot: Snapshot,
    file: PathBuf,
    decoder: zstd::Decoder<'static, std::io::BufReader<std::fs::File>>,
}

/// Opens the archive `file` and reads its manifest (renamed `name`, when
/// given), before any engine is asked.
pub fn open(file: &Path, name: Option<&str>) -> Result<Opened, Error> {
    let opened = std::fs::File::open(file).map_err(io_error("open", file))?;
    let mut decoder = zstd::Decoder::new(opened).map_err(io_error("read", file))?;
    let mut snapshot = read_manifest(&mut decoder, file)?;
    if let Some(name) = name {
        snapshot.name = name.to_owned();
    }
    super::check_name(&snapshot.name)?;
    Ok(Opened {
        snapshot,
        file: file.to_owned(),
        decoder,
    })
}

/// Makes the opened archive a snapshot on `engine`. Returns it, and
/// whether it replaced one of that name.
pub async fn import(
    engine: &Engine,
    opened: Opened,
    force: bool,
    cancel: &CancellationToken,
    observer: &dyn Observer,
) -> Result<(Snapshot, bool), Error> {
    let started = Instant::now();
    let Opened {
        mut snapshot,
        file,
        decoder,
    } = opened;
    let file = file.as_path();
    let repo = snapshot.repo.clone();
    super::clear_helpers(engine, &repo).await?;
    let replaced = stored::find(engine, &repo, &snapshot.name).await?.is_some();
    if replaced && !force {
        return Err(SnapshotError::Exists {
            name: snapshot.name.clone(),
            repo,
        }
        .into());
    }
    snapshot.id = stored::new_id();
    let image = helper_image(engine, &snapshot, observer).await?;
    let mut created = Vec::new();
    let outcome = fill(
        engine,
        &mut snapshot,
        &image,
        decoder,
        &mut created,
        file,
        cancel,
        observer,
    )
    .await;
    match outcome {
        Ok(true) => {}
        failed => {
            for volume in created.iter().rev() {
                engine.remove_volume(volume).await?;
            }
            failed?;
            return Err(Error::Interrupted {
                kept: "nothing was imported",
            });
        }
    }
    stored::commit(engine, &snapshot).await?;
    if replaced {
        stored::remove(engine, &repo, &snapshot.name, Some(&snapshot.id)).await?;
    }
    observer.event(Event::Snapshot(Step::Copied {
        action: Action::Import,
        volume: snapshot.name.clone(),
        bytes: snapshot.size,
        method: None,
        elapsed: started.elapsed(),
    }));
    Ok((snapshot, replaced))
}

/// Creates the snapshot's data volumes (named in `created` as they are),
/// streams the archive's files into them, and measures what arrived.
/// `false` when cancelled.
#[allow(clippy::too_many_arguments)]
async fn fill(
    engine: &Engine,
    snapshot: &mut Snapshot,
    image: &str,
    decoder: zstd::Decoder<'static, std::io::BufReader<std::fs::File>>,
    created: &mut Vec<String>,
    file: &Path,
    cancel: &CancellationToken,
    observer: &dyn Observer,
) -> Result<bool, Error> {
    let (name, repo, id) = (
        snapshot.name.clone(),
        snapshot.repo.clone(),
        snapshot.id.clone(),
    );
    let mut mounts = Vec::new();
    for volume in &mut snapshot.volumes {
        volume.stored = stored::create_data(engine, &repo, &name, &id, &volume.volume).await?;
        created.push(volume.stored.clone());
        mounts.push(Mount {
            volume: volume.stored.clone(),
            target: format!("{ROOT}/{}", volume.volume),
            read_only: false,
        });
    }
    let helper = engine
        .create_helper(&HelperSpec {
            image: image.to_owned(),
            mounts: mounts.clone(),
            script: String::new(),
            labels: labels(&repo),
        })
        .await?;
    let total: u64 = snapshot.size;
    observer.event(Event::Snapshot(Step::Copying {
        action: Action::Import,
        volume: name.clone(),
        total,
    }));
    let sent = upload(
        engine, &helper, decoder, file, total, cancel, observer, &name,
    )
    .await;
    let removed = engine.remove_helper(&helper).await;
    let sent = sent?;
    removed?;
    if !sent {
        return Ok(false);
    }
    for mount in &mut mounts {
        mount.read_only = true;
    }
    let Some(measured) = copy::measure(engine, image, mounts, &repo, cancel).await? else {
        return Ok(false);
    };
    for volume in &mut snapshot.volumes {
        let (size, postgres) = measured.get(&volume.volume).cloned().unwrap_or((0, None));
        volume.size = size;
        volume.postgres = postgres;
    }
    snapshot.size = snapshot.volumes.iter().map(|v| v.size).sum();
    Ok(true)
}

/// Streams the rest of the archive (the volumes' tar entries) into the
/// helper at `/`. `false` when cancelled.
#[allow(clippy::too_many_arguments)]
async fn upload(
    engine: &Engine,
    helper: &str,
    mut decoder: zstd::Decoder<'static, std::io::BufReader<std::fs::File>>,
    file: &Path,
    total: u64,
    cancel: &CancellationToken,
    observer: &dyn Observer,
    name: &str,
) -> Result<bool, Error> {
    let read = Arc::new(AtomicU64::new(0));
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let counter = Arc::clone(&read);
    // zstd decodes synchronously: on a thread of its own, feeding the body.
    let reader = tokio::task::spawn_blocking(move || -> Result<(), String> {
        loop {
            let mut buf = vec![0u8; CHUNK];
            match decoder.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    buf.truncate(n);
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return Ok(());
                    }
                }
                Err(e) => {
                    let why = e.to_string();
                    let _ = tx.blocking_send(Err(e));
                    return Err(why);
                }
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let sending = engine.upload(helper, "/", body);
    tokio::pin!(sending);
    let mut ticker = tokio::time::interval(PROGRESS_EVERY);
    let result = loop {
        tokio::select! {
            result = &mut sending => break Some(result),
            _ = ticker.tick() => observer.event(Event::Snapshot(Step::Progress {
                volume: name.to_owned(),
                done: read.load(Ordering::Relaxed).min(total),
            })),
            _ = cancel.cancelled() => break None,
        }
    };
    let Some(result) = result else {
        reader.abort();
        return Ok(false);
    };
    let read_error = reader.await.ok().and_then(Result::err);
    if let Some(why) = read_error {
        return Err(SnapshotError::BadArchive {
            path: file.to_owned(),
            why: format!("its contents do not decompress ({why})"),
        }
        .into());
    }
    result?;
    Ok(true)
}

/// An image to run the transfer's helper with: the first of the
/// snapshot's images the engine has, else the first, pulled.
async fn helper_image(
    engine: &Engine,
    snapshot: &Snapshot,
    observer: &dyn Observer,
) -> Result<String, Error> {
    for volume in &snapshot.volumes {
        if pull::present(engine, &volume.image).await? {
            return Ok(volume.image.clone());
        }
    }
    let first = snapshot
        .volumes
        .first()
        .map(|v| v.image.clone())
        .ok_or_else(|| SnapshotError::NothingToRestore {
            name: snapshot.name.clone(),
            services: Vec::new(),
            volumes: Vec::new(),
        })?;
    super::ensure_image(engine, &first, observer).await?;
    Ok(first)
}

fn labels(repo: &str) -> HashMap<String, String> {
    HashMap::from([(stored::LABEL_HELPER.to_owned(), repo.to_owned())])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            format: stored::FORMAT,
            name: "migrated".to_owned(),
            repo: "app".to_owned(),
            mode: "default".to_owned(),
            created: "2026-12-01T10:00:00Z".to_owned(),
            services: vec!["app/postgres".to_owned()],
            volumes: vec![super::super::SavedVolume {
                volume: "app_postgres-data".to_owned(),
                services: vec!["app/postgres".to_owned()],
                image: "postgres:14".to_owned(),
                size: 4096,
                postgres: Some("14".to_owned()),
                stored: String::new(),
            }],
            size: 4096,
            config_hash: "0123456789ab".to_owned(),
            commit: Some("a1b2c3d4e5f6".to_owned()),
            devrig: "0.1.0".to_owned(),
            id: String::new(),
        }
    }

    #[test]
    fn the_manifest_entry_reads_back_and_leaves_the_rest() {
        let json = serde_json::to_vec(&snapshot()).unwrap();
        let mut archive = manifest_entry(&json);
        assert_eq!(archive.len() % 512, 0);
        archive.extend_from_slice(b"the volumes' entries");
        let mut reader = archive.as_slice();
        assert_eq!(
            read_manifest(&mut reader, Path::new("a.tar.zst")).unwrap(),
            snapshot()
        );
        assert_eq!(reader, b"the volumes' entries");
    }

    #[test]
    fn other_files_are_not_archives() {
        let path = Path::new("x");
        let err = read_manifest(&mut &b"short"[..], path).unwrap_err();
        assert!(err.to_string().contains("no tar header"), "{err}");
        let mut other = tar::Header::new_ustar();
        other.set_path("etc/passwd").unwrap();
        other.set_size(0);
        other.set_cksum();
        let err = read_manifest(&mut &other.as_bytes()[..], path).unwrap_err();
        assert!(err.to_string().contains("not manifest.json"), "{err}");
        let mut newer = snapshot();
        newer.format = stored::FORMAT + 1;
        let entry = manifest_entry(&serde_json::to_vec(&newer).unwrap());
        let err = read_manifest(&mut entry.as_slice(), path).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
        let mut escaping = snapshot();
        escaping.volumes[0].volume = "../etc".to_owned();
        let entry = manifest_entry(&serde_json::to_vec(&escaping).unwrap());
        let err = read_manifest(&mut entry.as_slice(), path).unwrap_err();
        assert!(err.to_string().contains("not a volume name"), "{err}");
    }
}
