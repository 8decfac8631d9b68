//! Warnings: the option set builds, but something in it is probably not what the user wants.

use std::fmt;

/// One warning, located like an error by its full option path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Dotted option path, already carrying the caller's prefix.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}
