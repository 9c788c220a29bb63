//! Value objects for plain text fields, bounded by their type: what a
//! resource made by `cargo xtask scaffold` stores for `string` and `text`
//! fields, and what a hand-written one can use instead of a newtype of its
//! own when its rule is only a length.

use std::fmt;

use crate::text::{self, Lines};
use crate::validation::Violation;

/// One line of at least one non-blank character and at most `MAX`
/// characters, stored trimmed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Line<const MAX: usize>(String);

impl<const MAX: usize> Line<MAX> {
    /// # Errors
    /// A [`Violation`] (`length`) for a blank or over-long value, or
    /// [`text::CONTROL_CHARACTER`].
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        text::check(raw, Lines::Single)?;
        // Bounded as sent, so the documented `maxLength` is exactly the rule.
        let value = raw.trim();
        if value.is_empty() || raw.chars().count() > MAX {
            return Err(Violation::new(
                "length",
                format!("must be 1 to {MAX} characters"),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free text of at most `MAX` characters; line breaks and tabs allowed,
/// empty allowed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Text<const MAX: usize>(String);

impl<const MAX: usize> Text<MAX> {
    /// # Errors
    /// A [`Violation`] (`length`) past `MAX` characters, or
    /// [`text::CONTROL_CHARACTER`].
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        bounded_text(raw, 0, MAX).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Multi-line free text bounded by `max` characters; `min` 0 allows empty.
///
/// # Errors
/// A [`Violation`] (`length`, or [`text::CONTROL_CHARACTER`]).
pub fn bounded_text(raw: &str, min: usize, max: usize) -> Result<String, Violation> {
    text::check(raw, Lines::Multi)?;
    let len = raw.chars().count();
    if len < min || len > max {
        return Err(Violation::new(
            "length",
            format!("must be {min} to {max} characters"),
        ));
    }
    Ok(raw.to_owned())
}

impl<const MAX: usize> fmt::Debug for Line<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<const MAX: usize> fmt::Debug for Text<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_trimmed_non_blank_single_lines_within_their_bound() {
        assert_eq!(Line::<5>::parse(" ab ").unwrap().as_str(), "ab");
        assert_eq!(Line::<5>::parse("   ").unwrap_err().code, "length");
        assert!(Line::<5>::parse("abcde").is_ok());
        assert_eq!(Line::<5>::parse("abcdef").unwrap_err().code, "length");
        assert_eq!(
            Line::<5>::parse("a\nb").unwrap_err().code,
            text::CONTROL_CHARACTER
        );
    }

    #[test]
    fn texts_keep_line_breaks_and_allow_empty() {
        assert_eq!(Text::<5>::parse("a\nb").unwrap().as_str(), "a\nb");
        assert!(Text::<5>::parse("").is_ok());
        assert_eq!(Text::<3>::parse("éééé").unwrap_err().code, "length");
    }
}
