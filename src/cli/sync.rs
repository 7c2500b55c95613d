//! `devenv sync`: runs the repo's setup steps whose inputs changed, one line
//! per step: a spinner while a step runs on a terminal, plain lines in logs.

use super::context;
use super::{CmdResult, GlobalArgs, exit, report};
use crate::state::Store;
use crate::toolchain::sync::{self, Event, Observer, SyncError, SyncOptions};
use crate::toolchain::{HostEnv, requirements};
use crate::ui::{Diagnostic, Printer, Style, Verbosity, paint};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// Run every step, even those whose inputs are unchanged since they last succeeded
    #[arg(long)]
    pub force: bool,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: SyncArgs) -> CmdResult {
    let root = context::repo_root(global)?;
    let env = HostEnv::from_process();
    let reqs = requirements::load(&root).map_err(|e| report::config_error(&e))?;
    let human = !printer.json && printer.verbosity != Verbosity::Quiet;
    if reqs.sync.is_empty() {
        if printer.json {
            printer.json(&Vec::<sync::StepReport>::new());
        } else {
            printer.status(
                "Synced",
                "nothing: this repo has no sync steps (list them under x-devenv.sync in devservices/config.yml)",
            );
        }
        return Ok(());
    }
    let opts = SyncOptions {
        force: args.force,
        stream: human && printer.verbosity == Verbosity::Verbose,
        state_dir: Store::default_dir(),
    };
    let width = reqs.sync.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut lines = Lines {
        printer: printer.clone(),
        human,
        // A spinner redraws its line; a log (CI, a pipe) gets plain lines.
        live: human && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none(),
        width,
        spinner: None,
    };
    let result = sync::sync_with(&root, &env, &reqs, &opts, &mut lines);
    lines.clear_spinner();
    match result {
        Ok(steps) => {
            if printer.json {
                printer.json(&steps);
            }
            Ok(())
        }
        Err(e) => {
            if printer.json
                && let SyncError::StepFailed { steps, .. } = &e
            {
                printer.json(steps);
            }
            Err(diagnostic(e))
        }
    }
}

fn diagnostic(e: SyncError) -> Diagnostic {
    let message = e.to_string();
    match e {
        SyncError::Config(c) => report::config_error(&c),
        SyncError::Blocked { checks } => {
            let mut d = Diagnostic::new(message, exit::FAILURE);
            for check in checks {
                let mut detail = format!("{}: {}", check.id, check.finding);
                if let Some(fix) = check.fix {
                    detail.push_str(&format!("\n  fix: {fix}"));
                }
                d.details.push(detail);
            }
            d.hint(Some(
                "apply the fixes above, then run `devenv sync` again; `devenv doctor` shows every check"
                    .to_owned(),
            ))
        }
        SyncError::Venv(fix) => Diagnostic::new(message, exit::FAILURE).hint(fix.hint()),
        SyncError::StepFailed {
            step,
            command,
            source_at,
            tail,
            ..
        } => {
            let mut d = Diagnostic::new(message, exit::FAILURE);
            d.details.push(if tail.is_empty() {
                "(no output)".to_owned()
            } else {
                tail.join("\n")
            });
            d.hint(Some(format!(
                "the step ({source_at}) runs `{}` with sh in the repo root; \
                 fix what it reports and run `devenv sync` again: it starts over at `{step}`",
                one_line(&command)
            )))
        }
        SyncError::Input { .. } | SyncError::State { .. } => {
            Diagnostic::new(message, exit::FAILURE)
        }
    }
}

/// A command as one line: the first of a multi-line script, marked as cut.
fn one_line(command: &str) -> String {
    let mut lines = command.trim().lines();
    let first = lines.next().unwrap_or_default();
    if lines.next().is_some() {
        format!("{first} …")
    } else {
        first.to_owned()
    }
}

/// One line per step on stderr (stdout is for `--json`).
struct Lines {
    printer: Printer,
    /// Not `--json`, not `--quiet`.
    human: bool,
    live: bool,
    /// The longest step name, so the outcomes line up.
    width: usize,
    spinner: Option<ProgressBar>,
}

impl Lines {
    fn print(&self, name: &str, text: &str) {
        let line = format!("{name:<width$}  {text}", width = self.width);
        match &self.spinner {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn paint(&self, style: Style, text: &str) -> String {
        paint(self.printer.err_color, style, text)
    }

    fn clear_spinner(&mut self) {
        if let Some(bar) = self.spinner.take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Lines {
    fn event(&mut self, event: Event<'_>) {
        if !self.human {
            return;
        }
        match event {
            Event::Skipped { step } => {
                self.print(&step.name, &self.paint(Style::Dim, "skipped (unchanged)"))
            }
            Event::Fixed { check, command } => {
                self.printer
                    .status("Fixed", &format!("{check} ({command})"));
            }
            Event::Started { step } => {
                if self.live {
                    // Built before it is drawn, so the first frame is complete.
                    let mut bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
                        .with_prefix(step.name.clone())
                        .with_message(one_line(&step.command));
                    if let Ok(style) = ProgressStyle::with_template(&format!(
                        "{{prefix:<{}}}  {{spinner:.cyan}} running {{msg}} {{elapsed:.dim}}",
                        self.width
                    )) {
                        bar = bar.with_style(style);
                    }
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                    bar.enable_steady_tick(Duration::from_millis(100));
                    self.spinner = Some(bar);
                } else {
                    self.print(&step.name, &format!("running {}", one_line(&step.command)));
                }
            }
            Event::Output { step, line } => {
                let text = self.paint(Style::Dim, &format!("| {line}"));
                self.print(&step.name, &text);
            }
            Event::Ran { step, elapsed } => {
                self.clear_spinner();
                let text = format!(
                    "{} in {:.1}s",
                    self.paint(Style::Green, "done"),
                    elapsed.as_secs_f64()
                );
                self.print(&step.name, &text);
            }
            Event::Failed { step, elapsed } => {
                self.clear_spinner();
                let text = format!(
                    "{} after {:.1}s",
                    self.paint(Style::Red, "failed"),
                    elapsed.as_secs_f64()
                );
                self.print(&step.name, &text);
            }
            Event::StateReset { path, reason } => self.printer.warn(&format!(
                "ignoring the sync state {} ({reason}): every step runs",
                path.display()
            )),
        }
    }
}
