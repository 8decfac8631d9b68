//! The generated firewall files loaded into the real `nft` and `iptables`, inside a network
//! namespace this test creates and always removes (so the host's firewall is never touched).

use std::path::Path;
use std::process::Command;

const SEED: &str = include_str!("../../../examples/seed-004.json");
const MULTI: &str = include_str!("../../../examples/multi-cluster.json");

/// A network namespace that is deleted when dropped, also when the test panics.
struct Netns(String);

impl Netns {
    fn create(tag: &str) -> Option<Netns> {
        let name = format!("hkfw-{}-{tag}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .ok()?
            .success();
        ok.then_some(Netns(name))
    }

    fn run(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.0, program])
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("ip netns exec")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

/// These tests need root and the nft/iptables/ip tools; CI has them. Elsewhere: a loud skip.
fn unavailable() -> Option<String> {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if !is_root {
        return Some("not running as root".into());
    }
    ["ip", "nft", "iptables", "ip6tables"]
        .iter()
        .find(|tool| {
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .map(|o| !o.status.success())
                .unwrap_or(true)
        })
        .map(|tool| format!("`{tool}` is not installed (tests/install-deps.sh installs it)"))
}

fn skip_if_unavailable(test: &str) -> bool {
    match unavailable() {
        Some(why) => {
            // Visible in run-all's summary; a failure on CI (install-deps.sh + root fix it).
            test_skip::skip(
                test,
                &format!("{why}; the firewall files were NOT loaded into a real firewall"),
                test_skip::Cause::Fixable,
            );
            true
        }
        None => false,
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn nft_rules_load_as_a_chain_body_like_nixos_input_allow() {
    if skip_if_unavailable("nft_rules_load_as_a_chain_body_like_nixos_input_allow") {
        return;
    }
    for (tag, json) in [("seed", SEED), ("multi", MULTI)] {
        let out = haproxy_k8s::generate(json, "services.haproxy-k8s").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let rules = write(dir.path(), "firewall.nft", &out.firewall_nft);
        // The shape of NixOS's nftables firewall: `include` inside the input-allow chain.
        let ruleset = format!(
            "table inet nixos-fw {{\n  chain input-allow {{\n    include \"{rules}\"\n  }}\n}}\n"
        );
        let ruleset = write(dir.path(), "ruleset.nft", &ruleset);
        let ns = Netns::create(tag).expect("create a network namespace");
        let load = ns.run("nft", &["-f", &ruleset], &[]);
        assert!(
            load.status.success(),
            "nft -f: {}",
            String::from_utf8_lossy(&load.stderr)
        );
        let listed = ns.run(
            "nft",
            &["list", "chain", "inet", "nixos-fw", "input-allow"],
            &[],
        );
        let listed = String::from_utf8_lossy(&listed.stdout);
        let rules = haproxy_k8s::firewall_rules(&haproxy_k8s::plan(json, "").unwrap());
        for rule in rules {
            assert!(
                listed.contains(&format!("tcp dport {} accept", rule.port)),
                "port {} missing:\n{listed}",
                rule.port
            );
        }
        if tag == "multi" {
            // Each listener opens only its own address, with its own sources.
            for rule in [
                "iifname \"vlan8\" ip daddr 192.168.8.1 tcp dport 6443 accept",
                "iifname \"vlan8\" ip daddr 192.168.9.1 ip saddr 192.168.9.0/24 tcp dport 6443 accept",
            ] {
                assert!(listed.contains(rule), "{rule} missing:\n{listed}");
            }
        }
    }
}

#[test]
fn iptables_script_runs_standalone() {
    if skip_if_unavailable("iptables_script_runs_standalone") {
        return;
    }
    // Dual-stack API listener; stats on every IPv4 address.
    let json = r#"{"bindAddress": "::", "controlPlaneNodes": [{"name": "a", "address": "10.0.0.1"}],
                   "stats": {"bindAddress": "*"}}"#;
    let (v4, v6) = load_iptables("dual", json);
    assert!(
        v4.contains("-A INPUT -p tcp -m tcp --dport 6443 -j ACCEPT"),
        "{v4}"
    );
    assert!(
        v6.contains("-A INPUT -p tcp -m tcp --dport 6443 -j ACCEPT"),
        "{v6}"
    );
    assert!(
        v4.contains("-A INPUT -s 192.168.0.0/16 -p tcp -m tcp --dport 8404 -j ACCEPT"),
        "{v4}"
    );
    assert!(
        v6.contains("-A INPUT -s fc00::/7 -p tcp -m tcp --dport 8404 -j ACCEPT"),
        "{v6}"
    );
    assert!(!v6.contains("192.168.0.0/16"), "{v6}");
    // Seed 004 binds one IPv4 address: IPv4 rules for that destination only.
    let (v4, v6) = load_iptables("seed", SEED);
    assert!(
        v4.contains("-A INPUT -d 192.168.8.1/32 -p tcp -m tcp --dport 6443 -j ACCEPT"),
        "{v4}"
    );
    assert!(
        v4.contains(
            "-A INPUT -s 10.0.0.0/8 -d 192.168.8.1/32 -p tcp -m tcp --dport 8404 -j ACCEPT"
        ),
        "{v4}"
    );
    assert!(!v6.contains("--dport"), "{v6}");
}

/// Runs the generated script in a fresh namespace against INPUT; returns `iptables -S` and
/// `ip6tables -S` of that chain.
fn load_iptables(tag: &str, json: &str) -> (String, String) {
    let out = haproxy_k8s::generate(json, "").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = write(dir.path(), "firewall.iptables", &out.firewall_iptables);
    let ns = Netns::create(tag).expect("create a network namespace");
    let env = [
        ("HAPROXY_K8S_FW_CHAIN", "INPUT"),
        ("HAPROXY_K8S_FW_TARGET", "ACCEPT"),
    ];
    let run = ns.run("sh", &["-e", &script], &env);
    assert!(
        run.status.success(),
        "sh firewall.iptables: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let list = |tool: &str| {
        String::from_utf8_lossy(&ns.run(tool, &["-S", "INPUT"], &[]).stdout).into_owned()
    };
    (list("iptables"), list("ip6tables"))
}
