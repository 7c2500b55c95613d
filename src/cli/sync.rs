//! `devenv sync`: brings the toolchain to its pins and runs the repo's setup
//! steps whose inputs changed, one line per part and step: a spinner while
//! a step runs and a bar while a download does on a terminal, plain lines
//! in logs (see [`crate::ops::sync`]).

use super::{CmdResult, GlobalArgs, report};
use crate::ops::sync::{self, SyncOptions};
use crate::toolchain::SyncError;
use crate::toolchain::sync::{Event, Observer, StepReport, one_line};
use crate::ui::{Printer, Tone, Verbosity, pad, width};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Duration;

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// Run every step, even those whose inputs are unchanged since they last succeeded
    #[arg(long)]
    pub force: bool,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: SyncArgs) -> CmdResult {
    let opts = SyncOptions {
        target: global.target(),
        force: args.force,
        stream: printer.verbosity() == Verbosity::Verbose && !printer.is_json(),
    };
    let prepared = sync::prepare(&opts).map_err(|e| report::diagnostics(&e))?;
    run_prepared(printer, &prepared, &opts)
}

/// Runs a prepared sync (also `devenv fetch`'s), one line per part and step.
pub(super) fn run_prepared(
    printer: &Printer,
    prepared: &sync::Prepared,
    opts: &SyncOptions,
) -> CmdResult {
    let mut lines = Lines {
        printer,
        // A spinner redraws its line; a log (CI, a pipe) gets plain lines.
        spin: printer.is_live() && std::env::var_os("CI").is_none(),
        width: width(prepared.step_names()),
        spinner: None,
    };
    let result = prepared.run(opts, &mut lines);
    lines.clear_spinner();
    match result {
        Ok(steps) if steps.is_empty() => {
            if printer.is_json() {
                printer.json(&Vec::<StepReport>::new());
            } else {
                printer.status(
                    "Synced",
                    "nothing: this repo has no sync steps (list them under x-devenv.sync in devservices/config.yml)",
                );
            }
            Ok(())
        }
        Ok(steps) => {
            if printer.is_json() {
                printer.json(&steps);
            }
            Ok(())
        }
        Err(e) => {
            if printer.is_json()
                && let crate::ops::Error::Sync(
                    SyncError::StepFailed { steps, .. } | SyncError::Provision { steps, .. },
                ) = &e
            {
                printer.json(steps);
            }
            Err(report::diagnostics(&e))
        }
    }
}

/// One line per step on stderr (stdout is for `--json`).
struct Lines<'a> {
    printer: &'a Printer,
    spin: bool,
    /// The longest step name, so the outcomes line up.
    width: usize,
    spinner: Option<ProgressBar>,
}

impl Lines<'_> {
    fn print(&self, name: &str, text: &str) {
        self.printer
            .progress(None, &format!("{}  {text}", pad(name, self.width)));
    }

    fn clear_spinner(&mut self) {
        if let Some(bar) = self.spinner.take() {
            bar.finish_and_clear();
        }
    }

    /// A spinner line `NAME  ⠋ TEXT 3s` on a terminal; false when there
    /// is none to draw on.
    fn start_spinner(&mut self, name: &str, text: &str) -> bool {
        if !self.spin {
            return false;
        }
        // Built before it is drawn, so the first frame is complete.
        let mut bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
            .with_prefix(name.to_owned())
            .with_message(text.to_owned());
        if let Ok(style) = ProgressStyle::with_template(&format!(
            "{{prefix:<{}}}  {{spinner:.cyan}} {{msg}} {{elapsed:.dim}}",
            self.width
        )) {
            bar = bar.with_style(style);
        }
        match self.printer.add_bar(bar) {
            Some(bar) => {
                bar.enable_steady_tick(Duration::from_millis(100));
                self.spinner = Some(bar);
                true
            }
            None => false,
        }
    }

    /// The download bar of a terminal, made on the first bytes.
    fn download_bar(&mut self, tool: &str, total: Option<u64>) -> Option<&ProgressBar> {
        if self.spinner.is_none() && self.spin {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden())
                .with_prefix(tool.to_owned());
            let template = format!(
                "{{prefix:<{}}}  downloading [{{bar:30}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}}",
                self.width
            );
            let bar = match ProgressStyle::with_template(&template) {
                Ok(style) => bar.with_style(style.progress_chars("=> ")),
                Err(_) => bar,
            };
            self.spinner = self.printer.add_bar(bar);
            // Redrawn while no bytes come too: a stalled transfer shows
            // its rate falling instead of a frozen line.
            if let Some(bar) = &self.spinner {
                bar.enable_steady_tick(Duration::from_millis(200));
            }
        }
        self.spinner.as_ref()
    }
}

