//! Visible test skips. A test that cannot run here calls [`skip`] and returns; the skip
//!
//! - is printed loudly on the process's real stderr (past the test harness's capture),
//! - is appended as one line to the file named by `HAPROXY_K8S_SKIPS` (tests/run-all.sh sets
//!   it and prints every line in a SKIPPED summary at the end, so a skip never hides among
//!   passing tests),
//! - fails the test when `CI` is set and the cause is [`Cause::Fixable`]: on CI,
//!   tests/install-deps.sh runs first and the suite runs as root, so a missing tool or
//!   missing root there is a broken setup, not a reason to pass.

use std::io::Write;

/// The file (one line per skip) that tests/run-all.sh collects.
pub const SKIPS_ENV: &str = "HAPROXY_K8S_SKIPS";

/// Why a test cannot run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Not root, or a tool/tree that tests/install-deps.sh installs: a failure under CI.
    Fixable,
    /// Something install-deps.sh does not provide: reported, never a failure.
    Other,
}

/// True when `CI` is set to something other than empty, `0` or `false`.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// Records that `test` was skipped because `why`; panics (fails the test) on CI when
/// `cause` is [`Cause::Fixable`]. Call it, then return from the test.
pub fn skip(test: &str, why: &str, cause: Cause) {
    // std::io::stderr() directly: the harness captures only print!/eprint!.
    skip_to(&mut std::io::stderr(), test, why, cause);
}

/// [`skip`] with the loud message written to `out`.
fn skip_to(out: &mut dyn Write, test: &str, why: &str, cause: Cause) {
    let line = format!("{test}: {why}");
    let bar = "*".repeat(72);
    let _ = writeln!(out, "\n{bar}\nSKIPPED: {line}\n{bar}");
    if let Some(path) = std::env::var_os(SKIPS_ENV).filter(|p| !p.is_empty()) {
        // One write of one line with O_APPEND: lines of parallel tests do not interleave.
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
        if let Err(e) = written {
            let _ = writeln!(
                out,
                "test-skip: could not record the skip in {}: {e}",
                std::path::Path::new(&path).display()
            );
        }
    }
    if cause == Cause::Fixable && on_ci() {
        panic!(
            "{test} would be skipped on CI because {why}; tests/install-deps.sh (as root) \
             provides what it needs, so this is a failure"
        );
    }
}

/// Whether the current user is root (most network tests need CAP_NET_ADMIN/CAP_SYS_ADMIN).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_one_line_per_skip() {
        let dir = std::env::temp_dir().join(format!("test-skip-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        // Only this test touches the variables in this process.
        std::env::set_var(SKIPS_ENV, &dir);
        std::env::remove_var("CI");
        let mut out = Vec::new();
        skip_to(
            &mut out,
            "(test-skip self-test) a",
            "no root",
            Cause::Fixable,
        );
        skip_to(&mut out, "(test-skip self-test) b", "no lib", Cause::Other);
        assert!(String::from_utf8_lossy(&out).contains("SKIPPED: (test-skip self-test) a: no root"));
        let text = std::fs::read_to_string(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(
            text,
            "(test-skip self-test) a: no root\n(test-skip self-test) b: no lib\n"
        );
        std::env::set_var("CI", "true");
        let fixable = std::panic::catch_unwind(|| {
            skip_to(
                &mut Vec::new(),
                "(test-skip self-test) c",
                "no nft",
                Cause::Fixable,
            )
        });
        let other = std::panic::catch_unwind(|| {
            skip_to(
                &mut Vec::new(),
                "(test-skip self-test) d",
                "no lib",
                Cause::Other,
            )
        });
        std::env::remove_var("CI");
        let _ = std::fs::remove_file(&dir);
        assert!(fixable.is_err(), "a fixable skip must fail on CI");
        assert!(other.is_ok(), "an unfixable skip is only reported");
    }
}
