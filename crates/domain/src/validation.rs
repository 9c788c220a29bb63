//! Field-level validation failures, collected so a client sees every problem
//! in one answer rather than one per round trip.

use std::fmt;

/// One rule a field broke: a stable machine `code` and a human `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

/// A rule violation detected by a value object's parser, before it is
/// attached to a field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub code: &'static str,
    pub message: String,
}

impl Violation {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Violation {}

/// A non-empty list of field errors.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("validation failed on {} field(s)", .0.len())]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn single(field: &str, violation: Violation) -> Self {
        let mut errors = Self::default();
        errors.push(field, violation);
        errors
    }

    pub fn push(&mut self, field: &str, violation: Violation) {
        self.0.push(FieldError {
            field: field.to_owned(),
            code: violation.code,
            message: violation.message,
        });
    }

    /// Records `result`'s violation under `field` and passes its value on, so a
    /// constructor can parse every field and report all failures together.
    pub fn check<T>(&mut self, field: &str, result: Result<T, Violation>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(violation) => {
                self.push(field, violation);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was recorded.
    pub fn into_result(self) -> Result<(), Self> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}
