//! How the service commands show what their operations report as it
//! happens: one [`Renderer`] turns [`ops::Event`]s into status lines,
//! warnings and (for containers) the progress area.

use crate::ops::{self, Event, foreground::Step};
use crate::supervisor::protocol::ProgramState;
use crate::ui::Printer;
use crate::ui::progress::Progress;

pub struct Renderer {
    printer: Printer,
    progress: Progress,
    /// Name each stopped program's project (`purge` stops every repo's).
    name_projects: bool,
}

impl Renderer {
    pub fn new(printer: &Printer) -> Self {
        Renderer {
            printer: printer.clone(),
            progress: Progress::new(printer),
            name_projects: false,
        }
    }

    /// Stopped programs are named with their project.
    pub fn naming_projects(mut self) -> Self {
        self.name_projects = true;
        self
    }
}

impl ops::Observer for Renderer {
    fn event(&self, event: Event) {
        let p = &self.printer;
        match event {
            Event::Warning(text) => p.warn(&text),
            Event::Note(text) => p.debug(&text),
            Event::Stack(event) => self.progress.event(event),
            Event::LocalStarting {
                service,
                checkout,
                already_running: true,
            } => p.status(
                "Local",
                &format!("{service} already runs from {}", checkout.display()),
            ),
            Event::LocalStarting {
                service, checkout, ..
            } => p.status(
                "Local",
                &format!(
                    "starting {service} from {} (toggled to local)",
                    checkout.display()
                ),
            ),
            Event::LocalKept { service, users } => p.status(
                "Kept",
                &format!("{service} running locally (used by {})", users.join(", ")),
            ),
            Event::ServiceUp {
                project,
                mode,
                elapsed,
            } => p.status(
                "Up",
                &format!(
                    "{project} (mode {mode}) in {:.1}s",
                    elapsed.as_secs_f32()
                ),
            ),
            Event::ServiceDown { project, mode } => {
                p.status("Down", &format!("{project} (mode {mode})"))
            }
            Event::ProgramSettled(program) => match program.state {
                ProgramState::Running | ProgramState::Starting => p.status(
                    "Running",
                    &match program.pid {
                        Some(pid) => format!("{} (pid {pid})", program.name),
                        None => program.name.clone(),
                    },
                ),
                ProgramState::Exited => p.status(
                    "Exited",
                    &format!(
                        "{} ({})",
                        program.name,
                        program.last_exit.as_deref().unwrap_or("done")
                    ),
                ),
                ProgramState::Backoff => p.warn(&format!(
                    "{} {} and is still being restarted; its output: devrig logs {}",
                    program.name,
                    ops::programs::ended(program.last_exit.as_deref()),
                    program.name
                )),
                // Reported as an error by the operation.
                ProgramState::Fatal => {}
                // autostart off, or run by `devrig foreground` right now.
                ProgramState::Stopped | ProgramState::Stopping | ProgramState::Foreground => p
                    .status(
                        "Not started",
                        &format!("{} ({})", program.name, program.state.as_str()),
                    ),
            },
            Event::ProgramStopped { project, name } if self.name_projects => {
                p.status("Stopped", &format!("{name} ({project})"))
            }
            Event::ProgramStopped { name, .. } => p.status("Stopped", &name),
            Event::StartedBeforeFailure(names) => p.warn(&format!(
                "started before the failure, as what they need was ready: {}",
                names.join(", ")
            )),
            Event::ContainerStopped { container, reason } => {
                p.status("Stopped", &format!("{container} ({reason})"))
            }
            Event::Restarting {
                project,
                mode,
                service,
            } => p.status(
                "Restarting",
                &format!("{project} (mode {mode}) to run {service} as containers"),
            ),
            Event::Toggled {
                service,
                checkout: Some(checkout),
            } => p.status(
                "Toggled",
                &format!("{service} to local (from {})", checkout.display()),
            ),
            Event::Toggled { service, .. } => {
                p.status("Toggled", &format!("{service} to containerized"))
            }
            Event::Foreground(step) => match step {
                Step::TakenOver { name } => {
                    p.status("Stopped", &format!("{name} in the supervisor"))
                }
                Step::Running { name, argv } => p.status(
                    "Running",
                    &format!("{name} in the foreground: {}", argv.join(" ")),
                ),
                Step::LeftStopped { name } => {
                    p.status("Left", &format!("{name} stopped, as it was before"))
                }
                Step::HandedBack { name, pid } => p.status(
                    "Handed back",
                    &match pid {
                        Some(pid) => format!("{name} to the supervisor (pid {pid})"),
                        None => format!("{name} to the supervisor"),
                    },
                ),
                Step::NotHandedBack { name, why } => p.warn(&format!(
                    "could not hand {name} back to the supervisor: {why}; `devrig up` starts it again"
                )),
            },
            Event::Fixed { check, command } => {
                p.status("Fixed", &format!("{check} ({command})"))
            }
            Event::Copied { source, host, path } => {
                p.status("Copied", &format!("{} to {host}:{path}", source.display()))
            }
            Event::Forwarded {
                forward,
                host,
                purpose,
            } => p.status(
                "Forwarded",
                &format!("{} ({purpose})", forward.describe(&host)),
            ),
            // Drawn by cli/snapshot.rs's view, which passes the rest here.
            Event::Snapshot(_) => {}
        }
    }
}
