//! Variable interpolation with the exact semantics of compose-go v2's `template` package.
//!
//! Compose files are shared between docker compose and devrig, so a value must expand to
//! the same string in both, including in odd corners. compose-go does not implement a
//! shell-like grammar: it runs one regular expression over the input and post-processes
//! each match, and several of its quirks are observable. This module reproduces that
//! algorithm step for step (without a regex engine) rather than a "clean" grammar:
//!
//! * A name is `[_A-Za-z][_A-Za-z0-9]*`. Go's case-insensitive matching also folds the
//!   KELVIN SIGN (U+212A) and LATIN SMALL LETTER LONG S (U+017F) into `k` and `s`, so
//!   those two characters are name characters as well.
//! * `$$` is a literal `$`. A `$` not followed by `$`, `{` or a name start is literal.
//! * `${NAME<op>...}` with `<op>` one of `:-` `-` `:+` `+` `:?` `?` first extends to the
//!   *last* `}` on the same line, then is cut at the first balancing `}`. Whatever follows
//!   the cut is substituted as a separate template, which only shows in the text of an
//!   invalid-template error.
//! * The brace balancing skips the character right after every `{`, so `{}` inside a
//!   default does not close anything.
//! * The argument of an operator (default, replacement or error message) is always
//!   substituted, even when it ends up unused, so unset variables inside it are reported.
//! * `${` that does not start a valid braced expression (`${}`, `${1}`, `${A:}`, an
//!   operator without a `}` on its line, ...) is an invalid template.

use std::ops::Range;

/// How deep operator arguments may nest (`${A:-${B:-${C:-...}}}`) before we give up.
///
/// compose-go has no limit (Go stacks grow), but an unbounded recursion here would let a
/// hostile file overflow our stack. Real files nest a handful of levels at most.
const MAX_NESTING: usize = 256;

/// The result of interpolating one string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interpolated {
    /// The string with every expression replaced.
    pub value: String,
    /// Variables referenced without a default that were unset, in the order compose would
    /// warn about them, one entry per occurrence (compose prints "The \"X\" variable is not
    /// set. Defaulting to a blank string." for each).
    ///
    /// This includes references inside operator arguments that were not used in the end
    /// (`${SET:-$UNSET}` still reports `UNSET`), because compose expands those eagerly.
    pub unset: Vec<String>,
}

/// Why a string could not be interpolated.
///
/// The `Display` text matches compose-go's error text, so messages read the same as docker
/// compose's; `offset` is extra context compose does not give.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum InterpolateError {
    /// `${NAME:?message}` or `${NAME?message}` found the variable missing (or empty).
    #[error("required variable {name} is missing a value{}", reason_suffix(.message))]
    MissingRequired {
        /// The variable name.
        name: String,
        /// The user's message, already interpolated; empty when none was given.
        message: String,
        /// Byte offset in the input of the `$` starting the expression.
        offset: usize,
    },
    /// A `${` that does not start a valid expression.
    #[error("Invalid template: {}", go_quote(.template))]
    InvalidTemplate {
        /// The text compose reports: the string being substituted when the bad `${` was met.
        /// That is the whole input, or for nested expressions the operator argument or the
        /// tail after a braced expression, because compose substitutes those separately.
        template: String,
        /// Byte offset in the input of the offending `${`.
        offset: usize,
    },
    /// Operator arguments nest deeper than we are willing to recurse.
    #[error("variable expressions nested more than {MAX_NESTING} levels deep")]
    NestingTooDeep {
        /// Byte offset in the input of the expression that went one level too deep.
        offset: usize,
    },
}

impl InterpolateError {
    /// Byte offset within the interpolated input where the offending expression starts.
    #[must_use]
    pub fn offset(&self) -> usize {
        match self {
            Self::MissingRequired { offset, .. }
            | Self::InvalidTemplate { offset, .. }
            | Self::NestingTooDeep { offset } => *offset,
        }
    }
}

