//! A program's stop signal, parsed once where the config is read.
//!
//! supervisord takes a signal's name with or without `SIG`, in any case, or
//! its number; the supervisor sends it to the program's whole group. Only
//! the signals below qualify: they are the ones a program may reasonably
//! treat as "stop" (or, for `STOP`/`CONT`, that a developer may want), and
//! each has a number the kernel and rustix agree on. Compose services'
//! `stop_signal` is different: the engine parses it (real-time signals
//! included), so it stays text.

use rustix::process::Signal;
use serde::{Serialize, Serializer};
use std::fmt;

/// One signal a program can be stopped with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopSignal(Signal);

/// The accepted names, without `SIG`, and the signal each names.
const NAMES: [(&str, Signal); 12] = [
    ("HUP", Signal::HUP),
    ("INT", Signal::INT),
    ("QUIT", Signal::QUIT),
    ("ABRT", Signal::ABORT),
    ("KILL", Signal::KILL),
    ("USR1", Signal::USR1),
    ("USR2", Signal::USR2),
    ("ALRM", Signal::ALARM),
    ("TERM", Signal::TERM),
    ("CONT", Signal::CONT),
    ("STOP", Signal::STOP),
    ("WINCH", Signal::WINCH),
];

impl StopSignal {
    pub const TERM: StopSignal = StopSignal(Signal::TERM);

    /// `TERM`, `SIGTERM`, `sigterm` or `15`; `None` for anything else
    /// (including numbers of signals not in the list).
    pub fn parse(text: &str) -> Option<StopSignal> {
        let text = text.trim();
        if let Ok(number) = text.parse::<i32>() {
            return NAMES
                .iter()
                .find(|(_, signal)| signal.as_raw() == number)
                .map(|(_, signal)| StopSignal(*signal));
        }
        let upper = text.to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        NAMES
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, signal)| StopSignal(*signal))
    }

    /// The name, without `SIG`.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, signal)| *signal == self.0)
            .map_or("TERM", |(name, _)| name)
    }

    /// The number, as the supervisor's protocol carries it.
    pub fn number(self) -> i32 {
        self.0.as_raw()
    }

    /// The accepted names, for hints.
    pub fn names() -> impl Iterator<Item = &'static str> {
        NAMES.iter().map(|(name, _)| *name)
    }
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for StopSignal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_spellings() {
        assert_eq!(StopSignal::parse("TERM"), Some(StopSignal::TERM));
        assert_eq!(StopSignal::parse("sigterm"), Some(StopSignal::TERM));
        assert_eq!(StopSignal::parse("15"), Some(StopSignal::TERM));
        assert_eq!(
            StopSignal::parse("SIGINT").map(StopSignal::name),
            Some("INT")
        );
        assert_eq!(StopSignal::parse("winch").map(StopSignal::number), Some(28));
        assert_eq!(
            StopSignal::parse("Cont").map(StopSignal::name),
            Some("CONT")
        );
        assert_eq!(StopSignal::parse("9").map(StopSignal::name), Some("KILL"));
        assert_eq!(StopSignal::parse("0"), None);
        assert_eq!(
            StopSignal::parse("34"),
            None,
            "real-time signals are refused"
        );
        assert_eq!(StopSignal::parse("BOGUS"), None);
        assert_eq!(StopSignal::parse("SIG"), None);
        assert_eq!(StopSignal::parse(""), None);
    }

    #[test]
    fn every_name_round_trips() {
        for name in StopSignal::names() {
            let signal = StopSignal::parse(name).unwrap();
            assert_eq!(signal.name(), name);
            assert_eq!(
                StopSignal::parse(&signal.number().to_string()),
                Some(signal)
            );
        }
    }
}
