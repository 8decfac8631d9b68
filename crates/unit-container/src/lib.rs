//! Runs `haproxy-k8s.service`, exactly as the NixOS module renders it (the committed copies
//! under `nix/tests/unit/`), under a real systemd: a Debian 13 tree (systemd 257, HAProxy 3.0)
//! booted with `systemd-nspawn --volatile=overlay`, so the shared tree is never written.
//!
//! [`container::Container`] boots and always powers the container off (also when a test
//! panics); [`unit`] installs the rendered unit with the container's paths in place of the
//! store paths; [`netns`] runs backends and client load inside the container's network
//! namespace from this process (threads that `setns` into it).

pub mod container;
pub mod netns;
pub mod unit;

use std::path::PathBuf;
use std::sync::Mutex;

/// One container at a time: the machine has two cores, and the reload tests count failures.
static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the per-process container lock, ignoring poisoning from an earlier failed test.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The Debian 13 tree (tests/debian13-tree.sh builds it).
pub fn tree() -> PathBuf {
    std::env::var_os("HAPROXY_K8S_TRIXIE_TREE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/haproxy-k8s/trixie"))
}

/// Why the container tests cannot run here, if they cannot.
pub fn preflight() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root (systemd-nspawn needs it)".into());
    }
    for tool in ["systemd-nspawn", "nsenter"] {
        if !["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
            .iter()
            .any(|d| PathBuf::from(d).join(tool).is_file())
        {
            return Some(format!(
                "`{tool}` is not installed (apt-get install systemd-container util-linux)"
            ));
        }
    }
    let tree = tree();
    if !tree.join(".haproxy-k8s-complete").is_file() {
        return Some(format!(
            "the Debian 13 tree {} is missing (run tests/debian13-tree.sh)",
            tree.display()
        ));
    }
    None
}

/// Records a visible skip (crates/test-skip: loud, in run-all's SKIPPED summary, a failure
/// on CI, where install-deps.sh provides everything) and returns true when the container
/// tests cannot run.
pub fn skip_unless_ready(test: &str) -> bool {
    match preflight() {
        Some(why) => {
            test_skip::skip(
                &format!("unit container test `{test}`"),
                &why,
                test_skip::Cause::Fixable,
            );
            true
        }
        None => false,
    }
}
