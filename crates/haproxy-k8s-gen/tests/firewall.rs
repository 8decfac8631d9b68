//! The generated firewall files loaded into the real `nft` and `iptables`, inside a network
//! namespace this test creates and always removes (so the host's firewall is never touched),
//! and probed with real TCP connections over that namespace's loopback.

use std::path::Path;
use std::process::Command;

const SEED: &str = include_str!("../../../examples/seed-004.json");
const MULTI: &str = include_str!("../../../examples/multi-cluster.json");
const DUAL: &str = include_str!("../../../examples/dual-stack.json");
const PAIR: &str = include_str!("../../../examples/seed-001-lb1.json");

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
    ["ip", "nft", "iptables", "ip6tables", "socat"]
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
    for (tag, json) in [
        ("seed", SEED),
        ("multi", MULTI),
        ("dual", DUAL),
        ("pair", PAIR),
    ] {
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
            let expected = match rule.port {
                Some(port) => format!("tcp dport {port} accept"),
                // nft names protocol 112 after /etc/protocols where it has one.
                None => "meta l4proto".to_string(),
            };
            assert!(listed.contains(&expected), "{expected} missing:\n{listed}");
        }
        if tag == "pair" {
            for rule in [
                "ip daddr 192.168.8.2 ip saddr 192.168.8.3 tcp dport 10000 accept",
                "iifname \"vlan8\" ip saddr 192.168.8.3 meta l4proto",
            ] {
                assert!(listed.contains(rule), "{rule} missing:\n{listed}");
            }
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
    // Stats on `*` is IPv4 only: its IPv6 default sources (::1, fc00::/7) open nothing.
    assert!(!v6.contains("--dport 8404"), "{v6}");
    assert!(!v6.contains("192.168.0.0/16"), "{v6}");
    // Each rule once.
    for listing in [&v4, &v6] {
        let mut lines: Vec<&str> = listing.lines().collect();
        let count = lines.len();
        lines.sort();
        lines.dedup();
        assert_eq!(lines.len(), count, "a rule is listed twice:\n{listing}");
    }
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

#[test]
fn iptables_script_opens_peers_and_vrrp_to_the_other_member_only() {
    if skip_if_unavailable("iptables_script_opens_peers_and_vrrp_to_the_other_member_only") {
        return;
    }
    let (v4, v6) = load_iptables("paiript", PAIR);
    let peers =
        "-A INPUT -s 192.168.8.3/32 -d 192.168.8.2/32 -p tcp -m tcp --dport 10000 -j ACCEPT";
    assert!(v4.contains(peers), "{peers} missing:\n{v4}");
    // iptables names protocol 112 after /etc/protocols where it has one.
    assert!(
        ["vrrp", "112"].iter().any(|p| v4.contains(&format!(
            "-A INPUT -s 192.168.8.3/32 -i vlan8 -p {p} -j ACCEPT"
        ))),
        "VRRP from 192.168.8.3 on vlan8 missing:\n{v4}"
    );
    assert_eq!(v4.matches("--dport 10000").count(), 1, "{v4}");
    assert!(!v6.contains("-j ACCEPT"), "{v6}");
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

// ---------- packets: each listener's family, destination and sources, nothing more ----------

/// Issue 8 item 2: cluster `pub` on `*`, cluster `priv` on fd00::1 for fd00:9::/64 only, both
/// on 6443, and the default stats listener (`*`:8404, loopback and private sources).
const FAMILIES: &str = r#"{"clusters": {
    "pub": {"bindAddress": "*", "controlPlaneNodes": [{"name": "a", "address": "10.0.0.1"}]},
    "priv": {"bindAddress": "fd00::1", "allowedSources": ["fd00:9::/64"],
             "controlPlaneNodes": [{"name": "b", "address": "fd00::10"}]}}}"#;

/// (source, destination, port, whether the firewall must let it through).
const PROBES: &[(&str, &str, u16, bool)] = &[
    ("10.9.9.9", "192.168.8.1", 6443, true), // pub: any IPv4 source
    ("fd00:9::5", "fd00::1", 6443, true),    // priv, from its network
    ("fd00:8::5", "fd00::1", 6443, false),   // priv, from elsewhere: its filter holds
    ("fd00:9::5", "fd00:8::5", 6443, false), // pub is IPv4 only
    ("127.0.0.1", "127.0.0.1", 8404, true),  // stats from loopback
    ("100.64.0.1", "192.168.8.1", 8404, false), // stats from a public range
    ("::1", "::1", 8404, false),             // stats on `*` is IPv4 only
    ("fd00:9::5", "fd00::1", 8404, false),   // nor any other IPv6 address
];

/// Loopback up with every probe address on it, in a fresh namespace.
fn probe_namespace(tag: &str) -> Netns {
    let ns = Netns::create(tag).expect("create a network namespace");
    let mut commands = vec!["ip link set lo up".to_string()];
    for address in ["192.168.8.1/32", "10.9.9.9/32", "100.64.0.1/32"] {
        commands.push(format!("ip addr add {address} dev lo"));
    }
    for address in ["fd00::1/128", "fd00:9::5/128", "fd00:8::5/128"] {
        commands.push(format!("ip addr add {address} dev lo nodad"));
    }
    let setup = ns.run("sh", &["-ec", &commands.join("\n")], &[]);
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    ns
}

