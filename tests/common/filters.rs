//! insta filters: what differs from one run to the next becomes a
//! placeholder, so output that holds timings, pids or container ids can be
//! snapshot-tested as a whole.

use super::world::Placeholder;
use std::path::Path;

/// Where every snapshot file lives, whichever test binary writes it.
pub const SNAPSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots");

/// `(regex, replacement)` for what any run may print differently.
const VOLATILE: &[(&str, &str)] = &[
    // Container ids and config hashes.
    (r"\b[0-9a-f]{64}\b", "[ID]"),
    (r"\b[0-9a-f]{12}\b", "[ID]"),
    // Timestamps of devrig's own log lines.
    (r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b", "[TIME]"),
    // Measured durations: `(1.3s)`, `in 2.6s`, `after 0.1s`, `12ms`.
    (r"\b\d+\.\d+s\b", "[DURATION]"),
    (r"\b\d+ms\b", "[DURATION]"),
    // Uptimes: the engine's `Up 2 seconds`, a program's `up 1m 3s`.
    (
        r"\bUp (About an?|Less than a|\d+) (second|minute|hour)s?\b",
        "Up [UPTIME]",
    ),
    (r"\bup \d+[smhd]( \d+[smhd])?\b", "up [UPTIME]"),
    // Pids.
    (r"\b(pid|process) \d+\b", "$1 [PID]"),
    (r#""(pid|supervisor_pid)": \d+"#, r#""$1": "[PID]""#),
];

/// The settings for one world's snapshots: its temp path, its own
/// placeholders (project names, ports), then [`VOLATILE`].
pub fn settings(root: &Path, placeholders: &[Placeholder]) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(SNAPSHOTS);
    settings.set_prepend_module_to_snapshot(false);
    settings.add_filter(&escape(&root.display().to_string()), "[TMP]");
    // Longest first: `3.11` must not eat the start of `3.11.7`.
    let mut own: Vec<&Placeholder> = placeholders.iter().collect();
    own.sort_by_key(|p| std::cmp::Reverse(p.value.len()));
    for p in own {
        if p.whole {
            // Not inside a longer number: `up-7-1` is not `up-7-12`, but
            // it is in `up-7-1_default`.
            let regex = format!(r"\b{}(\D|$)", escape(&p.value));
            settings.add_filter(&regex, format!("{}$1", p.label));
        } else {
            settings.add_filter(&escape(&p.value), p.label.as_str());
        }
    }
    for (regex, replacement) in VOLATILE {
        settings.add_filter(regex, *replacement);
    }
    settings
}

/// `text` as a regex that matches exactly it.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if r"\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
