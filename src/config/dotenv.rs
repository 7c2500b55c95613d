//! Parser for compose `.env` files, matching compose-go v2's `dotenv` package.
//!
//! docker compose reads the project `.env` (and service `env_file`s) with its own parser,
//! not a shell, so devrig must reproduce that parser's rules to see the same variables:
//!
//! * Blank lines and lines whose first non-space character is `#` are skipped.
//! * A statement is `[export ]KEY=VALUE` or `KEY: VALUE`. Keys may contain letters,
//!   digits, `_`, `.`, `-`, `[` and `]`; spaces around the key are dropped but a space
//!   inside it is an error. A line holding just `KEY` copies the variable from the lookup
//!   (or from an earlier line) if it is set.
//! * Unquoted values end at the line break or at the first ` #`, are trimmed, and are
//!   interpolated.
//! * Single-quoted values are literal, except that `\'` stands for `'`.
//! * Double-quoted values may span lines, understand `\a \b \f \n \r \t \v \\ \" \$` and
//!   `\0NNN` octal escapes, and are then interpolated.
//! * Interpolation sees the lookup first and earlier keys of the file second, so the
//!   process environment wins over the file itself.
//!
//! Whatever follows a closing quote on the same line is parsed as a further statement
//! (`A="x" B=2` sets both), and text after the last line break that has neither `=` nor
//! `:` (`KEY` at the very end of a file without a trailing newline) becomes the value of
//! the empty key. Both are compose-go quirks kept for fidelity.

use indexmap::IndexMap;

use crate::config::interpolate::{InterpolateError, go_quote, interpolate};

/// Why a `.env` file could not be parsed.
///
/// Messages follow compose-go's wording. Unlike compose, `line` is always the line the
/// problem starts on: compose reports an unterminated quote on the file's last line and
/// gives no line at all for interpolation errors.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum DotenvError {
    /// A key contains a character outside letters, digits, `_`, `.`, `-`, `[` and `]`.
    #[error(
        "line {line}: unexpected character {} in variable name {}",
        go_quote(&.character.to_string()),
        go_quote(.statement)
    )]
    UnexpectedCharacter {
        /// 1-based line of the statement.
        line: usize,
        /// The offending character.
        character: char,
        /// The statement's line, as compose quotes it.
        statement: String,
    },
    /// A key has a space in the middle (`A B=1`).
    #[error("line {line}: key cannot contain a space")]
    KeyContainsSpace {
        /// 1-based line of the statement.
        line: usize,
        /// The key as read.
        key: String,
    },
    /// A quoted value has no closing quote.
    #[error("line {line}: unterminated quoted value {value}")]
    UnterminatedQuote {
        /// 1-based line of the opening quote.
        line: usize,
        /// The rest of the line from the opening quote on.
        value: String,
    },
    /// Interpolating a value failed, e.g. on `${X:?message}` with `X` unset.
    #[error("line {line}: {error}")]
    Interpolation {
        /// 1-based line where the value starts.
        line: usize,
        /// The interpolation error; its offset is relative to the value (after escape
        /// processing for double-quoted values), not to the file.
        error: InterpolateError,
    },
}

impl DotenvError {
    /// 1-based line the problem starts on, for pointing at it in diagnostics.
    #[must_use]
    pub fn line(&self) -> usize {
        match self {
            Self::UnexpectedCharacter { line, .. }
            | Self::KeyContainsSpace { line, .. }
            | Self::UnterminatedQuote { line, .. }
            | Self::Interpolation { line, .. } => *line,
        }
    }
}

/// Parses a compose `.env` file. Values may reference earlier keys of the same file and
/// the lookup (process env).
///
/// Keys keep the order of their first appearance; a repeated key takes the last value.
/// A leading UTF-8 byte order mark is ignored, as compose does. Warnings compose would
/// print for unset variables referenced in values are not reported.
///
/// # Errors
///
/// Fails on a malformed key, a key with an inner space, an unterminated quoted value, or a
/// value whose interpolation fails (see [`DotenvError`]).
pub fn parse(
    content: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, DotenvError> {
    let src = content.strip_prefix('\u{FEFF}').unwrap_or(content);
    let mut parser = Parser {
        src,
        lookup,
        vars: IndexMap::new(),
    };
    parser.run()?;
    Ok(parser.vars)
}

struct Parser<'a> {
    src: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    vars: IndexMap<String, String>,
}

/// The key part of a statement.
struct Key<'a> {
    name: &'a str,
    /// The line was just `KEY`: inherit the value instead of reading one.
    inherited: bool,
    /// Where the value (or, when inherited, the next statement) starts.
    rest: usize,
}

