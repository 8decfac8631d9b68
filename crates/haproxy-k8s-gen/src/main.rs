//! `haproxy-k8s-gen`: the command-line face of the `haproxy-k8s` library.

mod cli;
mod haproxy_check;
mod output;
mod report;

use std::process::ExitCode;

/// Exit codes, documented in `--help` and README.md.
pub mod exit {
    pub const OK: u8 = 0;
    pub const INVALID_OPTIONS: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const IO: u8 = 3;
    pub const HAPROXY_REJECTED: u8 = 4;
}

fn main() -> ExitCode {
    ExitCode::from(cli::run())
}
