//! Errors that name the option they are about.

use std::fmt;

/// One problem with the input, located by its option path (`controlPlaneNodes.1.address`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// Dotted option path, already carrying the caller's prefix.
    pub path: String,
    pub message: String,
    /// Where in the JSON text, for errors found while reading it (syntax, types, unknown or
    /// repeated keys); validation errors have only their option path.
    pub location: Option<Location>,
    /// The text is not JSON at all, so no option could be read.
    pub syntax: bool,
}

/// A position in the input text, both counted from 1 (like an editor's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

impl InputError {
    /// A problem with a value, found by validation (no text position).
    pub(crate) fn at(path: String, message: impl Into<String>) -> Self {
        Self {
            path,
            message: message.into(),
            location: None,
            syntax: false,
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in one input, in the order the options appear.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InputErrors(pub Vec<InputError>);

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Builds option paths: the caller's prefix (`services.haproxy-k8s`) plus dotted segments.
#[derive(Debug, Clone)]
pub struct OptionPath {
    prefix: String,
}

impl OptionPath {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.trim_end_matches('.').to_string(),
        }
    }

    /// The full path of a relative one (`controlPlaneNodes.1.address`).
    pub fn join(&self, relative: &str) -> String {
        match (self.prefix.is_empty(), relative.is_empty()) {
            (true, _) => relative.to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}.{}", self.prefix, relative),
        }
    }
}

/// Collects errors while validation walks the whole input, so all are reported at once.
#[derive(Debug)]
pub(crate) struct ErrorSink {
    paths: OptionPath,
    errors: Vec<InputError>,
}

impl ErrorSink {
    pub(crate) fn new(paths: OptionPath) -> Self {
        Self {
            paths,
            errors: Vec::new(),
        }
    }

    pub(crate) fn paths(&self) -> &OptionPath {
        &self.paths
    }

    pub(crate) fn push(&mut self, relative_path: &str, message: impl Into<String>) {
        let path = self.paths.join(relative_path);
        self.push_full_path(&path, message);
    }

    /// For paths that were already joined with the prefix (kept in the plan). An option read
    /// in two places (the top-level `bindAddress` also serves stats) is reported once.
    pub(crate) fn push_full_path(&mut self, path: &str, message: impl Into<String>) {
        let error = InputError::at(path.to_string(), message);
        if !self.errors.contains(&error) {
            self.errors.push(error);
        }
    }

    /// Records the error of a field check and passes its value on.
    pub(crate) fn check<T>(&mut self, relative_path: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.push(relative_path, message);
                None
            }
        }
    }

    pub(crate) fn finish(self) -> Result<(), InputErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(InputErrors(self.errors))
        }
    }
}

/// The candidate closest to `unknown` (case-insensitive, at most a few edits away), for
/// "did you mean" hints.
pub(crate) fn closest<'a>(unknown: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lowered = unknown.to_ascii_lowercase();
    candidates
        .iter()
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(&lowered, &candidate.to_ascii_lowercase());
            (distance, *candidate)
        })
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 3))
        .min()
        .map(|(_, candidate)| candidate)
}
