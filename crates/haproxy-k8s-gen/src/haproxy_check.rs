//! `--haproxy-check`: the real `haproxy -c -dW` on the generated config before anything is written.

use crate::exit;
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// Placeholders for the stats credentials the config reads from the environment at start.
/// Always these, never the caller's: the check is about the config, and the config stops
/// on a missing or empty credential (so an empty one in the caller's environment would fail
/// a valid config).
const PLACEHOLDER_ENV: [(&str, &str); 2] = [
    (haproxy_k8s::STATS_USER_VARIABLE, "check-user"),
    (haproxy_k8s::STATS_PASSWORD_VARIABLE, "check-password"),
];

/// `haproxy` is the binary to run (`--haproxy`; a bare name is looked up on PATH).
pub fn check(plan: &haproxy_k8s::Plan, haproxy: &Path) -> Result<(), u8> {
    let missing: Vec<&str> = haproxy_k8s::runtime_files(plan)
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    let nameservers = haproxy_k8s::remote_nameservers(plan);
    let config = if missing.is_empty() && nameservers.is_empty() {
        haproxy_k8s::render(plan).haproxy_cfg
    } else {
        // HAProxy loads these at parse time; where they are absent (a build sandbox), check
        // everything else and say so.
        if !missing.is_empty() {
            eprintln!(
                "haproxy-k8s-gen: note: {} not present here; haproxy -c checks the config without them (they are read when the service starts)",
                missing.join(", ")
            );
        }
        // haproxy -c would connect to them: the result would depend on this machine's routes
        // (a build sandbox has none), not on the file.
        if !nameservers.is_empty() {
            eprintln!(
                "haproxy-k8s-gen: note: haproxy -c checks the config with a loopback placeholder for the nameservers {} (they are contacted when the service starts)",
                nameservers.join(", ")
            );
        }
        haproxy_k8s::haproxy_cfg_for_offline_check(plan)
    };
    run_haproxy_check(&config, haproxy)
}

fn run_haproxy_check(config: &str, haproxy: &Path) -> Result<(), u8> {
    let mut file = tempfile::Builder::new()
        .prefix("haproxy-k8s-check.")
        .suffix(".cfg")
        .tempfile()
        .map_err(|error| {
            eprintln!("haproxy-k8s-gen: cannot create a temporary file for haproxy -c: {error}");
            exit::IO
        })?;
    file.write_all(config.as_bytes()).map_err(|error| {
        eprintln!("haproxy-k8s-gen: cannot write the temporary config: {error}");
        exit::IO
    })?;
    let output = Command::new(haproxy)
        .arg("-c")
        .arg("-dW")
        .arg("-f")
        .arg(file.path())
        .envs(PLACEHOLDER_ENV)
        .output()
        .map_err(|error| {
            eprintln!(
                "haproxy-k8s-gen: --haproxy-check cannot run `{}` (install HAProxy, or name it with --haproxy PATH): {error}",
                haproxy.display()
            );
            exit::IO
        })?;
    if output.status.success() {
        Ok(())
    } else {
        eprintln!(
            // `haproxy -c -dW rejected`: tests/nix-eval.sh looks for it in build logs.
            "haproxy-k8s-gen: {} -c -dW rejected the generated config:",
            haproxy.display()
        );
        eprint!("{}", String::from_utf8_lossy(&output.stdout));
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        Err(exit::HAPROXY_REJECTED)
    }
}
