//! All terminal output goes through one [`Printer`], which decides colors,
//! verbosity and JSON once, from the flags and the terminal, and hands out
//! what other output needs: stdout for streamed lines, and the live area
//! for progress bars and spinners ([`Printer::add_bar`]). Every line the
//! printer writes to stderr steps around the bars, so status lines, `up`'s
//! progress and `sync`'s step lines share one area. Styles stay in here:
//! callers name a [`Tone`], and widths are measured on the text as seen,
//! not on its escape codes.
//!
//! stdout is the command's result, so a failed write there is remembered
//! (the first one) and later writes are skipped: [`Printer::output_error`]
//! tells the CLI at the end whether the result reached its reader. A reader
//! that went away (`| head`) is not an error, as with ripgrep; a full disk
//! is.

mod diagnostic;
pub mod progress;

pub use diagnostic::{Diagnostic, Diagnostics};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// What a piece of text means; the printer picks its look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Running, done, ok.
    Good,
    /// Starting, waiting, a warning.
    Warn,
    /// Failed, stopped for a bad reason.
    Bad,
    /// Secondary detail.
    Dim,
    /// A name to find at a glance.
    Strong,
    /// Pointers: hints, fixes, locations.
    Accent,
}

impl Tone {
    fn code(self) -> &'static str {
        match self {
            Tone::Strong => "1",
            Tone::Dim => "2",
            Tone::Good => "32",
            Tone::Warn => "33",
            Tone::Bad => "31",
            Tone::Accent => "36",
        }
    }
}

