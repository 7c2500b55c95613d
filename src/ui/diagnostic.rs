//! The one shape every error takes at the CLI: what went wrong, where (with
//! the source line), details, and what to do.

use super::{Tone, paint};
use crate::config::yaml::Pos;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub message: String,
    pub location: Option<(PathBuf, Option<Pos>)>,
    /// Further places involved (e.g. the other claimant of a conflict).
    pub also: Vec<(String, PathBuf, Pos)>,
    /// Verbatim detail, such as git's stderr.
    pub details: Vec<String>,
    pub hint: Option<String>,
    pub exit_code: u8,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>, exit_code: u8) -> Self {
        Diagnostic {
            message: message.into(),
            location: None,
            also: Vec::new(),
            details: Vec::new(),
            hint: None,
            exit_code,
        }
    }

    pub fn at(mut self, file: PathBuf, pos: Option<Pos>) -> Self {
        self.location = Some((file, pos));
        self
    }

    /// What to do about it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// [`Diagnostic::hint`], when there is one.
    pub fn maybe_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    pub fn render(&self, color: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {}",
            paint(color, Tone::Bad.code(), "error:"),
            paint(color, Tone::Strong.code(), &self.message)
        );
        if let Some((file, pos)) = &self.location {
            write_location(&mut out, color, file, *pos);
        }
        for (label, file, pos) in &self.also {
            let _ = writeln!(out, "{}", paint(color, Tone::Dim.code(), label));
            write_location(&mut out, color, file, Some(*pos));
        }
        for detail in &self.details {
            for line in detail.lines() {
                let _ = writeln!(out, "  {} {line}", paint(color, Tone::Dim.code(), "|"));
            }
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "{} {hint}", paint(color, Tone::Accent.code(), "hint:"));
        }
        out
    }
}

/// `  --> file:line:col`, then the line itself with a caret under the column.
fn write_location(out: &mut String, color: bool, file: &std::path::Path, pos: Option<Pos>) {
    let arrow = paint(color, Tone::Accent.code(), "-->");
    let Some(pos) = pos else {
        let _ = writeln!(out, "  {arrow} {}", file.display());
        return;
    };
    let _ = writeln!(out, "  {arrow} {}:{}:{}", file.display(), pos.line, pos.col);
    // Lossy, so that the line of an invalid UTF-8 byte is still shown (the
    // byte as U+FFFD); control characters as their pictures (a NUL as ␀),
    // which a terminal shows instead of swallowing.
    let source = std::fs::read(file).ok();
    let Some(line) = source
        .as_deref()
        .map(String::from_utf8_lossy)
        .and_then(|s| s.lines().nth(pos.line.saturating_sub(1)).map(visible))
    else {
        return;
    };
    let number = pos.line.to_string();
    let gutter = " ".repeat(number.len());
    let bar = paint(color, Tone::Accent.code(), "|");
    let caret_pad: String = line
        .chars()
        .take(pos.col.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let _ = writeln!(out, "  {gutter} {bar}");
    let _ = writeln!(
        out,
        "  {} {bar} {line}",
        paint(color, Tone::Accent.code(), &number)
    );
    let _ = writeln!(
        out,
        "  {gutter} {bar} {caret_pad}{}",
        paint(color, Tone::Bad.code(), "^")
    );
}

/// `line` with each control character but a tab as its Unicode picture
/// (U+2400 and on: `␀`, `␛`), one character for one, so the caret's column
/// still holds.
fn visible(line: &str) -> String {
    line.chars()
        .map(|c| match u32::from(c) {
            0x09 => c,
            n @ 0..0x20 => char::from_u32(0x2400 + n).unwrap_or(c),
            0x7f => '\u{2421}',
            _ => c,
        })
        .collect()
}

/// Several errors from one command, in the order they happened; the last
/// decides the exit code (the others are reported before it).
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// `diagnostics` must not be empty.
    pub fn new(diagnostics: Vec<Diagnostic>) -> Self {
        debug_assert!(!diagnostics.is_empty());
        Diagnostics(diagnostics)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    pub fn exit_code(&self) -> u8 {
        self.0.last().map_or(crate::exit::FAILURE, |d| d.exit_code)
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}
