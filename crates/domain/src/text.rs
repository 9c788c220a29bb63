//! The one rule for text that enters the system, whatever carries it (a JSON
//! body, a query parameter, a form field): every value object and every
//! free-text parameter passes through [`check`] before it is used.
//!
//! NUL is refused everywhere: PostgreSQL's `text` cannot hold it (the insert
//! fails) while SQLite stores it, so accepting it would make the two backends
//! disagree and turn bad input into a 500. Other control characters are
//! refused in single-line fields, where they only ever hide or forge what a
//! reader sees; multi-line fields keep `\n`, `\r` and `\t`.

use crate::validation::Violation;

/// The stable code of a text that holds a character its field refuses.
pub const CONTROL_CHARACTER: &str = "control_character";

/// Which control characters a field may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// Titles, names, usernames, e-mail addresses, search terms: none.
    Single,
    /// Descriptions and bodies: `\n`, `\r` and `\t` only.
    Multi,
    /// Secrets checked against stored state (a login password): NUL only,
    /// so an account whose password predates this rule can still log in.
    Secret,
}

/// # Errors
/// A [`Violation`] with code [`CONTROL_CHARACTER`] naming what was found.
pub fn check(raw: &str, lines: Lines) -> Result<(), Violation> {
    if raw.contains('\0') {
        return Err(Violation::new(
            CONTROL_CHARACTER,
            "must not contain the NUL character",
        ));
    }
    let refused = |c: char| match lines {
        Lines::Single => c.is_control(),
        Lines::Multi => c.is_control() && !matches!(c, '\n' | '\r' | '\t'),
        Lines::Secret => false,
    };
    if raw.chars().any(refused) {
        let message = match lines {
            Lines::Multi => "must not contain control characters other than line breaks and tabs",
            Lines::Single | Lines::Secret => "must not contain control characters",
        };
        return Err(Violation::new(CONTROL_CHARACTER, message));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_refused_whatever_the_field() {
        for lines in [Lines::Single, Lines::Multi, Lines::Secret] {
            let err = check("a\0b", lines).unwrap_err();
            assert_eq!(err.code, CONTROL_CHARACTER);
            assert!(err.message.contains("NUL"), "{}", err.message);
        }
    }

    #[test]
    fn single_line_fields_refuse_every_control_character() {
        for text in ["a\nb", "a\tb", "a\rb", "a\u{1b}[31m", "a\u{7f}", "a\u{85}"] {
            assert!(check(text, Lines::Single).is_err(), "{text:?}");
        }
        assert!(check("Zoë — ok 🙂", Lines::Single).is_ok());
    }

    #[test]
    fn multi_line_fields_keep_line_breaks_and_tabs_only() {
        assert!(check("line 1\r\nline 2\tend", Lines::Multi).is_ok());
        assert!(check("bell\u{7}", Lines::Multi).is_err());
        assert!(check("esc\u{1b}", Lines::Multi).is_err());
    }

    #[test]
    fn secrets_keep_every_character_but_nul() {
        assert!(check("p\tss\u{1}", Lines::Secret).is_ok());
    }
}
