//! What validation found: errors (the option set is refused) and warnings (it builds, but the
//! user is told), each with its option path.

use crate::errors::{ErrorSink, InputErrors, OptionPath};
use crate::warning::Warning;

/// An error was recorded in the [`Report`]; the value it was about is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reported;

/// A validated value, or the mark that its error is already in the report. Checks go on after
/// a failure, so every error of an input is reported at once.
pub(crate) type Checked<T> = Result<T, Reported>;

#[derive(Debug)]
pub(crate) struct Report {
    errors: ErrorSink,
    warnings: Vec<Warning>,
}

impl Report {
    pub(crate) fn new(paths: OptionPath) -> Self {
        Self {
            errors: ErrorSink::new(paths),
            warnings: Vec::new(),
        }
    }

    pub(crate) fn paths(&self) -> &OptionPath {
        self.errors.paths()
    }

    /// Records the error of a field check and passes its value on.
    pub(crate) fn check<T>(
        &mut self,
        relative_path: &str,
        result: Result<T, String>,
    ) -> Checked<T> {
        self.errors.check(relative_path, result).ok_or(Reported)
    }

    pub(crate) fn error(&mut self, relative_path: &str, message: impl Into<String>) -> Reported {
        self.errors.push(relative_path, message);
        Reported
    }

    /// For paths already joined with the prefix (kept in the plan).
    pub(crate) fn error_at_full_path(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push_full_path(path, message);
    }

    pub(crate) fn warn(&mut self, relative_path: &str, message: impl Into<String>) {
        let warning = Warning {
            path: self.paths().join(relative_path),
            message: message.into(),
        };
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    /// The warnings, or every error when there was one.
    pub(crate) fn finish(self) -> Result<Vec<Warning>, InputErrors> {
        self.errors.finish()?;
        Ok(self.warnings)
    }
}

/// Every item checked (errors already recorded), or `Reported` if any failed.
pub(crate) fn all<T>(items: Vec<Checked<T>>) -> Checked<Vec<T>> {
    items.into_iter().collect()
}

/// An optional value: absent is fine, present must pass `check`.
pub(crate) fn optional<T>(
    report: &mut Report,
    path: &str,
    value: Option<&str>,
    check: impl FnOnce(&str) -> Result<T, String>,
) -> Checked<Option<T>> {
    value
        .map(|value| report.check(path, check(value)))
        .transpose()
}