impl<'a> Parser<'a> {
    fn run(&mut self) -> Result<(), DotenvError> {
        let mut pos = 0;
        while let Some(start) = self.statement_start(pos) {
            let key = self.read_key(start)?;
            if key.name.contains(' ') {
                return Err(DotenvError::KeyContainsSpace {
                    line: self.line_at(start),
                    key: key.name.to_owned(),
                });
            }
            if key.inherited {
                if let Some(value) = self.resolve(key.name) {
                    self.vars.insert(key.name.to_owned(), value);
                }
                pos = key.rest;
            } else {
                let (value, next) = self.read_value(key.rest)?;
                self.vars.insert(key.name.to_owned(), value);
                pos = next;
            }
        }
        Ok(())
    }

    /// 1-based line number of byte `pos`.
    fn line_at(&self, pos: usize) -> usize {
        self.src
            .get(..pos)
            .map_or(0, |before| before.matches('\n').count())
            + 1
    }

    /// Looks a variable up the way compose-go does while reading the file: the caller's
    /// lookup first, then keys defined earlier in the file.
    fn resolve(&self, name: &str) -> Option<String> {
        (self.lookup)(name).or_else(|| self.vars.get(name).cloned())
    }

    /// Skips whitespace and comment lines from `pos`; `None` at the end of the input.
    fn statement_start(&self, mut pos: usize) -> Option<usize> {
        loop {
            let rest = &self.src[pos..];
            let offset = rest.find(|c: char| !c.is_whitespace())?;
            pos += offset;
            if !rest[offset..].starts_with('#') {
                return Some(pos);
            }
            pos += rest[offset..].find('\n')?;
        }
    }

    fn read_key(&self, start: usize) -> Result<Key<'a>, DotenvError> {
        let src = self.src;
        let mut key_start = start;
        let statement = &src[start..];
        // `export` needs whitespace after it (Go's `\s`, which includes a line break but
        // not `\v`); anything else starting with "export" is an ordinary key.
        if let Some(after) = statement.strip_prefix("export")
            && after.starts_with(['\t', '\n', '\x0C', '\r', ' '])
        {
            key_start = src.len() - after.trim_start_matches(is_inline_space).len();
        }
        let text = &src[key_start..];
        for (i, c) in text.char_indices() {
            match c {
                c if is_inline_space(c) => {}
                '=' | ':' | '\n' => {
                    let rest_start = key_start + i + c.len_utf8();
                    let rest = &src[rest_start..];
                    return Ok(Key {
                        name: text[..i].trim_end(),
                        inherited: c == '\n',
                        rest: src.len() - rest.trim_start_matches(is_inline_space).len(),
                    });
                }
                '_' | '.' | '-' | '[' | ']' => {}
                // Go's unicode.IsLetter / IsNumber.
                c if c.is_alphabetic() || c.is_numeric() => {}
                c => {
                    return Err(DotenvError::UnexpectedCharacter {
                        line: self.line_at(start),
                        character: c,
                        statement: text.split('\n').next().unwrap_or_default().to_owned(),
                    });
                }
            }
        }
        // No separator before the end of the input: compose-go reads the whole remainder
        // as the value of the empty key.
        Ok(Key {
            name: "",
            inherited: false,
            rest: key_start,
        })
    }

    /// Reads the value starting at `start`; returns it and where parsing continues.
    fn read_value(&self, start: usize) -> Result<(String, usize), DotenvError> {
        let text = &self.src[start..];
        let line = self.line_at(start);
        let interpolation_error = |error| DotenvError::Interpolation { line, error };
        let Some(quote) = text.chars().next().filter(|c| matches!(c, '"' | '\'')) else {
            let (raw, next) = match text.find('\n') {
                Some(end) => (&text[..end], start + end + 1),
                None => (text, self.src.len()),
            };
            // An inline comment needs a space before the `#`.
            let raw = raw.split(" #").next().unwrap_or_default().trim_end();
            let value = self.expand(raw).map_err(interpolation_error)?;
            return Ok((value, next));
        };

        let mut value = String::new();
        let mut escaped = false;
        for (i, c) in text.char_indices().skip(1) {
            if c == quote {
                if escaped {
                    // `\"` or `\'`: the backslash is dropped.
                    escaped = false;
                    value.push(c);
                    continue;
                }
                let value = if quote == '"' {
                    self.expand(&expand_escapes(&value))
                        .map_err(interpolation_error)?
                } else {
                    value
                };
                return Ok((value, start + i + 1));
            }
            if escaped {
                // Other escapes are kept verbatim here and decoded by `expand_escapes`.
                escaped = false;
                value.push('\\');
                value.push(c);
            } else if c == '\\' {
                escaped = true;
            } else {
                value.push(c);
            }
        }
        Err(DotenvError::UnterminatedQuote {
            line,
            value: text.split('\n').next().unwrap_or_default().to_owned(),
        })
    }

    fn expand(&self, value: &str) -> Result<String, InterpolateError> {
        interpolate(value, &|name| self.resolve(name)).map(|result| result.value)
    }
}