fn reason_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// Interpolates `input` the way docker compose does.
///
/// One variable lookup: process env first, then .env — the caller decides. `lookup`
/// returns `None` for an unset variable and `Some("")` for a set-but-empty one; compose
/// distinguishes the two (`${X-default}` vs `${X:-default}`).
///
/// # Errors
///
/// Fails like compose does on a required variable that is missing (`${X:?message}`) and on
/// a `${` that does not start a valid expression, and additionally when operator
/// arguments nest more than 256 levels deep.
pub fn interpolate(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, InterpolateError> {
    let mut interpolator = Interpolator {
        lookup,
        unset: Vec::new(),
    };
    let value = interpolator.substitute(input, 0, 0)?;
    Ok(Interpolated {
        value,
        unset: interpolator.unset,
    })
}

/// A substitution operator: the part between the name and the argument in `${NAME<op>arg}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    /// `:-` — argument when unset or empty.
    DefaultIfUnsetOrEmpty,
    /// `-` — argument when unset.
    DefaultIfUnset,
    /// `:+` — argument when set and non-empty, else the (empty) value.
    AlternativeIfNonEmpty,
    /// `+` — argument when set, else empty.
    AlternativeIfSet,
    /// `:?` — error with the argument as message when unset or empty.
    RequiredNonEmpty,
    /// `?` — error with the argument as message when unset.
    Required,
}

impl Operator {
    /// Recognises an operator at the start of `s`, returning it and its length in bytes.
    fn parse(s: &str) -> Option<(Self, usize)> {
        let bytes = s.as_bytes();
        let (colon, symbol) = match bytes {
            [b':', symbol, ..] => (true, *symbol),
            [symbol, ..] => (false, *symbol),
            [] => return None,
        };
        let op = match (colon, symbol) {
            (true, b'-') => Self::DefaultIfUnsetOrEmpty,
            (false, b'-') => Self::DefaultIfUnset,
            (true, b'+') => Self::AlternativeIfNonEmpty,
            (false, b'+') => Self::AlternativeIfSet,
            (true, b'?') => Self::RequiredNonEmpty,
            (false, b'?') => Self::Required,
            _ => return None,
        };
        Some((op, if colon { 2 } else { 1 }))
    }
}

/// What compose's pattern matched at a `$`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr<'t> {
    /// `$$`.
    Escaped,
    /// `$NAME`.
    Named(&'t str),
    /// `${NAME}`.
    Braced(&'t str),
    /// `${NAME<op>arg}`; `arg` and `tail` are byte ranges within the matched text.
    WithOperator {
        name: &'t str,
        op: Operator,
        arg: Range<usize>,
        tail: Range<usize>,
    },
    /// `${` not followed by a valid braced expression.
    Invalid,
}

/// Whether `c` may start a name. See the module docs for the two non-ASCII characters.
fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic() || c == '\u{212A}' || c == '\u{17F}'
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit()
}

/// Length in bytes of the name at the start of `s` (0 if there is none).
fn name_len(s: &str) -> usize {
    match s.chars().next() {
        Some(c) if is_name_start(c) => s
            .char_indices()
            .find(|&(_, c)| !is_name_char(c))
            .map_or(s.len(), |(i, _)| i),
        _ => 0,
    }
}

/// Matches compose's pattern at the start of `s`, which begins with `$`.
///
/// Returns the expression and the number of bytes it covers, or `None` when this `$` is
/// just a literal character.
fn match_expr(s: &str) -> Option<(Expr<'_>, usize)> {
    let after_dollar = s.get(1..)?;
    if after_dollar.starts_with('$') {
        return Some((Expr::Escaped, 2));
    }
    let len = name_len(after_dollar);
    if len > 0 {
        return Some((Expr::Named(&after_dollar[..len]), 1 + len));
    }
    let body = after_dollar.strip_prefix('{')?;
    Some(match_braced(s, body).unwrap_or((Expr::Invalid, 2)))
}

/// Matches the part of `${...}` after the `{` (`body`); `s` is the text from the `$` on.
fn match_braced<'t>(s: &'t str, body: &'t str) -> Option<(Expr<'t>, usize)> {
    const BODY_START: usize = 2; // "${"
    let len = name_len(body);
    if len == 0 {
        return None;
    }
    let name = &body[..len];
    let after_name = &body[len..];
    if after_name.starts_with('}') {
        return Some((Expr::Braced(name), BODY_START + len + 1));
    }
    let (op, op_len) = Operator::parse(after_name)?;
    // The argument is `.*}` in the regex: greedy and unable to cross a newline, so the
    // expression runs to the last `}` on this line.
    let arg_start = BODY_START + len + op_len;
    let rest_of_line = s[arg_start..].split('\n').next().unwrap_or_default();
    let close = arg_start + rest_of_line.rfind('}')?;
    let matched = &s[..=close];
    // compose then cuts the match at the first balancing `}` and treats the remainder as a
    // separate template.
    let (arg_end, tail_start) = match first_balanced_close(matched) {
        Some(cut) => (cut, cut + 1),
        None => (close, close + 1),
    };
    Some((
        Expr::WithOperator {
            name,
            op,
            arg: arg_start..arg_end,
            tail: tail_start..close + 1,
        },
        close + 1,
    ))
}

