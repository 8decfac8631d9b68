//! Shared by the integration tests: the examples and the real `haproxy -c -dW`.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "haproxies.rs"]
mod haproxies;
/// Every generated config is checked by each of these (Debian 12's 2.6 and Debian 13's 3.0).
pub use haproxies::haproxies;

/// The stats credentials the config reads from the environment.
pub const USER_VARIABLE: &str = "HAPROXY_K8S_STATS_USER";
pub const PASSWORD_VARIABLE: &str = "HAPROXY_K8S_STATS_PASSWORD";

/// Placeholders for configs that read stats credentials (the real ones come at runtime).
pub const PLACEHOLDER_CREDENTIALS: [(&str, &str); 2] = [
    (USER_VARIABLE, "check-user"),
    (PASSWORD_VARIABLE, "check-password"),
];

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

/// Runs the real `haproxy -c -dW` (warnings are fatal) of every version in [`haproxies`] and
/// returns their complaints, each naming the binary, if any rejects the config.
pub fn haproxy_rejects(config: &str) -> Option<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config).expect("write config");
    let complaints: Vec<String> = haproxies()
        .iter()
        .filter_map(|binary| {
            let output = haproxy_check(binary, &path, &PLACEHOLDER_CREDENTIALS);
            (!output.status.success()).then(|| format!("{binary} -c -dW: {}", text_of(&output)))
        })
        .collect();
    (!complaints.is_empty()).then(|| complaints.join("\n"))
}

/// `BINARY -c -dW -f PATH` with exactly the given stats credentials in its environment.
/// A missing binary fails the test: both are installed by tests/install-deps.sh.
pub fn haproxy_check(binary: &str, path: &Path, credentials: &[(&str, &str)]) -> Output {
    Command::new(binary)
        .args(["-c", "-dW", "-f"])
        .arg(path)
        .env_remove(USER_VARIABLE)
        .env_remove(PASSWORD_VARIABLE)
        .envs(credentials.iter().copied())
        .output()
        .unwrap_or_else(|error| {
            panic!("`{binary}` must be installed for these tests (tests/install-deps.sh installs it): {error}")
        })
}

/// stdout and stderr of a finished process, as text.
pub fn text_of(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
