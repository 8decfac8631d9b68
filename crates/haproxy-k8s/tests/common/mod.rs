//! Shared by the integration tests: the examples and the real `haproxy -c -dW`.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::path::PathBuf;
use std::process::Command;

pub fn example(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The config `haproxy-k8s-gen --haproxy-check` checks for this option set: the config
/// itself, or, where it reads files absent here (the Nix build sandbox has no resolv.conf) or
/// names nameservers off loopback (HAProxy connects to them while parsing; the sandbox has no
/// route), the offline variant, which differs only in those lines.
pub fn config_to_check(json: &str) -> String {
    let plan = haproxy_k8s::plan(json, "").unwrap_or_else(|e| panic!("{e}"));
    let checkable_here = haproxy_k8s::remote_nameservers(&plan).is_empty()
        && haproxy_k8s::runtime_files(&plan)
            .iter()
            .all(|file| std::path::Path::new(file).exists());
    if checkable_here {
        haproxy_k8s::render(&plan).haproxy_cfg
    } else {
        haproxy_k8s::haproxy_cfg_for_offline_check(&plan)
    }
}

/// Runs the real `haproxy -c -dW` (warnings are fatal) and returns its complaint, if any.
pub fn haproxy_rejects(config: &str) -> Option<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config).expect("write config");
    let output = Command::new("haproxy")
        .args(["-c", "-dW", "-f"])
        .arg(&path)
        .env("HAPROXY_K8S_STATS_USER", "check-user")
        .env("HAPROXY_K8S_STATS_PASSWORD", "check-password")
        .output()
        .expect("the `haproxy` binary must be installed for these tests (tests/install-deps.sh installs it)");
    (!output.status.success()).then(|| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}