/// Connects from `source` to `destination:port`. Nothing listens, so a SYN the firewall lets
/// through is answered by a reset ("Connection refused"), and one it stops by the final
/// reject rule's ICMP error ("No route to host" / "Permission denied"): both arrive at once,
/// no timeout decides anything (connect-timeout only bounds a broken setup).
fn passes(ns: &Netns, source: &str, destination: &str, port: u16) -> bool {
    let bracket = |ip: &str| {
        if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.to_string()
        }
    };
    let target = format!(
        "TCP:{}:{port},bind={},connect-timeout=20",
        bracket(destination),
        bracket(source)
    );
    let out = ns.run("socat", &["-u", "OPEN:/dev/null", &target], &[]);
    let said = String::from_utf8_lossy(&out.stderr);
    if said.contains("Connection refused") {
        true
    } else if said.contains("No route to host") || said.contains("Permission denied") {
        false
    } else {
        panic!("socat {source} → {destination}:{port}: unexpected answer: {said}");
    }
}

fn assert_probes(ns: &Netns, what: &str) {
    let wrong: Vec<String> = PROBES
        .iter()
        .filter(|(source, destination, port, open)| passes(ns, source, destination, *port) != *open)
        .map(|(source, destination, port, open)| {
            let verb = if *open { "blocked" } else { "let through" };
            format!("{source} → {destination}:{port} was {verb}")
        })
        .collect();
    assert!(wrong.is_empty(), "{what}: {wrong:#?}");
}

#[test]
fn nft_rules_pass_only_each_listeners_family_destination_and_sources() {
    if skip_if_unavailable("nft_rules_pass_only_each_listeners_family_destination_and_sources") {
        return;
    }
    let out = haproxy_k8s::generate(FAMILIES, "").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "firewall.nft", &out.firewall_nft);
    // Like NixOS's input chain: replies pass, then our rules, then everything else is refused.
    let ruleset = format!(
        "table inet probe {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n    \
         ct state established,related accept\n    include \"{rules}\"\n    \
         meta l4proto tcp reject with icmpx admin-prohibited\n  }}\n}}\n"
    );
    let ruleset = write(dir.path(), "ruleset.nft", &ruleset);
    let ns = probe_namespace("nftpk");
    let load = ns.run("nft", &["-f", &ruleset], &[]);
    assert!(
        load.status.success(),
        "nft -f: {}",
        String::from_utf8_lossy(&load.stderr)
    );
    assert_probes(&ns, "nftables");
}

#[test]
fn iptables_rules_pass_only_each_listeners_family_destination_and_sources() {
    if skip_if_unavailable("iptables_rules_pass_only_each_listeners_family_destination_and_sources")
    {
        return;
    }
    let out = haproxy_k8s::generate(FAMILIES, "").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = write(dir.path(), "firewall.iptables", &out.firewall_iptables);
    let ns = probe_namespace("iptpk");
    let setup = "iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n\
                 iptables -A INPUT -p tcp -j REJECT --reject-with icmp-admin-prohibited\n\
                 ip6tables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n\
                 ip6tables -A INPUT -p tcp -j REJECT --reject-with icmp6-adm-prohibited";
    let run = ns.run("sh", &["-ec", setup], &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The generated rules are inserted (-I) in front of those.
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
    assert_probes(&ns, "iptables");
}

/// The peers port lets the other member in and no one else (nftables, real TCP probes).
#[test]
fn nft_peers_port_passes_only_the_other_member() {
    if skip_if_unavailable("nft_peers_port_passes_only_the_other_member") {
        return;
    }
    let out = haproxy_k8s::generate(PAIR, "").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "firewall.nft", &out.firewall_nft);
    let ruleset = format!(
        "table inet probe {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n    \
         ct state established,related accept\n    include \"{rules}\"\n    \
         meta l4proto tcp reject with icmpx admin-prohibited\n  }}\n}}\n"
    );
    let ruleset = write(dir.path(), "ruleset.nft", &ruleset);
    let ns = Netns::create("nftpeers").expect("create a network namespace");
    let mut setup = vec!["ip link set lo up".to_string()];
    for address in ["192.168.8.1", "192.168.8.2", "192.168.8.3", "192.168.8.4"] {
        setup.push(format!("ip addr add {address}/32 dev lo"));
    }
    let run = ns.run("sh", &["-ec", &setup.join("\n")], &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let load = ns.run("nft", &["-f", &ruleset], &[]);
    assert!(
        load.status.success(),
        "nft -f: {}",
        String::from_utf8_lossy(&load.stderr)
    );
    for (source, destination, port, open) in [
        ("192.168.8.3", "192.168.8.2", 10000, true), // lb2 → lb1's peers port
        ("192.168.8.4", "192.168.8.2", 10000, false), // anyone else
        ("192.168.8.3", "192.168.8.1", 10000, false), // not on the VIP
        ("192.168.8.4", "192.168.8.1", 6443, true),  // the API on the VIP: anyone
    ] {
        assert_eq!(
            passes(&ns, source, destination, port),
            open,
            "{source} → {destination}:{port}"
        );
    }
}