impl Observer for Lines<'_> {
    fn event(&mut self, event: Event<'_>) {
        let p = self.printer;
        if p.is_json() || p.verbosity() == Verbosity::Quiet {
            return;
        }
        match event {
            Event::Skipped { step } => {
                self.print(&step.name, &p.paint_err(Tone::Dim, "skipped (unchanged)"))
            }
            Event::ToolReady { tool, detail } => self.print(
                tool,
                &p.paint_err(Tone::Dim, &format!("skipped ({detail})")),
            ),
            Event::ToolNote { tool, text } => self.print(tool, text),
            Event::ToolInstalling { tool, detail } => {
                self.clear_spinner();
                self.print(tool, &format!("installing {detail}"));
            }
            Event::Downloading { tool, done, total } => {
                if let Some(bar) = self.download_bar(tool, total) {
                    if let Some(total) = total {
                        bar.set_length(total);
                    }
                    bar.set_position(done);
                }
            }
            Event::Unpacking { tool } => {
                self.clear_spinner();
                self.start_spinner(tool, "unpacking and checking");
            }
            Event::DownloadRetry {
                tool,
                url,
                attempt,
                of,
                reason,
                wait,
            } => {
                self.clear_spinner();
                let text = format!(
                    "{} {url} in {:.1}s (attempt {attempt} of {of}: {reason})",
                    p.paint_err(Tone::Warn, "retrying"),
                    wait.as_secs_f64()
                );
                self.print(tool, &text);
            }
            Event::ToolInstalled {
                tool,
                detail,
                elapsed,
            } => {
                self.clear_spinner();
                let text = format!(
                    "{} {detail} in {:.1}s",
                    p.paint_err(Tone::Good, "installed"),
                    elapsed.as_secs_f64()
                );
                self.print(tool, &text);
            }
            Event::ToolFailed { tool, elapsed } => {
                self.clear_spinner();
                let text = format!(
                    "{} after {:.1}s",
                    p.paint_err(Tone::Bad, "failed"),
                    elapsed.as_secs_f64()
                );
                self.print(tool, &text);
            }
            Event::Started { step } => {
                let text = format!("running {}", one_line(&step.command));
                if !self.start_spinner(&step.name, &text) {
                    self.print(&step.name, &text);
                }
            }
            Event::Output { step, line } => {
                let text = p.paint_err(Tone::Dim, &format!("| {line}"));
                self.print(&step.name, &text);
            }
            Event::Ran { step, elapsed } => {
                self.clear_spinner();
                let text = format!(
                    "{} in {:.1}s",
                    p.paint_err(Tone::Good, "done"),
                    elapsed.as_secs_f64()
                );
                self.print(&step.name, &text);
            }
            Event::Failed { step, elapsed } => {
                self.clear_spinner();
                let text = format!(
                    "{} after {:.1}s",
                    p.paint_err(Tone::Bad, "failed"),
                    elapsed.as_secs_f64()
                );
                self.print(&step.name, &text);
            }
            Event::StateReset { path, reason } => p.warn(&format!(
                "ignoring the sync state {} ({reason}): every step runs",
                path.display()
            )),
        }
    }
}
