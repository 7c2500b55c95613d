//! The INI dialect of Python's `configparser`, which sentry-devenv uses for
//! `devenv/config.ini` (and setuptools for `setup.cfg`): `[section]`
//! headers, `key = value` or `key: value`, `#`/`;` comment lines, and
//! indented continuation lines that extend the previous value:
//!
//! ```ini
//! [venv.sentry]
//! python = 3.13.1
//! editable =
//!   .
//! ```

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ini {
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Lowercased, as configparser does.
    pub key: String,
    /// Continuation lines joined with newlines, surrounding blanks trimmed.
    pub value: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct IniError {
    pub line: usize,
    pub message: String,
}

impl Ini {
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }
}

impl Section {
    /// The entry for `key`; the last one wins, as in configparser's
    /// non-strict mode.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }
}

pub fn parse(text: &str) -> Result<Ini, IniError> {
    let mut sections: Vec<Section> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = raw.starts_with([' ', '\t']);
        if indented
            && !trimmed.is_empty()
            && let Some(entry) = sections.last_mut().and_then(|s| s.entries.last_mut())
        {
            entry.value.push('\n');
            entry.value.push_str(trimmed);
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err(IniError {
                    line,
                    message: format!("unterminated section header `{trimmed}`"),
                });
            };
            sections.push(Section {
                name: name.trim().to_owned(),
                line,
                entries: Vec::new(),
            });
            continue;
        }
        let Some(section) = sections.last_mut() else {
            return Err(IniError {
                line,
                message: "a setting before the first [section] header".to_owned(),
            });
        };
        let Some(split) = trimmed.find(['=', ':']) else {
            return Err(IniError {
                line,
                message: format!("`{trimmed}` is not a `key = value` line"),
            });
        };
        section.entries.push(Entry {
            key: trimmed[..split].trim().to_lowercase(),
            value: trimmed[split + 1..].trim().to_owned(),
            line,
        });
    }
    for section in &mut sections {
        for entry in &mut section.entries {
            entry.value = entry.value.trim().to_owned();
        }
    }
    Ok(Ini { sections })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sentry_devenv_config() {
        let ini = parse(
            "[devenv]\nminimum_version = 1.14.2\n\n[venv.sentry]\npython = 3.13.1\npath = .venv\nrequirements = requirements-dev.txt\neditable =\n  .\n# sourced by direnv\n# bins =\n\n[node]\n# comment\nversion = v22.11.0\n",
        )
        .unwrap();
        let venv = ini.section("venv.sentry").unwrap();
        assert_eq!(venv.get("python").unwrap().value, "3.13.1");
        assert_eq!(venv.get("python").unwrap().line, 5);
        assert_eq!(venv.get("editable").unwrap().value, ".");
        assert_eq!(
            ini.section("node").unwrap().get("version").unwrap().value,
            "v22.11.0"
        );
    }

    #[test]
    fn continuation_lines_join_with_newlines_and_keys_are_lowercased() {
        let ini = parse("[a]\nList: one\n  two\n\tthree\n").unwrap();
        assert_eq!(
            ini.sections[0].get("list").unwrap().value,
            "one\ntwo\nthree"
        );
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse("x = 1\n").unwrap_err().line, 1);
        assert_eq!(parse("[a]\nnovalue\n").unwrap_err().line, 2);
        assert_eq!(parse("[a\n").unwrap_err().line, 1);
    }
}
