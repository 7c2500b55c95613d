//! Turns stack events into output: one indicatif bar per pulled image and a
//! live line per waiting container on a terminal; plain lines otherwise
//! (CI logs), and nothing but errors with `--quiet`.

use super::{Printer, Verbosity};
use crate::stack::Event;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::sync::Mutex;

pub struct Progress {
    printer: Printer,
    pulls: Mutex<HashMap<String, ProgressBar>>,
    waits: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress {
    pub fn new(printer: &Printer) -> Self {
        Progress {
            printer: printer.clone(),
            pulls: Mutex::new(HashMap::new()),
            waits: Mutex::new(HashMap::new()),
        }
    }

    fn line(&self, verb: &str, text: &str) {
        self.printer.progress(Some(verb), text);
    }

    fn finish_wait(&self, container: &str) {
        if let Some(bar) = self.waits.lock().expect("lock").remove(container) {
            bar.finish_and_clear();
        }
    }
}

/// A bar of bytes in the live area, `VERB WHAT [===>   ] 3 MiB/10 MiB`;
/// `None` (nothing drawn) when the area is not live.
pub fn bytes_bar(printer: &Printer, verb: &str, what: &str, total: u64) -> Option<ProgressBar> {
    let bar = printer.add_bar(ProgressBar::new(total))?;
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12.cyan} {msg} [{bar:30}] {bytes}/{total_bytes}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(verb.to_owned());
    bar.set_message(what.to_owned());
    Some(bar)
}

impl Progress {
    /// Shows one stack event.
    pub fn event(&self, event: Event) {
        match event {
            Event::PullStarted { image } => match bytes_bar(&self.printer, "Pulling", &image, 0) {
                Some(bar) => {
                    self.pulls.lock().expect("lock").insert(image, bar);
                }
                None => self.line("Pulling", &image),
            },
            Event::PullProgress { image, progress } => {
                if let Some(bar) = self.pulls.lock().expect("lock").get(&image) {
                    bar.set_length(progress.total);
                    bar.set_position(progress.current);
                    bar.set_message(format!(
                        "{image} ({}/{} layers)",
                        progress.layers_done, progress.layers
                    ));
                }
            }
            Event::PullRetry {
                image,
                attempt,
                reason,
            } => self.line(
                "Retrying",
                &format!("pull of {image} (attempt {attempt}): {reason}"),
            ),
            Event::PullDone { image } => {
                if let Some(bar) = self.pulls.lock().expect("lock").remove(&image) {
                    bar.finish_and_clear();
                }
                self.line("Pulled", &image);
            }
            Event::Created { container } => self.line("Created", &container),
            Event::Recreated { container, because } => {
                self.line("Recreated", &format!("{container} ({because})"))
            }
            Event::Rechecked { image, changed } => {
                if let Some(bar) = self.pulls.lock().expect("lock").remove(&image) {
                    bar.finish_and_clear();
                }
                if changed {
                    self.line("Pulled", &format!("{image} (a newer image)"));
                } else {
                    self.line("Checked", &format!("{image} (up to date)"));
                }
            }
            Event::RecheckFailed { image, reason } => {
                if let Some(bar) = self.pulls.lock().expect("lock").remove(&image) {
                    bar.finish_and_clear();
                }
                self.printer.warn(&format!(
                    "cannot check {image} for a newer image ({reason}); using the one here"
                ));
            }
            Event::Started { container } => self.line("Started", &container),
            Event::Unchanged { container } => {
                if self.printer.verbosity() == Verbosity::Verbose {
                    self.line("Unchanged", &container);
                }
            }
            Event::Waiting {
                container,
                on,
                waited,
                last_output,
            } => {
                let detail = last_output
                    .map(|o| format!(": {}", o.lines().last().unwrap_or_default()))
                    .unwrap_or_default();
                let text = format!("{container}: {on} for {:.0}s{detail}", waited.as_secs_f32());
                if !self.printer.is_live() {
                    // Plain output: one line every 5 s per container is enough for a log.
                    if waited.as_secs() % 5 == 0 {
                        self.line("Waiting", &text);
                    }
                    return;
                }
                let mut waits = self.waits.lock().expect("lock");
                if !waits.contains_key(&container) {
                    let Some(bar) = self.printer.add_bar(ProgressBar::new_spinner()) else {
                        return;
                    };
                    bar.set_style(
                        ProgressStyle::with_template("{spinner:.cyan} {msg}")
                            .expect("valid template"),
                    );
                    bar.enable_steady_tick(std::time::Duration::from_millis(120));
                    waits.insert(container.clone(), bar);
                }
                if let Some(bar) = waits.get(&container) {
                    bar.set_message(format!("waiting on {text}"));
                }
            }
            Event::Ready { container, after } => {
                self.finish_wait(&container);
                self.line(
                    "Ready",
                    &format!("{container} ({:.1}s)", after.as_secs_f32()),
                );
            }
            // Shown as Ready or Completed already; it is for program starts.
            Event::Available { .. } => {}
            Event::Completed { container } => {
                self.finish_wait(&container);
                self.line("Completed", &container);
            }
            Event::Stopping { container } => self.printer.debug(&format!("stopping {container}")),
            Event::Stopped { container } => self.line("Stopped", &container),
            Event::Kept { project, users } => self.line(
                "Kept",
                &format!("{project} running: still used by {}", users.join(", ")),
            ),
            Event::Resource { verb, what } => self.line(verb, &what),
        }
    }
}