/// Colors that read well on dark and light terminals, one per source of
/// interleaved output (`logs`).
const PALETTE: &[&str] = &["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

#[derive(Debug, Clone)]
pub struct Printer {
    verbosity: Verbosity,
    json: bool,
    /// Colors on stdout.
    color: bool,
    /// Colors on stderr, decided separately: `devrig config > file` should
    /// still show a colored warning on the terminal.
    err_color: bool,
    /// The live area, when stderr is a terminal and the output is for a
    /// human (not `--quiet`, not `--json`).
    bars: Option<MultiProgress>,
    /// The first failed write to stdout, shared by every clone.
    stdout_failure: Arc<Mutex<Option<std::io::Error>>>,
}

/// Why the command's output did not reach its reader.
#[derive(Debug)]
pub enum OutputFailure {
    /// The reader closed the pipe (`| head`): not the command's failure.
    ReaderGone,
    /// Anything else (a full disk, an I/O error): the result is incomplete.
    Write(std::io::Error),
}

impl Printer {
    pub fn new(verbosity: Verbosity, json: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let live = verbosity != Verbosity::Quiet && !json && std::io::stderr().is_terminal();
        Printer {
            verbosity,
            json,
            color: !no_color && std::io::stdout().is_terminal(),
            err_color: !no_color && std::io::stderr().is_terminal(),
            bars: live.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            stdout_failure: Arc::default(),
        }
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    /// `--json`: the result goes out as JSON on stdout, nothing else there.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Whether progress may redraw lines: stderr is a terminal and the
    /// user wants human output.
    pub fn is_live(&self) -> bool {
        self.bars.is_some()
    }

    /// Adds `bar` to the live area, below the others; `None` (nothing is
    /// drawn) when the area is not live.
    pub fn add_bar(&self, bar: ProgressBar) -> Option<ProgressBar> {
        Some(self.bars.as_ref()?.add(bar))
    }

    /// A line on stderr, stepping around the live bars.
    fn eprintln(&self, line: &str) {
        match &self.bars {
            Some(bars) => bars.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// `text` in `tone`, for stdout.
    pub fn paint(&self, tone: Tone, text: &str) -> String {
        paint(self.color, tone.code(), text)
    }

    /// `text` in `tone`, for stderr.
    pub fn paint_err(&self, tone: Tone, text: &str) -> String {
        paint(self.err_color, tone.code(), text)
    }

    /// `text` in the color of `source` (for stdout): a source keeps its
    /// color from run to run because it is picked from its name.
    pub fn paint_source(&self, source: &str, text: &str) -> String {
        let hash = source
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        paint(self.color, PALETTE[hash as usize % PALETTE.len()], text)
    }

    /// Normal output on stdout (suppressed by `--quiet`, not by `--json`:
    /// callers print JSON instead of calling this).
    pub fn line(&self, text: &str) {
        if self.verbosity != Verbosity::Quiet {
            self.write_out(|out| writeln!(out, "{text}"));
        }
    }

    /// Writes `bytes` to stdout as they are (a rendered document, a line
    /// streamed by `logs`); `false` once stdout has failed, so a stream
    /// knows to stop.
    pub fn write_raw(&self, bytes: &[u8]) -> bool {
        self.write_out(|out| out.write_all(bytes))
    }

    /// Runs `write` on stdout unless an earlier write failed, and remembers
    /// its failure. Whether stdout still works.
    fn write_out(
        &self,
        write: impl FnOnce(&mut std::io::StdoutLock) -> std::io::Result<()>,
    ) -> bool {
        let mut failure = self
            .stdout_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if failure.is_some() {
            return false;
        }
        match write(&mut std::io::stdout().lock()) {
            Ok(()) => true,
            Err(e) => {
                *failure = Some(e);
                false
            }
        }
    }

    /// Flushes stdout and says whether everything written reached the
    /// reader; the first failure if not.
    pub fn output_error(&self) -> Option<OutputFailure> {
        self.write_out(|out| out.flush());
        let failure = self
            .stdout_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()?;
        Some(if failure.kind() == std::io::ErrorKind::BrokenPipe {
            OutputFailure::ReaderGone
        } else {
            OutputFailure::Write(failure)
        })
    }

    /// Detail shown only with `--verbose`, on stderr.
    pub fn debug(&self, text: &str) {
        if self.verbosity == Verbosity::Verbose {
            self.eprintln(&self.paint_err(Tone::Dim, text));
        }
    }

    /// A status line (`Fetched snuba`), cargo-style: the verb right-aligned
    /// and green. On stderr, so stdout stays the command's result.
    pub fn status(&self, verb: &str, text: &str) {
        if self.verbosity != Verbosity::Quiet {
            self.eprintln(&format!(
                "{} {text}",
                self.paint_err(Tone::Good, &format!("{verb:>12}"))
            ));
        }
    }

    /// A line of a command's progress on stderr (not with `--quiet` or
    /// `--json`): a [`Printer::status`] line, or `line` as it is when
    /// `verb` is `None`.
    pub fn progress(&self, verb: Option<&str>, line: &str) {
        if self.verbosity == Verbosity::Quiet || self.json {
            return;
        }
        match verb {
            Some(verb) => self.status(verb, line),
            None => self.eprintln(line),
        }
    }

    pub fn warn(&self, text: &str) {
        if self.verbosity != Verbosity::Quiet {
            self.eprintln(&format!(
                "{} {text}",
                self.paint_err(Tone::Warn, "warning:")
            ));
        }
    }

    /// Asks `question` on stderr and reads one line of answer from stdin
    /// (the caller decides whether there is someone to ask).
    pub fn ask(&self, question: &str) -> String {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{question} ");
        let _ = err.flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        answer
    }

    pub fn json<T: Serialize>(&self, value: &T) {
        let text = serde_json::to_string_pretty(value).expect("output types serialize");
        self.write_out(|out| writeln!(out, "{text}"));
    }

    pub fn error(&self, diagnostic: &Diagnostic) {
        let text = diagnostic.render(self.err_color);
        self.eprintln(text.trim_end_matches('\n'));
    }

    /// Every diagnostic, in order.
    pub fn errors(&self, diagnostics: &Diagnostics) {
        for d in diagnostics.iter() {
            self.error(d);
        }
    }
}

fn paint(enabled: bool, code: &str, text: &str) -> String {
    if enabled {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// `text` padded with spaces to `width` columns as seen on screen (escape
/// codes take none, wide characters two).
pub fn pad(text: &str, width: usize) -> String {
    let seen = console::measure_text_width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(seen)))
}

/// The widest of `texts` as seen on screen.
pub fn width<'a>(texts: impl IntoIterator<Item = &'a str>) -> usize {
    texts
        .into_iter()
        .map(console::measure_text_width)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_ignores_escape_codes() {
        let painted = paint(true, Tone::Good.code(), "running");
        assert_eq!(pad(&painted, 9), format!("{painted}  "));
        assert_eq!(pad("exited", 9), "exited   ");
        assert_eq!(pad("toolong-text", 4), "toolong-text");
        assert_eq!(width(["ab", &painted, "é"]), 7);
    }
}
