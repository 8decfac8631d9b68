//! The generated keepalived.conf checked by the real keepalived (`keepalived -t`), inside a
//! network namespace this test creates (with the VIP's interface in it) and always removes.
//!
//! keepalived 2.2.7 (Debian 12) ends its config test by killing itself with SIGTERM whether
//! or not the file is good, and prints what it disliked: so "accepted" means it printed
//! nothing. The negative controls below show that each kind of problem is printed.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

const LB1: &str = include_str!("../../../examples/seed-001-lb1.json");
const LB2: &str = include_str!("../../../examples/seed-001-lb2.json");

/// IPv6 VIP, multicast VRRP, its own script user and curl.
const V6_MULTICAST: &str = r#"{
  "bindAddress": "::",
  "controlPlaneNodes": [{ "name": "cp1", "address": "fd00::10" }],
  "vip": { "address": "fd00::1", "prefixLength": 64, "interface": "eth0",
           "virtualRouterId": 7, "priority": 254, "checkPort": 9405 }
}"#;

/// A namespace with one veth pair named after the VIP's interface, deleted on drop.
struct Netns(String);

impl Netns {
    fn create(tag: &str, interface: &str) -> Netns {
        let name = format!("hkka-{}-{tag}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {name}");
        let ns = Netns(name);
        let setup = format!(
            "ip link add {interface} type veth peer name {interface}p && ip link set {interface} up"
        );
        let out = ns.run("sh", &["-ec", &setup]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ns
    }

    fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.0, program])
            .args(args)
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

fn unavailable() -> Option<String> {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    if !is_root {
        return Some("not running as root (a network namespace holds the VIP's interface)".into());
    }
    ["ip", "keepalived", "curl"]
        .iter()
        .find(|tool| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|tool| format!("`{tool}` is not installed (tests/install-deps.sh installs it)"))
}

fn skip_if_unavailable(test: &str) -> bool {
    match unavailable() {
        Some(why) => {
            test_skip::skip(
                test,
                &format!("{why}; keepalived.conf was NOT checked by keepalived"),
                test_skip::Cause::Fixable,
            );
            true
        }
        None => false,
    }
}

/// What `keepalived -t` printed about `config` (empty: accepted).
fn complaints(ns: &Netns, config: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepalived.conf");
    std::fs::write(&path, config).unwrap();
    let out = ns.run("keepalived", &["-t", "-f", path.to_str().unwrap()]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ended_as_expected = out.status.success() || out.status.signal() == Some(15);
    if ended_as_expected {
        said
    } else {
        format!("exit {:?}: {said}", out.status)
    }
}

fn keepalived_conf(json: &str) -> String {
    haproxy_k8s::generate(json, "")
        .unwrap()
        .keepalived_conf
        .expect("a vip gives keepalived.conf")
}

#[test]
fn keepalived_accepts_the_generated_configs() {
    if skip_if_unavailable("keepalived_accepts_the_generated_configs") {
        return;
    }
    for (tag, json, interface) in [
        ("lb1", LB1, "vlan8"),
        ("lb2", LB2, "vlan8"),
        ("v6", V6_MULTICAST, "eth0"),
    ] {
        let ns = Netns::create(tag, interface);
        let config = keepalived_conf(json);
        assert_eq!(complaints(&ns, &config), "", "{tag}:\n{config}");
    }
}

/// What NixOS's services.keepalived writes (its own global_defs, then `extraConfig`) with the
/// module's `include` of the generated file: accepted, the script user and security kept.
#[test]
fn keepalived_accepts_the_generated_file_included_the_nixos_way() {
    if skip_if_unavailable("keepalived_accepts_the_generated_file_included_the_nixos_way") {
        return;
    }
    let ns = Netns::create("nixos", "vlan8");
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("keepalived.conf");
    std::fs::write(&generated, keepalived_conf(LB1)).unwrap();
    let nixos = format!(
        "global_defs {{\n  enable_script_security\n  \n  \n}}\n\n\n\ninclude {}\n",
        generated.display()
    );
    assert_eq!(complaints(&ns, &nixos), "", "{nixos}");
    // The include is really read: a broken included file is reported.
    std::fs::write(
        &generated,
        keepalived_conf(LB1).replace("interval 1", "intervl 1"),
    )
    .unwrap();
    assert!(complaints(&ns, &nixos).contains("Unknown keyword"));
}

/// The checks above can fail: keepalived prints an unknown keyword, a missing script user
/// (which would silently drop the track script, leaving the VIP on a dead HAProxy) and a
/// missing interface.
#[test]
fn keepalived_config_test_reports_what_it_drops() {
    if skip_if_unavailable("keepalived_config_test_reports_what_it_drops") {
        return;
    }
    let ns = Netns::create("neg", "vlan8");
    let config = keepalived_conf(LB1);
    let broken = [
        (
            config.replace("    interval 1\n", "    intervl 1\n"),
            "Unknown keyword",
        ),
        (
            config.replace("script_user nobody", "script_user hk8s-no-such-user"),
            "script uid/gid",
        ),
        (config.replace("vlan8", "vlan9"), "vlan9"),
    ];
    for (text, expected) in broken {
        let said = complaints(&ns, &text);
        assert!(
            said.contains(expected),
            "{expected:?} not reported: {said:?}\n{text}"
        );
    }
}