/// The characters compose-go treats as spaces within a line (not `\n`).
fn is_inline_space(c: char) -> bool {
    matches!(c, '\t' | '\x0B' | '\x0C' | '\r' | ' ' | '\u{85}' | '\u{A0}')
}

/// Decodes the escapes compose-go supports in double-quoted values.
///
/// `\$` becomes `$$` so that interpolation leaves a literal `$`. `\0` followed by up to
/// three digits is an octal escape when the digits form a valid one (`\0101` is `A`);
/// otherwise compose-go keeps the text but drops the `0` (`\08` becomes `\8`). Unknown
/// escapes, including `\c`, `\x..` and `\u....`, stay as written.
fn expand_escapes(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(backslash) = rest.find('\\') {
        out.push_str(&rest[..backslash]);
        let after = &rest[backslash + 1..];
        let decoded = match after.as_bytes().first() {
            Some(b'a') => Some('\x07'),
            Some(b'b') => Some('\x08'),
            Some(b'f') => Some('\x0C'),
            Some(b'n') => Some('\n'),
            Some(b'r') => Some('\r'),
            Some(b't') => Some('\t'),
            Some(b'v') => Some('\x0B'),
            Some(b'\\') => Some('\\'),
            Some(b'"') => Some('"'),
            _ => None,
        };
        if let Some(c) = decoded {
            out.push(c);
            // The escape letter is a single ASCII byte.
            rest = &after[1..];
        } else if let Some(literal) = after.strip_prefix('$') {
            out.push_str("$$");
            rest = literal;
        } else if let Some(octal) = after.strip_prefix('0') {
            let digits_len = octal.bytes().take(3).take_while(u8::is_ascii_digit).count();
            let digits = &octal[..digits_len];
            if let Some(c) = decode_octal(digits) {
                out.push(c);
            } else {
                out.push('\\');
                out.push_str(digits);
            }
            rest = &octal[digits_len..];
        } else {
            // Not an escape (`\c` included): keep the backslash, rescan what follows.
            out.push('\\');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Decodes exactly three octal digits with a value up to 255 (`\377`), as Go's
/// `strconv.UnquoteChar` does.
fn decode_octal(digits: &str) -> Option<char> {
    if digits.len() != 3 {
        return None;
    }
    let value = u32::from_str_radix(digits, 8).ok()?;
    if value > 0xFF {
        return None;
    }
    char::from_u32(value)
}

#[cfg(test)]
mod tests {
    //! Expected maps and error texts below were checked against docker compose 2.40.3
    //! (compose-go v2.9.1) by loading each case as an `env_file` / `--env-file` and running
    //! `docker-compose config --format json`. Line numbers are devrig's (see `DotenvError`).

    use super::*;

    fn run(content: &str, env: &[(&str, &str)]) -> Result<Vec<(String, String)>, DotenvError> {
        let lookup = |name: &str| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        };
        parse(content, &lookup).map(|vars| vars.into_iter().collect())
    }

    #[track_caller]
    fn assert_vars(content: &str, env: &[(&str, &str)], expected: &[(&str, &str)]) {
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(run(content, env), Ok(expected), "parsing {content:?}");
    }

    #[track_caller]
    fn assert_error(content: &str, env: &[(&str, &str)], expected: &str) {
        let err = run(content, env).expect_err("parsing should fail");
        assert_eq!(err.to_string(), expected, "parsing {content:?}");
    }

    #[test]
    fn key_value_pairs_in_file_order() {
        assert_vars("B=two\nA=1\n", &[], &[("B", "two"), ("A", "1")]);
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        assert_vars(
            "\n# c\n  # indented\n\r\n\t\nA=1\n# last",
            &[],
            &[("A", "1")],
        );
        assert_vars("\r\n\t\t \n# only comment", &[], &[]);
    }

    #[test]
    fn export_prefix() {
        let content = "export A=1\nexport\tB=2\n  export C=3\nexportD=4\nexport=5\n";
        let expected = [
            ("A", "1"),
            ("B", "2"),
            ("C", "3"),
            ("exportD", "4"),
            ("export", "5"),
        ];
        assert_vars(content, &[], &expected);
    }

    #[test]
    fn yaml_style_colon_separator() {
        let expected = [("A", "1"), ("B", "2"), ("C", "x=y"), ("D", "1:B")];
        assert_vars("A: 1\nB:2\nC : x=y\nD=1:B\n", &[], &expected);
    }

    #[test]
    fn spaces_around_key_and_value_are_trimmed() {
        assert_vars(
            " KEY =value\nB=  v  \n",
            &[],
            &[("KEY", "value"), ("B", "v")],
        );
    }

    #[test]
    fn keys_allow_dots_dashes_brackets_and_unicode_letters() {
        let content = "A.B-c[0]=1\nárvíztűrő-TÜKÖR=ÁRVÍZ\nA\tB=tab\n";
        let expected = [
            ("A.B-c[0]", "1"),
            ("árvíztűrő-TÜKÖR", "ÁRVÍZ"),
            ("A\tB", "tab"),
        ];
        assert_vars(content, &[], &expected);
    }

    #[test]
    fn inline_comments_need_a_space_before_the_hash() {
        let content = "A=1 #c\nB=1#c\nC=1\t#c\nD=x #\nE= #foo\n";
        let expected = [
            ("A", "1"),
            ("B", "1#c"),
            ("C", "1\t#c"),
            ("D", "x"),
            ("E", "#foo"),
        ];
        assert_vars(content, &[], &expected);
    }

    #[test]
    fn unquoted_values_keep_backslashes_and_equal_signs() {
        assert_vars(
            "A=x\\ty\nB=foobar=\n",
            &[],
            &[("A", "x\\ty"), ("B", "foobar=")],
        );
    }

    #[test]
    fn crlf_line_endings() {
        assert_vars("A=x\r\nB=\"y\"\r\n", &[], &[("A", "x"), ("B", "y")]);
    }

    #[test]
    fn empty_values() {
        let expected = [("A", ""), ("B", ""), ("C", ""), ("D", "")];
        assert_vars("A=\nB=\"\"\nC=''\nD=", &[], &expected);
    }

    #[test]
    fn single_quotes_are_literal_except_escaped_quote() {
        let content = "A='$B \\n # x'\nB='it\\'s'\nC='a\"b\\\\'\n";
        let expected = [("A", "$B \\n # x"), ("B", "it's"), ("C", "a\"b\\\\")];
        assert_vars(content, &[], &expected);
    }

    #[test]
    fn double_quote_escapes() {
        assert_vars(
            r#"KEY="Z\aZ\bZ\fZ\nZ\rZ\tZ\vZ\\Z\0123Z""#,
            &[],
            &[("KEY", "Z\x07Z\x08Z\x0CZ\nZ\rZ\tZ\x0BZ\\ZSZ")],
        );
        let content = r#"A="say \"hi\""
B="a\\"
C="\\\"""#;
        assert_vars(
            content,
            &[],
            &[("A", "say \"hi\""), ("B", "a\\"), ("C", "\\\"")],
        );
    }

    #[test]
    fn octal_escapes_and_compose_dropping_the_zero_of_invalid_ones() {
        assert_vars(
            r#"A="\0|\01|\08|\0400|\0351|\0377|\0000""#,
            &[],
            &[("A", "\\|\\1|\\8|\\400|é|ÿ|\0")],
        );
    }

    #[test]
    fn unknown_escapes_are_kept() {
        assert_vars(r#"A="\c\x07\u12e4\é""#, &[], &[("A", r"\c\x07\u12e4\é")]);
    }

    #[test]
    fn quoted_values_may_span_lines() {
        let content = "A=\"line1\nline2\"\nB='x\ny'\nC=3\n";
        let expected = [("A", "line1\nline2"), ("B", "x\ny"), ("C", "3")];
        assert_vars(content, &[], &expected);
    }

    #[test]
    fn values_are_interpolated_except_in_single_quotes() {
        let content = "A=1\nB=$A\nC=\"x ${A}\"\nD='$A'\nE=${Z:-dflt}\nF=${A:+set} # $Z\n";
        let expected = [
            ("A", "1"),
            ("B", "1"),
            ("C", "x 1"),
            ("D", "$A"),
            ("E", "dflt"),
            ("F", "set"),
        ];
        assert_vars(content, &[], &expected);
    }

    #[test]
    fn escaped_dollars() {
        let content = "B=2\nA=\"\\$B ${B} $$B\"\nC=$$B\nD=\\$B\n";
        let expected = [("B", "2"), ("A", "$B 2 $B"), ("C", "$B"), ("D", "\\2")];
        assert_vars(content, &[], &expected);
    }

    #[test]
    fn lookup_wins_over_earlier_keys() {
        assert_vars("A=1\nB=$A\n", &[("A", "env")], &[("A", "1"), ("B", "env")]);
    }

    #[test]
    fn later_keys_are_not_visible() {
        assert_vars("A=$B\nB=2\n", &[], &[("A", ""), ("B", "2")]);
    }

    #[test]
    fn bare_key_inherits_when_set() {
        assert_vars("A\nB\n", &[("A", "env")], &[("A", "env")]);
        assert_vars("A=a\nA\n", &[], &[("A", "a")]);
        assert_vars("export\nA=1\n", &[], &[("A", "1")]);
    }

    #[test]
    fn text_without_separator_at_end_of_file_is_the_empty_key() {
        assert_vars("A=1\nFOO", &[("FOO", "env")], &[("A", "1"), ("", "FOO")]);
        assert_vars("export", &[], &[("", "export")]);
        assert_vars("=value\n", &[], &[("", "value")]);
    }

    #[test]
    fn text_after_a_closing_quote_is_another_statement() {
        let content = "A=\"x\" B=2\nC=\"y\"D=3\nE=\"z\"junk\nF='w'#c\n";
        let expected = [
            ("A", "x"),
            ("B", "2"),
            ("C", "y"),
            ("D", "3"),
            ("E", "z"),
            ("F", "w"),
        ];
        assert_vars(content, &[], &expected);
    }

    #[test]
    fn repeated_key_takes_the_last_value() {
        assert_vars("A=1\nB=2\nA=3\n", &[], &[("A", "3"), ("B", "2")]);
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        assert_vars("\u{FEFF}A=1\n", &[], &[("A", "1")]);
    }

    #[test]
    fn key_with_a_space_is_an_error() {
        assert_error("A=1\nB C=1\n", &[], "line 2: key cannot contain a space");
        assert_error("\n\nX Y\n", &[], "line 3: key cannot contain a space");
        assert_error("A=\"x\" y z\n", &[], "line 1: key cannot contain a space");
        assert_eq!(run("A=1\nB C=1\n", &[]).map_err(|e| e.line()), Err(2));
        assert_eq!(
            run("A=1\nB C=1\n", &[]),
            Err(DotenvError::KeyContainsSpace {
                line: 2,
                key: "B C".to_owned()
            })
        );
    }

    #[test]
    fn unexpected_character_in_key() {
        assert_error(
            "lol$wut\n",
            &[],
            r#"line 1: unexpected character "$" in variable name "lol$wut""#,
        );
        assert_error(
            "A=1\n  %!(EXTRA string)=foo",
            &[],
            r#"line 2: unexpected character "%" in variable name "%!(EXTRA string)=foo""#,
        );
    }

    #[test]
    fn unterminated_quotes() {
        assert_error(
            "A=1\nB=\"never closed\nC=3\n",
            &[],
            "line 2: unterminated quoted value \"never closed",
        );
        assert_error(
            "KEY='value\\'",
            &[],
            "line 1: unterminated quoted value 'value\\'",
        );
    }

    #[test]
    fn arbitrary_input_never_panics() {
        const ALPHABET: [&str; 18] = [
            "A", "=", ":", "\"", "'", "\\", "\n", " ", "#", "$", "{", "}", "0", "7", "export ",
            "é", "\u{a0}", "\r",
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = next() % 32;
            let content: String = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            let _ = run(&content, &[("A", "a")]);
        }
    }

    #[test]
    fn interpolation_errors_carry_the_line() {
        assert_eq!(
            run("A=1\nB=${X:?need x}\n", &[]),
            Err(DotenvError::Interpolation {
                line: 2,
                error: InterpolateError::MissingRequired {
                    name: "X".to_owned(),
                    message: "need x".to_owned(),
                    offset: 0,
                },
            })
        );
        assert_error(
            "A=1\nB=${X:?need x}\n",
            &[],
            "line 2: required variable X is missing a value: need x",
        );
        assert_error(
            "A=\"${B:-x\"\n",
            &[],
            r#"line 1: Invalid template: "${B:-x""#,
        );
    }
}