/// Index of the `}` that balances the braces opened so far, compose-go style.
///
/// compose-go skips the byte following each `{` (so `{}` never closes) and lets the depth
/// go negative; both are mirrored because they decide where a default ends. Only ASCII
/// bytes are compared and only the index of a `}` is returned, so the result is always a
/// valid char boundary.
fn first_balanced_close(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth: isize = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            b'{' => {
                depth += 1;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

struct Interpolator<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    unset: Vec<String>,
}

impl Interpolator<'_> {
    /// Substitutes every expression in `template`, which starts at byte `base` of the
    /// original input; `depth` counts enclosing operator arguments.
    fn substitute(
        &mut self,
        template: &str,
        base: usize,
        depth: usize,
    ) -> Result<String, InterpolateError> {
        let mut out = String::with_capacity(template.len());
        let mut pos = 0;
        // The ranges of `template` that compose would be substituting as separate templates
        // at `pos`: the whole template, then the tails after applied operator expressions.
        // compose recurses into each tail; tracking them here instead keeps long lines of
        // expressions from recursing once per expression.
        let mut scopes: Vec<Range<usize>> = Vec::new();
        scopes.push(0..template.len());
        while let Some(scope) = scopes.last().cloned() {
            if pos >= scope.end {
                scopes.pop();
                continue;
            }
            let Some(found) = template[pos..scope.end].find('$') else {
                out.push_str(&template[pos..scope.end]);
                pos = scope.end;
                continue;
            };
            let start = pos + found;
            out.push_str(&template[pos..start]);
            let Some((expr, len)) = match_expr(&template[start..scope.end]) else {
                out.push('$');
                pos = start + 1;
                continue;
            };
            let offset = base + start;
            match expr {
                Expr::Escaped => out.push('$'),
                Expr::Named(name) | Expr::Braced(name) => out.push_str(&self.lookup_or_warn(name)),
                Expr::WithOperator {
                    name,
                    op,
                    arg,
                    tail,
                } => {
                    if depth >= MAX_NESTING {
                        return Err(InterpolateError::NestingTooDeep { offset });
                    }
                    let arg = self.substitute(
                        &template[start + arg.start..start + arg.end],
                        offset + arg.start,
                        depth + 1,
                    )?;
                    out.push_str(&self.apply(name, op, arg, offset)?);
                    if !tail.is_empty() {
                        scopes.push(start + tail.start..start + tail.end);
                        pos = start + tail.start;
                        continue;
                    }
                }
                Expr::Invalid => {
                    return Err(InterpolateError::InvalidTemplate {
                        template: template[scope].to_owned(),
                        offset,
                    });
                }
            }
            pos = start + len;
        }
        Ok(out)
    }

    /// Evaluates `${name<op>arg}` with `arg` already substituted.
    fn apply(
        &self,
        name: &str,
        op: Operator,
        arg: String,
        offset: usize,
    ) -> Result<String, InterpolateError> {
        let value = (self.lookup)(name);
        let required = |value: Option<String>| {
            value.ok_or_else(|| InterpolateError::MissingRequired {
                name: name.to_owned(),
                message: arg.clone(),
                offset,
            })
        };
        match op {
            Operator::DefaultIfUnsetOrEmpty => Ok(value.filter(|v| !v.is_empty()).unwrap_or(arg)),
            Operator::DefaultIfUnset => Ok(value.unwrap_or(arg)),
            Operator::AlternativeIfNonEmpty => Ok(match value {
                Some(v) if !v.is_empty() => arg,
                other => other.unwrap_or_default(),
            }),
            Operator::AlternativeIfSet => Ok(value.map(|_| arg).unwrap_or_default()),
            Operator::RequiredNonEmpty => required(value.filter(|v| !v.is_empty())),
            Operator::Required => required(value),
        }
    }

    /// Looks a plain reference up, remembering it when unset so the caller can warn.
    fn lookup_or_warn(&mut self, name: &str) -> String {
        (self.lookup)(name).unwrap_or_else(|| {
            self.unset.push(name.to_owned());
            String::new()
        })
    }
}

