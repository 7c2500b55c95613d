//! `devrig snapshot`: save a mode's volumes under a name and restore them
//! in seconds, list and delete snapshots, and move them between machines
//! as archives (see [`crate::ops::snapshot`]). Copies show a bar of bytes
//! per volume on a terminal, a line each otherwise.

use super::args::PlanArgs;
use super::render::Renderer;
use super::{CmdResult, GlobalArgs, report};
use crate::ops::snapshot::{
    self, Action, ExportOptions, ImportOptions, ListOptions, RemoveOptions, RestoreOptions,
    SaveOptions, Selection, Snapshot, Step,
};
use crate::ops::{self, Event};
use crate::ui::progress::bytes_bar;
use crate::ui::{Printer, Tone, pad, width};
use clap::{Args, Subcommand};
use indicatif::ProgressBar;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

#[derive(Args, Debug)]
pub struct SnapshotArgs {
    #[command(subcommand)]
    pub command: SnapshotCommand,
}

#[derive(Subcommand, Debug)]
pub enum SnapshotCommand {
    /// Save the named volumes of the mode's containers (or of SERVICEs) as NAME
    Save(SaveArgs),
    /// Put NAME's contents back into the volumes, restarting their containers
    Restore(RestoreArgs),
    /// List this repo's snapshots
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Delete snapshot NAME, and nothing else
    Rm(NameArgs),
    /// Write snapshot NAME to FILE (a zstd-compressed tar with a manifest)
    Export(ExportArgs),
    /// Make an exported FILE a snapshot again (named NAME, else as saved)
    Import(ImportArgs),
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// The snapshot's name
    pub name: String,
    /// Only these services' volumes (default: every container of the mode)
    pub services: Vec<String>,
    /// Freeze the containers during the copy instead of stopping them
    /// (no restart; the copy is as consistent as after a power cut)
    #[arg(long)]
    pub pause: bool,
    /// Replace a snapshot of that name
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub plan: PlanArgs,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The snapshot's name
    pub name: String,
    /// Only these services' volumes (default: every volume of the snapshot)
    pub services: Vec<String>,
    #[command(flatten)]
    pub plan: PlanArgs,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Every repo's snapshots on the engine
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct NameArgs {
    /// The snapshot's name
    pub name: String,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The snapshot's name
    pub name: String,
    /// The archive to write (e.g. migrated.tar.zst)
    pub file: PathBuf,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// An archive written by `snapshot export`
    pub file: PathBuf,
    /// The name to give it (default: the name it was saved under)
    pub name: Option<String>,
    /// Replace a snapshot of that name
    #[arg(long)]
    pub force: bool,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: SnapshotArgs) -> CmdResult {
    let view = View::new(printer);
    let fail = |e: ops::Error| report::diagnostics(&e);
    let selection = |plan: PlanArgs, services: Vec<String>| Selection {
        target: global.target(),
        mode: plan.mode,
        fetch: plan.remote.read_policy(),
        mirror: plan.mirror.registry_mirror,
        services,
    };
    match args.command {
        SnapshotCommand::Save(a) => {
            let opts = SaveOptions {
                name: a.name,
                selection: selection(a.plan, a.services),
                pause: a.pause,
                force: a.force,
            };
            let saved = snapshot::save(&opts, &view).map_err(fail)?;
            show(printer, &saved, |saved| {
                let s = &saved.snapshot;
                let replaced = if saved.replaced {
                    ", replacing the old one"
                } else {
                    ""
                };
                printer.status(
                    "Saved",
                    &format!(
                        "snapshot {} ({}, {}) in {:.1}s{replaced}",
                        s.name,
                        count(s.volumes.len(), "volume"),
                        size(s.size),
                        saved.seconds,
                    ),
                );
            })
        }
        SnapshotCommand::Restore(a) => {
            let opts = RestoreOptions {
                name: a.name,
                selection: selection(a.plan, a.services),
            };
            let restored = snapshot::restore(&opts, &view).map_err(fail)?;
            show(printer, &restored, |r| {
                printer.status(
                    "Restored",
                    &format!(
                        "snapshot {} ({}) in {:.1}s",
                        r.name,
                        count(r.copies.len(), "volume"),
                        r.seconds
                    ),
                );
                if !r.not_started.is_empty() {
                    printer.line(&format!(
                        "Not running before, so not started: {}; `devrig up` starts them with the restored data.",
                        r.not_started.join(", ")
                    ));
                }
            })
        }
        SnapshotCommand::List(a) => {
            let opts = ListOptions {
                target: global.target(),
                all: a.all,
            };
            let listed = snapshot::list(&opts, &view).map_err(fail)?;
            show(printer, &listed, |listed| {
                table(printer, &listed.snapshots, a.all);
                for i in &listed.incomplete {
                    printer.warn(&format!(
                        "an interrupted save of {} left {} ({}); `devrig snapshot rm {}` deletes them",
                        i.name,
                        count(i.volumes.len(), "volume"),
                        i.volumes.join(", "),
                        i.name
                    ));
                }
            })
        }
        SnapshotCommand::Rm(a) => {
            let opts = RemoveOptions {
                target: global.target(),
                name: a.name,
            };
            let removed = snapshot::remove(&opts, &view).map_err(fail)?;
            show(printer, &removed, |r| {
                let volumes = count(r.volumes, "volume");
                printer.status("Removed", &format!("snapshot {} ({volumes})", r.name));
            })
        }
        SnapshotCommand::Export(a) => {
            let opts = ExportOptions {
                target: global.target(),
                name: a.name,
                file: a.file,
            };
            let exported = snapshot::export(&opts, &view).map_err(fail)?;
            show(printer, &exported, |e| {
                let file = e.file.display();
                let (bytes, seconds) = (size(e.bytes), e.seconds);
                printer.status("Wrote", &format!("{file} ({bytes}) in {seconds:.1}s"));
            })
        }
        SnapshotCommand::Import(a) => {
            let opts = ImportOptions {
                file: a.file,
                name: a.name,
                force: a.force,
            };
            let imported = snapshot::import(&opts, &view).map_err(fail)?;
            show(printer, &imported, |imported| {
                let s = &imported.snapshot;
                printer.status(
                    "Imported",
                    &format!(
                        "snapshot {} of {} ({}, {}) in {:.1}s",
                        s.name,
                        s.repo,
                        count(s.volumes.len(), "volume"),
                        size(s.size),
                        imported.seconds
                    ),
                );
            })
        }
    }
}

/// `report` as JSON with `--json`, else as `text` says it.
fn show<T: serde::Serialize>(printer: &Printer, report: &T, text: impl FnOnce(&T)) -> CmdResult {
    if printer.is_json() {
        printer.json(report);
    } else {
        text(report);
    }
    Ok(())
}

/// One row per snapshot; the repo's own services without its name.
fn table(printer: &Printer, snapshots: &[Snapshot], all: bool) {
    if snapshots.is_empty() {
        printer.line("No snapshots; `devrig snapshot save NAME` makes one.");
        return;
    }
    let mut rows = vec![{
        let mut head = vec![
            "NAME", "CREATED", "SERVICES", "VOLUMES", "SIZE", "CONFIG", "COMMIT",
        ];
        if all {
            head.insert(0, "REPO");
        }
        head.into_iter().map(str::to_owned).collect::<Vec<_>>()
    }];
    for s in snapshots {
        let own = format!("{}/", s.repo);
        let services: Vec<&str> = s
            .services
            .iter()
            .map(|x| x.strip_prefix(&own).unwrap_or(x))
            .collect();
        let mut row = vec![
            s.name.clone(),
            s.created.clone(),
            services.join(","),
            s.volumes.len().to_string(),
            size(s.size),
            s.config_hash.clone(),
            s.commit.clone().unwrap_or_else(|| "-".to_owned()),
        ];
        if all {
            row.insert(0, s.repo.clone());
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| width(rows.iter().map(|r| r[i].as_str())))
        .collect();
    for (n, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| {
                let cell = if n == 0 {
                    printer.paint(Tone::Dim, cell)
                } else {
                    cell.clone()
                };
                pad(&cell, *w)
            })
            .collect();
        printer.line(cells.join("  ").trim_end());
    }
}

/// `1 volume`, `2 volumes`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Bytes as people read them: `512 B`, `3.4 MiB`, `1.0 GiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Shows snapshot steps (bars of bytes per volume on a terminal), and
/// everything else as the service commands do.
struct View {
    printer: Printer,
    renderer: Renderer,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl View {
    fn new(printer: &Printer) -> View {
        View {
            printer: printer.clone(),
            renderer: Renderer::new(printer),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn step(&self, step: Step) {
        let p = &self.printer;
        match step {
            Step::Paused { container } => p.status("Paused", &container),
            Step::Unpaused { container } => p.status("Unpaused", &container),
            Step::Copying {
                action,
                volume,
                total,
            } => {
                let verb = match action {
                    Action::Save => "Saving",
                    Action::Restore => "Restoring",
                    Action::Export => "Exporting",
                    Action::Import => "Importing",
                };
                match bytes_bar(p, verb, &volume, total) {
                    Some(bar) => {
                        self.bars.lock().expect("lock").insert(volume, bar);
                    }
                    None => p.progress(Some(verb), &format!("{volume} ({})", size(total))),
                }
            }
            Step::Progress { volume, done } => {
                if let Some(bar) = self.bars.lock().expect("lock").get(&volume) {
                    bar.set_position(done);
                }
            }
            Step::Copied {
                action,
                volume,
                bytes,
                method,
                elapsed,
            } => {
                if let Some(bar) = self.bars.lock().expect("lock").remove(&volume) {
                    bar.finish_and_clear();
                }
                let verb = match action {
                    Action::Save => "Saved",
                    Action::Restore => "Restored",
                    Action::Export => "Exported",
                    Action::Import => "Imported",
                };
                let how = method
                    .map(|m| format!(", {}", m.as_str()))
                    .unwrap_or_default();
                p.progress(
                    Some(verb),
                    &format!(
                        "{volume} ({}{how}, {:.1}s)",
                        size(bytes),
                        elapsed.as_secs_f32()
                    ),
                );
            }
            Step::Unused { volume } => p.warn(&format!(
                "the snapshot's volume {volume} is used by no service of this plan; not restored"
            )),
        }
    }
}

impl ops::Observer for View {
    fn event(&self, event: Event) {
        match event {
            Event::Snapshot(step) => self.step(step),
            other => self.renderer.event(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_du_h() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(48 * 1024 * 1024 + 300 * 1024), "48.3 MiB");
        assert_eq!(size(1 << 30), "1.0 GiB");
    }
}
