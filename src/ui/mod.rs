//! All terminal output goes through one [`Printer`], which decides colors,
//! verbosity and JSON once, from the flags and the terminal.

mod diagnostic;
pub mod progress;

pub use diagnostic::Diagnostic;

use serde::Serialize;
use std::io::{IsTerminal, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

#[derive(Debug, Clone)]
pub struct Printer {
    pub verbosity: Verbosity,
    pub json: bool,
    /// Colors on stdout.
    pub color: bool,
    /// Colors on stderr, decided separately: `devrig config > file` should
    /// still show a colored warning on the terminal.
    pub err_color: bool,
}

pub enum Style {
    Bold,
    Dim,
    Green,
    Yellow,
    Red,
    Cyan,
}

impl Style {
    fn code(&self) -> &'static str {
        match self {
            Style::Bold => "1",
            Style::Dim => "2",
            Style::Green => "32",
            Style::Yellow => "33",
            Style::Red => "31",
            Style::Cyan => "36",
        }
    }
}

impl Printer {
    pub fn new(verbosity: Verbosity, json: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Printer {
            verbosity,
            json,
            color: !no_color && std::io::stdout().is_terminal(),
            err_color: !no_color && std::io::stderr().is_terminal(),
        }
    }

    pub fn paint(&self, style: Style, text: &str) -> String {
        paint(self.color, style, text)
    }

    /// Normal output on stdout (suppressed by `--quiet`, not by `--json`:
    /// callers print JSON instead of calling this).
    pub fn line(&self, text: &str) {
        if self.verbosity != Verbosity::Quiet {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
        }
    }

    /// Detail shown only with `--verbose`, on stderr.
    pub fn debug(&self, text: &str) {
        if self.verbosity == Verbosity::Verbose {
            eprintln!("{}", paint(self.err_color, Style::Dim, text));
        }
    }

    /// A status line (`Fetched snuba`), cargo-style: the verb right-aligned
    /// and green. On stderr, so stdout stays the command's result.
    pub fn status(&self, verb: &str, text: &str) {
        if self.verbosity != Verbosity::Quiet {
            eprintln!(
                "{} {text}",
                paint(self.err_color, Style::Green, &format!("{verb:>12}"))
            );
        }
    }

    pub fn warn(&self, text: &str) {
        if self.verbosity != Verbosity::Quiet {
            eprintln!(
                "{} {text}",
                paint(self.err_color, Style::Yellow, "warning:")
            );
        }
    }

    pub fn json<T: Serialize>(&self, value: &T) {
        let text = serde_json::to_string_pretty(value).expect("output types serialize");
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
    }

    pub fn error(&self, diagnostic: &Diagnostic) {
        eprint!("{}", diagnostic.render(self.err_color));
    }
}

pub fn paint(enabled: bool, style: Style, text: &str) -> String {
    if enabled {
        format!("\x1b[{}m{text}\x1b[0m", style.code())
    } else {
        text.to_owned()
    }
}