/// Quotes `s` like Go's `strconv.Quote` (what compose's `%#v` / `%q` print), so error
/// messages are byte-for-byte compose's.
///
/// Go escapes characters that `unicode.IsPrint` rejects. We approximate that with the
/// standard library: control characters, whitespace other than U+0020, the common format
/// characters and private-use characters are escaped; unassigned code points are not.
pub(crate) fn go_quote(s: &str) -> String {
    use std::fmt::Write as _;

    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            // Writing to a String cannot fail.
            c if u32::from(c) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if u32::from(c) < 0x1_0000 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// Approximates Go's `unicode.IsPrint` (letters, marks, numbers, punctuation, symbols and
/// U+0020).
fn is_go_printable(c: char) -> bool {
    let format_or_private = matches!(
        c,
        '\u{AD}'
            | '\u{600}'..='\u{605}'
            | '\u{61C}'
            | '\u{6DD}'
            | '\u{70F}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E000}'..='\u{F8FF}'
            | '\u{F0000}'..='\u{10FFFF}'
    );
    c == ' ' || !(c.is_control() || c.is_whitespace() || format_or_private)
}

#[cfg(test)]
mod tests {
    //! Every expected value, unset list and error text below was checked against docker
    //! compose 2.40.3 (compose-go v2.9.1) by running the case through
    //! `docker-compose config --format json` with the variables set in its environment.
    //! Byte offsets and `NestingTooDeep` are devrig's own additions and are not compose's.

    use super::*;

    fn run(template: &str, env: &[(&str, &str)]) -> Result<Interpolated, InterpolateError> {
        let lookup = |name: &str| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        };
        interpolate(template, &lookup)
    }

    #[track_caller]
    fn assert_ok(template: &str, env: &[(&str, &str)], expected: &str) {
        let result = run(template, env).expect("interpolation should succeed");
        assert_eq!(result.value, expected, "value of {template:?}");
    }

    #[track_caller]
    fn assert_unset(template: &str, env: &[(&str, &str)], expected: &[&str]) {
        let result = run(template, env).expect("interpolation should succeed");
        assert_eq!(result.unset, expected, "unset variables of {template:?}");
    }

    #[track_caller]
    fn assert_required(
        template: &str,
        env: &[(&str, &str)],
        name: &str,
        message: &str,
        offset: usize,
    ) {
        let expected = InterpolateError::MissingRequired {
            name: name.to_owned(),
            message: message.to_owned(),
            offset,
        };
        assert_eq!(run(template, env), Err(expected), "error of {template:?}");
    }

    #[track_caller]
    fn assert_invalid(template: &str, env: &[(&str, &str)], reported: &str, offset: usize) {
        let expected = InterpolateError::InvalidTemplate {
            template: reported.to_owned(),
            offset,
        };
        assert_eq!(run(template, env), Err(expected), "error of {template:?}");
    }

    // --- plain references -------------------------------------------------------------

    #[test]
    fn text_without_dollar_is_unchanged() {
        assert_ok("foo bar", &[], "foo bar");
        assert_ok("", &[], "");
    }

    #[test]
    fn named_reference() {
        assert_ok("This $FOO var", &[("FOO", "first")], "This first var");
    }

    #[test]
    fn braced_reference() {
        assert_ok("This ${FOO} var", &[("FOO", "first")], "This first var");
    }

    #[test]
    fn named_reference_stops_at_first_non_name_character() {
        assert_ok("$FOO-bar", &[("FOO", "first")], "first-bar");
        assert_ok("$A-b $A_b ${A}b", &[], "-b  b");
        assert_unset("$A-b $A_b ${A}b", &[], &["A", "A_b", "A"]);
    }

    #[test]
    fn names_allow_lowercase_underscores_and_digits_after_the_first_character() {
        let env = [("_", "u"), ("_1", "u1"), ("a", "lower"), ("A1B", "x")];
        assert_ok("${_} ${_1} $_ $a ${a} ${A1B}", &env, "u u1 u lower lower x");
    }

    #[test]
    fn adjacent_references() {
        let env = [("A", "1"), ("B", "2")];
        assert_ok("$A$B$C", &env, "12");
        assert_ok("${A}${B}", &env, "12");
    }

    #[test]
    fn unset_reference_is_blank_and_reported_per_occurrence() {
        assert_ok("${X} ${X} $Y", &[], "  ");
        assert_unset("${X} ${X} $Y", &[], &["X", "X", "Y"]);
    }

    #[test]
    fn empty_variable_is_not_reported_as_unset() {
        assert_ok("This ${BAR} var", &[("BAR", "")], "This  var");
        assert_unset("This ${BAR} var", &[("BAR", "")], &[]);
    }

    #[test]
    fn looked_up_values_are_not_interpolated_again() {
        assert_ok("$A", &[("A", "${B}$$")], "${B}$$");
    }

    #[test]
    fn non_ascii_text_passes_through() {
        assert_ok("é$é€😀$A😀", &[("A", "ä")], "é$é€😀ä😀");
        assert_ok("${AB-é€😀}", &[], "é€😀");
    }

    #[test]
    fn kelvin_sign_and_long_s_are_name_characters() {
        // Go's case-insensitive `[a-z]` folds U+212A to `k` and U+017F to `s`.
        let env = [("\u{17F}", "long-s"), ("\u{212A}", "kelvin")];
        assert_ok("$\u{17F}$\u{212A}", &env, "long-skelvin");
        assert_unset(
            "$\u{212A} $\u{17F} ${\u{212A}} ${\u{17F}:-x}",
            &[],
            &["\u{212A}", "\u{17F}", "\u{212A}"],
        );
    }

    // --- literal dollars ----------------------------------------------------------------

    #[test]
    fn double_dollar_is_a_literal_dollar() {
        assert_ok("$${foo}", &[], "${foo}");
        assert_ok("$${A} $$$A $$$$B", &[("A", "a")], "${A} $a $$B");
    }

    #[test]
    fn dollar_not_starting_an_expression_is_literal() {
        for template in ["a $ string", "^REGEX$", "$}", "$", "a$", "$ {A}"] {
            assert_ok(template, &[], template);
        }
    }

    #[test]
    fn dollar_before_digit_punctuation_or_non_ascii_is_literal() {
        assert_ok("$1 $- $@ $é", &[], "$1 $- $@ $é");
    }

    // --- operators ----------------------------------------------------------------------

    #[test]
    fn colon_dash_defaults_when_unset_or_empty() {
        assert_ok("ok ${A:-def}", &[], "ok def");
        assert_ok("ok ${A:-def}", &[("A", "")], "ok def");
        assert_ok("ok ${A:-def}", &[("A", "first")], "ok first");
    }

    #[test]
    fn dash_defaults_only_when_unset() {
        assert_ok("ok ${A-def}", &[], "ok def");
        assert_ok("ok ${A-def}", &[("A", "")], "ok ");
        assert_ok("ok ${A-def}", &[("A", "first")], "ok first");
    }

    #[test]
    fn colon_plus_replaces_when_set_and_non_empty() {
        assert_ok("ok ${A:+alt}", &[], "ok ");
        assert_ok("ok ${A:+alt}", &[("A", "")], "ok ");
        assert_ok("ok ${A:+alt}", &[("A", "first")], "ok alt");
    }

    #[test]
    fn plus_replaces_when_set() {
        assert_ok("ok ${A+alt}", &[], "ok ");
        assert_ok("ok ${A+alt}", &[("A", "")], "ok alt");
        assert_ok("ok ${A+alt}", &[("A", "first")], "ok alt");
    }

    #[test]
    fn operators_do_not_report_their_own_variable_as_unset() {
        assert_unset("${A:-x}${A-x}${A:+x}${A+x}", &[], &[]);
    }

    #[test]
    fn empty_arguments() {
        assert_ok("${A:-}", &[], "");
        assert_ok("${A-}", &[], "");
        assert_ok("${A:+}", &[("A", "v")], "");
    }

    #[test]
    fn argument_may_contain_operator_characters() {
        assert_ok(
            "ok ${BAR:-/non:-alphanumeric}",
            &[("BAR", "")],
            "ok /non:-alphanumeric",
        );
        assert_ok("${A:-x:?y}", &[], "x:?y");
        assert_ok("${A:--x}", &[], "-x");
        assert_ok("${A---}", &[], "--");
        assert_ok("${A-?}", &[], "?");
    }

    #[test]
    fn argument_keeps_quotes_spaces_and_tabs() {
        assert_ok("${A:-\"quoted\" 'x'}", &[], "\"quoted\" 'x'");
        assert_ok("${A-b\tc}", &[], "b\tc");
    }

    // --- nesting and brace matching -----------------------------------------------------

    #[test]
    fn nested_defaults() {
        assert_ok("x ${A:-${B:-${C:-deep}}} y", &[], "x deep y");
        assert_ok(
            "ok ${U-${FOO} ${FOO}}",
            &[("FOO", "first")],
            "ok first first",
        );
        assert_ok(
            "ok ${BAR+$FOO ${FOO:+second}}",
            &[("BAR", ""), ("FOO", "first")],
            "ok first second",
        );
    }

    #[test]
    fn unset_inside_a_used_argument_is_reported() {
        let env = [("A", "a"), ("B", "b")];
        assert_ok("${A:+${B} ${C}}", &env, "b ");
        assert_unset("${A:+${B} ${C}}", &env, &["C"]);
    }

    #[test]
    fn arguments_are_expanded_even_when_unused() {
        // compose expands the default before looking at the variable.
        assert_ok("${A:-$Z}", &[("A", "a")], "a");
        assert_unset("${A:-$Z}", &[("A", "a")], &["Z"]);
        assert_unset("${B:+$W}", &[], &["W"]);
    }

    #[test]
    fn escapes_inside_arguments() {
        assert_ok("${A:-a$$b}", &[], "a$b");
        assert_ok("${A-$$}", &[], "$");
        assert_ok("${A-$}", &[], "$");
    }

    #[test]
    fn several_expressions_on_one_line() {
        assert_ok("${A:-a} ${B:-b} ${C}", &[], "a b ");
        assert_unset("${A:-a} ${B:-b} ${C}", &[], &["C"]);
        assert_ok("${A-1}${B-2}", &[], "12");
        assert_ok(
            "line1\n${A:-x} ${B:-y}\nline3 $C",
            &[("C", "c")],
            "line1\nx y\nline3 c",
        );
    }

    #[test]
    fn closing_braces_after_an_expression_are_literal() {
        assert_ok("${A:-x}}", &[], "x}");
        assert_ok("${A}}", &[], "}");
        assert_ok("${A-x}}}", &[("A", "a")], "a}}");
        assert_ok("${A:-}}}", &[], "}}");
        assert_ok("${A:-x}\n}", &[], "x\n}");
    }

    #[test]
    fn braces_inside_defaults() {
        assert_ok("${A:-{}}", &[], "{}");
        assert_ok("${A:-{}", &[], "{");
        assert_ok("${A:-{{x}}}", &[], "{{x}}");
    }

    #[test]
    fn long_line_of_expressions_does_not_recurse() {
        let template = "${A:-x}".repeat(20_000);
        assert_ok(&template, &[], &"x".repeat(20_000));
    }

    #[test]
    fn nesting_limit_is_an_error_not_a_stack_overflow() {
        let nest = |levels: usize| format!("{}x{}", "${A:-".repeat(levels), "}".repeat(levels));
        assert_ok(&nest(MAX_NESTING), &[], "x");
        let err = run(&nest(MAX_NESTING + 1), &[]).unwrap_err();
        assert_eq!(
            err,
            InterpolateError::NestingTooDeep {
                offset: 5 * MAX_NESTING
            }
        );
    }

    // --- required variables -------------------------------------------------------------

    #[test]
    fn required_variable_missing() {
        let template = "not ok ${UNSET_VAR:?Mandatory Variable Unset}";
        assert_required(template, &[], "UNSET_VAR", "Mandatory Variable Unset", 7);
        assert_eq!(
            run(template, &[]).unwrap_err().to_string(),
            "required variable UNSET_VAR is missing a value: Mandatory Variable Unset"
        );
        assert_required("${A?x}", &[], "A", "x", 0);
    }

    #[test]
    fn colon_question_rejects_empty_but_question_accepts_it() {
        assert_required("${A:?x}", &[("A", "")], "A", "x", 0);
        assert_ok("ok ${A?err}", &[("A", "")], "ok ");
        assert_ok("ok ${A:?err} ${A?err}", &[("A", "first")], "ok first first");
    }

    #[test]
    fn required_without_message() {
        assert_required("${A:?}", &[], "A", "", 0);
        assert_required("${A?}", &[], "A", "", 0);
        assert_eq!(
            run("${A:?}", &[]).unwrap_err().to_string(),
            "required variable A is missing a value"
        );
    }

    #[test]
    fn required_message_is_interpolated() {
        assert_required("${A:?need $U!}", &[], "A", "need !", 0);
        assert_required(
            "x ${A?Mandatory ${FOO}}",
            &[("FOO", "first")],
            "A",
            "Mandatory first",
            2,
        );
        assert_required("${A?x:-y}", &[], "A", "x:-y", 0);
    }

    #[test]
    fn error_inside_the_message_wins() {
        assert_required("${A:?${B:?inner}}", &[], "B", "inner", 5);
    }

    #[test]
    fn required_inside_an_unused_default_still_fails() {
        assert_required("${A:-${B:?no}}", &[("A", "a")], "B", "no", 5);
        assert_required("${A:+${B:?x}}", &[], "B", "x", 5);
    }

    #[test]
    fn required_in_the_tail_of_an_expression() {
        assert_required("${A:-x} ${B:?boom} ${", &[], "B", "boom", 8);
    }

    // --- invalid templates ----------------------------------------------------------------

    #[test]
    fn invalid_braced_forms_report_the_whole_input() {
        let invalid = [
            "${", "${}", "${ }", "${ foo}", "${foo }", "${foo!}", "${A:}", "${A:x}", "${A::-x}",
            "${1}", "${é}",
        ];
        for template in invalid {
            assert_invalid(template, &[], template, 0);
        }
    }

    #[test]
    fn invalid_offset_points_at_the_bad_expression() {
        assert_invalid("ok ${A} ${", &[("A", "a")], "ok ${A} ${", 8);
        assert_invalid("pre ${A:-x} ${B", &[], "pre ${A:-x} ${B", 12);
    }

    #[test]
    fn operator_without_closing_brace_on_its_line_is_invalid() {
        assert_invalid("${A:-x\n}", &[], "${A:-x\n}", 0);
        assert_invalid("${A:-x\ny}", &[], "${A:-x\ny}", 0);
    }

    #[test]
    fn invalid_in_tail_reports_only_the_tail() {
        assert_invalid("${A:-x} ${ }", &[], " ${ }", 8);
        assert_invalid("${A:-x} ${B:-y} ${C:-z} ${ }", &[], " ${ }", 24);
    }

    #[test]
    fn invalid_in_default_reports_the_default() {
        assert_invalid("${A-${}}", &[], "${}", 4);
        // The default runs to the last `}` of the line, so it swallows `${B`.
        assert_invalid("${A:-{x} ${B}", &[], "{x} ${B", 9);
        assert_invalid("${A:-{x} ${B}", &[("A", "a")], "{x} ${B", 9);
    }

    #[test]
    fn brace_right_after_an_open_brace_is_skipped() {
        // compose-go's brace matcher skips the byte after `{`, so `{}` does not balance.
        assert_invalid("${A-{}} ${B}", &[], "{}} ${B", 8);
    }

    #[test]
    fn invalid_template_message_uses_go_quoting() {
        let err = run("${A:-x\n\"}\\", &[]).unwrap_err();
        assert_eq!(err.to_string(), r#"Invalid template: "${A:-x\n\"}\\""#);
        assert_eq!(err.offset(), 0);
    }

    #[test]
    fn arbitrary_input_never_panics_and_offsets_point_at_an_expression() {
        const ALPHABET: [&str; 16] = [
            "$", "$", "{", "}", ":", "-", "+", "?", "A", "_", "1", " ", "\n", "é", "😀", "\u{212A}",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = next() % 24;
            let input: String = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            let env = [("A", ""), ("_", "x")];
            if let Err(err) = run(&input, &env) {
                assert!(
                    input
                        .get(err.offset()..)
                        .is_some_and(|rest| rest.starts_with("${")),
                    "offset {} of {err:?} in {input:?}",
                    err.offset()
                );
            }
        }
    }

    #[test]
    fn go_quote_escapes_like_strconv_quote() {
        assert_eq!(
            go_quote("a\tb\u{7}\u{1b}\u{7f}é\u{200b}😀"),
            r#""a\tb\a\x1b\x7fé\u200b😀""#
        );
        assert_eq!(go_quote("\u{a0}\u{10ffff}"), r#""\u00a0\U0010ffff""#);
    }
}
