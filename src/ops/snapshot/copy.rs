//! Copying a volume's files into another volume with a helper container
//! from an image the stack already has (the service's own first), through
//! the Engine API only. The script copies copy-on-write (`cp
//! --reflink=always`) when a first file clones, which the filesystem under
//! the engine's data root decides (xfs and btrfs can, ext4 cannot), and
//! plainly otherwise; it reports sizes as it goes for the progress bars,
//! and what it found (`PG_VERSION`) for the restore's version check.
//!
//! The scripts are POSIX sh and use only what coreutils and busybox both
//! have, so Debian- and Alpine-based images work alike. An image without a
//! shell or one of those tools is said so, and the next image is tried.

use super::{Action, Method, SnapshotError, Step};
use crate::engine::helper::{HelperExit, HelperSpec, Mount};
use crate::engine::{Engine, pull};
use crate::ops::{Error, Event, Observer};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Shell functions the scripts share. Their output lines start with
/// `devrig ` and are read by [`parse`].
const TOOLS: &str = r#"
need() {
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || { echo "devrig missing $t"; exit 127; }
  done
}
kib() { du -sk "$1" 2>/dev/null | cut -f1; }
# The size of directory $1, and the PostgreSQL major whose data it holds
# (PG_VERSION at its top, or one level down for a PGDATA in a subdirectory).
measure() {
  echo "devrig size $2 $(kib "$1")"
  if [ -f "$1/PG_VERSION" ]; then
    echo "devrig postgres $2 $(head -n 1 "$1/PG_VERSION")"
  else
    for f in "$1"/*/PG_VERSION; do
      if [ -f "$f" ]; then echo "devrig postgres $2 $(head -n 1 "$f")"; break; fi
    done
  fi
}
"#;

/// Replaces what `/to` holds with a copy of `/from`.
const COPY: &str = r#"
set -u
need cp du cut head tail ls rm mv mkdir find stat cat chown chmod sleep
# What /to holds moves aside at once (renames, within the volume) and is
# deleted while the copy runs, so the copy waits for no deletion. Its name
# matches none of the globs below but the last.
trash=/to/..devrig-trash
rm -rf "$trash"
mkdir "$trash" || exit 1
for f in /to/* /to/.[!.]* /to/..?*; do
  if [ "$f" != "$trash" ] && { [ -e "$f" ] || [ -L "$f" ]; }; then
    mv "$f" "$trash/" || exit 1
  fi
done
rm -rf "$trash" &
deleting=$!
copied() { du -sck /to/* /to/.[!.]* 2>/dev/null | tail -n 1 | cut -f1; }
empty() {
  rm -rf /to/* /to/.[!.]* 2>/dev/null
  [ -z "$(ls -A /to | grep -vx '..devrig-trash')" ] || { echo "devrig: cannot empty /to"; exit 1; }
}
# Whether the filesystem clones a file from /from into /to.
probe() {
  f=$(find /from -type f -size +0 2>/dev/null | head -n 1)
  [ -n "$f" ] || return 1
  cp --reflink=always "$f" /to/.devrig-reflink-probe 2>/dev/null
  r=$?
  rm -f /to/.devrig-reflink-probe
  return $r
}
echo "devrig total $(kib /from)"
method=copy
flag=
if probe; then method=reflink; flag=--reflink=always; fi
rm -f /.devrig-cp.rc
( cp -a $flag /from/. /to/ 2>/.devrig-cp.err; echo $? >/.devrig-cp.rc ) &
# Done is seen within 0.1 s; progress is measured every 0.5 s.
n=0
while [ ! -s /.devrig-cp.rc ]; do
  n=$((n + 1))
  if [ $((n % 5)) = 0 ]; then echo "devrig progress $(copied)"; fi
  sleep 0.1 2>/dev/null || sleep 1
done
rc=$(cat /.devrig-cp.rc)
if [ "$rc" != 0 ] && [ "$method" = reflink ]; then
  # A file the filesystem would not clone: copy everything plainly.
  empty
  method=copy
  cp -a /from/. /to/ 2>/.devrig-cp.err
  rc=$?
fi
wait "$deleting"
if [ "$rc" != 0 ]; then cat /.devrig-cp.err; exit "$rc"; fi
[ ! -e "$trash" ] || { echo "devrig: cannot delete what /to held"; exit 1; }
chown "$(stat -c %u:%g /from)" /to && chmod "$(stat -c %a /from)" /to || exit 1
echo "devrig method $method"
measure /to to
"#;

/// The size and PostgreSQL major of every directory under `/volumes`.
const MEASURE: &str = r#"
set -u
need du cut head
for d in /volumes/*; do
  if [ -d "$d" ]; then measure "$d" "${d#/volumes/}"; fi
done
"#;

/// The PostgreSQL the image runs, if it has one.
const POSTGRES_VERSION: &str = r#"
for p in postgres /usr/lib/postgresql/*/bin/postgres; do
  if command -v "$p" >/dev/null 2>&1; then
    echo "devrig pgversion $("$p" --version)"
    exit 0
  fi
done
exit 3
"#;

/// One line of a helper's output.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line<'a> {
    Missing(&'a str),
    Total(u64),
    Progress(u64),
    Method(Method),
    Size { label: &'a str, bytes: u64 },
    Postgres { label: &'a str, version: &'a str },
    PgVersion(&'a str),
    Other(&'a str),
}

fn parse(line: &str) -> Line<'_> {
    let Some(rest) = line.strip_prefix("devrig ") else {
        return Line::Other(line);
    };
    let kib = |n: &str| n.trim().parse::<u64>().ok().map(|k| k * 1024);
    let mut words = rest.splitn(3, ' ');
    let (kind, first, second) = (words.next(), words.next(), words.next());
    match (kind, first, second) {
        (Some("missing"), Some(tool), None) => Line::Missing(tool),
        (Some("total"), Some(n), None) => kib(n).map_or(Line::Other(line), Line::Total),
        (Some("progress"), Some(n), None) => kib(n).map_or(Line::Other(line), Line::Progress),
        (Some("method"), Some("reflink"), None) => Line::Method(Method::Reflink),
        (Some("method"), Some("copy"), None) => Line::Method(Method::Copy),
        (Some("size"), Some(label), Some(n)) => {
            kib(n).map_or(Line::Other(line), |bytes| Line::Size { label, bytes })
        }
        (Some("postgres"), Some(label), Some(version)) => Line::Postgres {
            label,
            version: version.trim(),
        },
        (Some("pgversion"), Some(_), _) => Line::PgVersion(rest["pgversion ".len()..].trim()),
        _ => Line::Other(line),
    }
}

/// The major version in a `PG_VERSION` file (`15`, `9.6`) or in
/// `postgres --version` output (`postgres (PostgreSQL) 15.14 (Debian …)`):
/// the first number from 10 on, the first two before.
pub fn postgres_major(text: &str) -> Option<String> {
    let version = match text.find("PostgreSQL)") {
        Some(i) => text[i + "PostgreSQL)".len()..].split_whitespace().next()?,
        None => text.split_whitespace().next()?,
    };
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let first: u32 = parts.next()?.parse().ok()?;
    if first >= 10 {
        Some(first.to_string())
    } else {
        let second: u32 = parts.next()?.parse().ok()?;
        Some(format!("{first}.{second}"))
    }
}

/// One volume to copy into another.
pub struct Copy<'a> {
    pub action: Action,
    /// The volume as the user knows it (the service's), for progress.
    pub volume: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    /// Images to copy with, the service's own first.
    pub images: &'a [String],
    pub repo: &'a str,
}

/// What a copy did.
#[derive(Debug, Clone)]
pub struct Copied {
    pub bytes: u64,
    pub method: Method,
    pub elapsed: Duration,
    /// The PostgreSQL major of the data copied, when it is a data directory.
    pub postgres: Option<String>,
}

/// Copies `job.from` over `job.to`. `None` when `cancel` stopped it (the
/// destination is then partly written).
pub async fn copy(
    engine: &Engine,
    job: &Copy<'_>,
    cancel: &CancellationToken,
    observer: &dyn Observer,
) -> Result<Option<Copied>, Error> {
    let started = Instant::now();
    let mounts = vec![
        Mount {
            volume: job.from.to_owned(),
            target: "/from".to_owned(),
            read_only: true,
        },
        Mount {
            volume: job.to.to_owned(),
            target: "/to".to_owned(),
            read_only: false,
        },
    ];
    let mut refused = Vec::new();
    for (n, image) in job.images.iter().enumerate() {
        // The service's own image is pulled when missing; the others are
        // fallbacks only where the engine has them already.
        if n > 0 && !pull::present(engine, image).await? {
            continue;
        }
        let mut seen = Seen::default();
        let exit = run(
            engine,
            &HelperSpec {
                image: image.clone(),
                mounts: mounts.clone(),
                script: format!("{TOOLS}{COPY}"),
                labels: helper_labels(job.repo),
            },
            cancel,
            &mut |line| match parse(line) {
                Line::Total(total) => {
                    seen.total = total;
                    observer.event(Event::Snapshot(Step::Copying {
                        action: job.action,
                        volume: job.volume.to_owned(),
                        total,
                    }));
                }
                Line::Progress(done) => observer.event(Event::Snapshot(Step::Progress {
                    volume: job.volume.to_owned(),
                    done: done.min(seen.total),
                })),
                other => seen.note(other),
            },
        )
        .await?;
        match exit {
            HelperExit::Exited(0) => {
                let copied = Copied {
                    bytes: seen.sizes.get("to").copied().unwrap_or(0),
                    method: seen.method.unwrap_or(Method::Copy),
                    elapsed: started.elapsed(),
                    postgres: seen.postgres.remove("to"),
                };
                observer.event(Event::Snapshot(Step::Copied {
                    action: job.action,
                    volume: job.volume.to_owned(),
                    bytes: copied.bytes,
                    method: Some(copied.method),
                    elapsed: copied.elapsed,
                }));
                return Ok(Some(copied));
            }
            HelperExit::Cancelled => return Ok(None),
            HelperExit::CannotRun(_) => refused.push(format!("{image} has no /bin/sh")),
            HelperExit::Exited(127) if seen.missing.is_some() => refused.push(format!(
                "{image} has no `{}`",
                seen.missing.unwrap_or_default()
            )),
            HelperExit::Exited(code) => {
                return Err(SnapshotError::CopyFailed {
                    volume: job.volume.to_owned(),
                    image: image.clone(),
                    code,
                    output: seen.tail(),
                }
                .into());
            }
        }
        if let Some(why) = refused.last() {
            observer.event(Event::Warning(format!(
                "{why}, which copying {} needs; trying another image of the stack",
                job.volume
            )));
        }
    }
    Err(SnapshotError::NoTools {
        volume: job.volume.to_owned(),
        refused,
    }
    .into())
}

/// The size and PostgreSQL major of each volume mounted under
/// `/volumes/LABEL` in a helper from `image`: label → (bytes, major).
pub async fn measure(
    engine: &Engine,
    image: &str,
    mounts: Vec<Mount>,
    repo: &str,
    cancel: &CancellationToken,
) -> Result<Option<HashMap<String, (u64, Option<String>)>>, Error> {
    let mut seen = Seen::default();
    let exit = run(
        engine,
        &HelperSpec {
            image: image.to_owned(),
            mounts,
            script: format!("{TOOLS}{MEASURE}"),
            labels: helper_labels(repo),
        },
        cancel,
        &mut |line| seen.note(parse(line)),
    )
    .await?;
    match exit {
        HelperExit::Exited(0) => Ok(Some(
            seen.sizes
                .iter()
                .map(|(label, bytes)| (label.clone(), (*bytes, seen.postgres.get(label).cloned())))
                .collect(),
        )),
        HelperExit::Cancelled => Ok(None),
        HelperExit::CannotRun(_) => Err(SnapshotError::NoTools {
            volume: "the imported volumes".to_owned(),
            refused: vec![format!("{image} has no /bin/sh")],
        }
        .into()),
        HelperExit::Exited(code) => Err(SnapshotError::CopyFailed {
            volume: "the imported volumes".to_owned(),
            image: image.to_owned(),
            code,
            output: seen.tail(),
        }
        .into()),
    }
}

/// The PostgreSQL major an image's environment declares: the official
/// images set `PG_MAJOR`.
fn declared_postgres(env: &[String]) -> Option<String> {
    env.iter()
        .find_map(|kv| kv.strip_prefix("PG_MAJOR="))
        .and_then(postgres_major)
}

/// The PostgreSQL major `image` runs: the `PG_MAJOR` it declares, else what
/// `postgres --version` says in a helper; `None` when it has no PostgreSQL
/// (or no shell to ask with).
pub async fn image_postgres(
    engine: &Engine,
    image: &str,
    repo: &str,
) -> Result<Option<String>, Error> {
    if let Some(major) = declared_postgres(&engine.image_env(image).await?) {
        return Ok(Some(major));
    }
    let mut version = None;
    let exit = run(
        engine,
        &HelperSpec {
            image: image.to_owned(),
            mounts: Vec::new(),
            script: POSTGRES_VERSION.to_owned(),
            labels: helper_labels(repo),
        },
        &CancellationToken::new(),
        &mut |line| {
            if let Line::PgVersion(text) = parse(line) {
                version = postgres_major(text);
            }
        },
    )
    .await?;
    Ok(match exit {
        HelperExit::Exited(0) => version,
        _ => None,
    })
}

fn helper_labels(repo: &str) -> HashMap<String, String> {
    HashMap::from([(super::stored::LABEL_HELPER.to_owned(), repo.to_owned())])
}

/// Creates, runs and removes one helper; its removal is awaited whatever
/// the run did.
async fn run(
    engine: &Engine,
    spec: &HelperSpec,
    cancel: &CancellationToken,
    line: &mut (dyn FnMut(&str) + Send),
) -> Result<HelperExit, Error> {
    let id = engine.create_helper(spec).await?;
    let exit = engine.run_helper(&id, line, cancel).await;
    let removed = engine.remove_helper(&id).await;
    let exit = exit?;
    removed?;
    Ok(exit)
}

/// What a helper said, besides progress.
#[derive(Default)]
struct Seen {
    total: u64,
    method: Option<Method>,
    missing: Option<String>,
    sizes: HashMap<String, u64>,
    postgres: HashMap<String, String>,
    /// Its other output, the last lines kept for an error report.
    other: Vec<String>,
}

impl Seen {
    fn note(&mut self, line: Line<'_>) {
        match line {
            Line::Missing(tool) => self.missing = Some(tool.to_owned()),
            Line::Method(method) => self.method = Some(method),
            Line::Size { label, bytes } => {
                self.sizes.insert(label.to_owned(), bytes);
            }
            Line::Postgres { label, version } => {
                if let Some(major) = postgres_major(version) {
                    self.postgres.insert(label.to_owned(), major);
                }
            }
            Line::Total(_) | Line::Progress(_) | Line::PgVersion(_) => {}
            Line::Other(text) => {
                self.other.push(text.to_owned());
                if self.other.len() > 20 {
                    self.other.remove(0);
                }
            }
        }
    }

    fn tail(&self) -> Vec<String> {
        self.other.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_lines_are_read_and_others_kept() {
        assert_eq!(parse("devrig total 10"), Line::Total(10240));
        assert_eq!(parse("devrig progress 3"), Line::Progress(3072));
        assert_eq!(
            parse("devrig method reflink"),
            Line::Method(Method::Reflink)
        );
        assert_eq!(
            parse("devrig size to 4"),
            Line::Size {
                label: "to",
                bytes: 4096
            }
        );
        assert_eq!(
            parse("devrig postgres app_pg-data 15"),
            Line::Postgres {
                label: "app_pg-data",
                version: "15"
            }
        );
        assert_eq!(parse("devrig missing cp"), Line::Missing("cp"));
        assert_eq!(
            parse("devrig pgversion postgres (PostgreSQL) 17.6 (Debian 17.6-0+deb13u1)"),
            Line::PgVersion("postgres (PostgreSQL) 17.6 (Debian 17.6-0+deb13u1)")
        );
        // du printing nothing (an unreadable directory) is not a number.
        assert_eq!(parse("devrig total "), Line::Other("devrig total "));
        assert_eq!(
            parse("cp: cannot stat '/from/x'"),
            Line::Other("cp: cannot stat '/from/x'")
        );
    }

    #[test]
    fn the_official_images_declare_their_major() {
        let env = |vars: &[&str]| vars.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            declared_postgres(&env(&["PATH=/usr/bin", "PG_MAJOR=14", "PG_VERSION=14.13"])),
            Some("14".to_owned())
        );
        assert_eq!(
            declared_postgres(&env(&["PATH=/usr/lib/postgresql/15/bin"])),
            None
        );
    }

    #[test]
    fn postgres_majors_from_files_and_binaries() {
        assert_eq!(postgres_major("15"), Some("15".to_owned()));
        assert_eq!(postgres_major("9.6"), Some("9.6".to_owned()));
        assert_eq!(
            postgres_major("postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"),
            Some("15".to_owned())
        );
        assert_eq!(
            postgres_major("postgres (PostgreSQL) 9.6.24"),
            Some("9.6".to_owned())
        );
        assert_eq!(
            postgres_major("postgres (PostgreSQL) 14.13"),
            Some("14".to_owned())
        );
        assert_eq!(postgres_major(""), None);
        assert_eq!(postgres_major("not a version"), None);
    }
}
