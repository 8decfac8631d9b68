//! The load-balancer pair: `peers` and `vip`. Rendered configs go through the real
//! `haproxy -c -dW` of 2.6 and 3.0; bad option sets are refused with their option paths.

mod common;

use common::{example, haproxy_rejects};
use serde_json::{json, Value};

const P: &str = "services.haproxy-k8s";

fn lb1() -> Value {
    serde_json::from_str(&example("seed-001-lb1.json")).unwrap()
}

fn generate(options: &Value) -> haproxy_k8s::Outputs {
    haproxy_k8s::generate(&options.to_string(), P).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(options: &Value) -> Vec<String> {
    match haproxy_k8s::plan(&options.to_string(), P) {
        Ok(_) => panic!("accepted: {options:#}"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

fn assert_error(options: &Value, path: &str, needle: &str) {
    let errors = errors(options);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("{P}.{path}: ")) && e.contains(needle)),
        "no error at {path} containing {needle:?}: {errors:#?}"
    );
}

/// `options` with `pointer` (a JSON pointer whose parent exists) set to `value`.
fn with(mut options: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match options
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("{pointer}"))
    {
        Value::Object(map) => {
            map.insert(key.to_string(), value);
        }
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
        _ => panic!("{pointer}"),
    }
    options
}

fn assert_haproxy_accepts(config: &str) {
    if let Some(complaint) = haproxy_rejects(config) {
        panic!("haproxy -c -dW rejected the config:\n{complaint}\n{config}");
    }
}

#[test]
fn seed_001_pair_renders_peers_vip_check_and_keepalived() {
    let out = generate(&lb1());
    assert_haproxy_accepts(&out.haproxy_cfg);
    insta::assert_snapshot!("seed_001_lb1_haproxy_cfg", out.haproxy_cfg);
    insta::assert_snapshot!("seed_001_lb1_firewall_json", out.firewall_json);
    insta::assert_snapshot!("seed_001_lb1_firewall_nft", out.firewall_nft);
    insta::assert_snapshot!("seed_001_lb1_firewall_iptables", out.firewall_iptables);
    let keepalived = out
        .keepalived_conf
        .clone()
        .expect("a vip gives keepalived.conf");
    insta::assert_snapshot!("seed_001_lb1_keepalived_conf", keepalived);
    assert!(out
        .files()
        .iter()
        .any(|(name, _)| *name == "keepalived.conf"));

    let lb2 = generate(&serde_json::from_str(&example("seed-001-lb2.json")).unwrap());
    assert_haproxy_accepts(&lb2.haproxy_cfg);
    assert!(lb2.haproxy_cfg.contains("    localpeer lb2\n"));
    // The same peers section on both machines: each finds itself by localpeer.
    let peers_section = |cfg: &str| {
        cfg.split("\n\n")
            .find(|s| s.starts_with("peers "))
            .unwrap()
            .to_string()
    };
    assert_eq!(
        peers_section(&out.haproxy_cfg),
        peers_section(&lb2.haproxy_cfg)
    );
    // Only the other member may reach each machine's peers port.
    assert!(lb2
        .firewall_nft
        .contains("ip daddr 192.168.8.3 ip saddr { 192.168.8.2/32 } tcp dport 10000 accept"));
}

#[test]
fn without_pair_options_there_is_no_keepalived_conf_and_no_peers() {
    let out = haproxy_k8s::generate(&example("seed-004.json"), P).unwrap();
    assert_eq!(out.keepalived_conf, None);
    assert_eq!(out.files().len(), 4);
    for absent in ["peers", "localpeer", "stick", "monitor"] {
        assert!(!out.haproxy_cfg.contains(absent), "{absent}");
    }
}

#[test]
fn api_sticky_joins_the_stick_table_to_the_peers_in_both_families() {
    // IPv6 members, a dual-stack API listener and multicast VRRP.
    let options = json!({
        "bindAddress": "::",
        "controlPlaneNodes": [{ "name": "cp1", "address": "fd00::10" }],
        "stats": { "bindAddress": "fd00::2" },
        "peers": {
            "localName": "lb1",
            "apiSticky": true,
            "members": [
                { "name": "lb1", "address": "fd00::2" },
                { "name": "lb2", "address": "[FD00::3]" }
            ]
        },
        "vip": {
            "address": "fd00::1", "prefixLength": 64, "interface": "eth0",
            "virtualRouterId": 7, "priority": 100
        }
    });
    let out = generate(&options);
    assert_haproxy_accepts(&out.haproxy_cfg);
    for expected in [
        "    peer lb1 [fd00::2]:10000\n    peer lb2 [fd00::3]:10000\n",
        "    stick-table type ipv6 size 20k expire 30m peers k8s-peers\n    stick on src\n",
    ] {
        assert!(
            out.haproxy_cfg.contains(expected),
            "{expected}\n{}",
            out.haproxy_cfg
        );
    }
    assert!(
        out.firewall_nft
            .contains("ip6 daddr fd00::2 ip6 saddr { fd00::3/128 } tcp dport 10000 accept"),
        "{}",
        out.firewall_nft
    );
    // Multicast VRRP: only what is sent to the VRRP group, on the VIP's interface.
    assert!(
        out.firewall_nft
            .contains("iifname \"eth0\" ip6 daddr ff02::12 meta l4proto 112 accept"),
        "{}",
        out.firewall_nft
    );
    let keepalived = out.keepalived_conf.unwrap();
    assert!(!keepalived.contains("unicast_peer"), "{keepalived}");
    assert!(
        keepalived.contains("        fd00::1/64 dev eth0\n"),
        "{keepalived}"
    );

    // An IPv4 listener keys its table by IPv4 address; without apiSticky there is none.
    let v4 = with(lb1(), "/peers/apiSticky", json!(true));
    let cfg = generate(&v4).haproxy_cfg;
    assert_haproxy_accepts(&cfg);
    assert!(cfg.contains("    stick-table type ip size 20k expire 30m peers k8s-peers\n"));
    assert!(!generate(&lb1()).haproxy_cfg.contains("stick"));
}

#[test]
fn the_vip_check_fails_when_any_api_backend_has_no_server_up() {
    let options = json!({
        "clusters": {
            "a": { "bindAddress": "*", "controlPlaneNodes": [{ "name": "a1", "address": "10.0.0.1" }] },
            "b": { "bindAddress": "*", "frontendPort": 7443, "controlPlaneNodes": [{ "name": "b1", "address": "10.0.1.1" }] }
        },
        "vip": { "address": "10.0.0.100", "prefixLength": 24, "interface": "eth0", "virtualRouterId": 1, "priority": 1 }
    });
    let cfg = generate(&options).haproxy_cfg;
    assert_haproxy_accepts(&cfg);
    assert!(cfg.contains(
        "    monitor fail if { nbsrv(k8s-nodes.a) lt 1 } || { nbsrv(k8s-nodes.b) lt 1 }\n"
    ));
    // The check never asks the VIP (which may be the other machine): loopback only.
    assert!(cfg.contains("frontend k8s-vip-check\n    mode http\n    bind 127.0.0.1:8405\n"));
}

#[test]
fn peers_are_validated() {
    let base = lb1();
    assert_error(
        &with(base.clone(), "/peers/localName", json!("lb3")),
        "peers.localName",
        "is not one of peers.members (lb1, lb2)",
    );
    assert_error(
        &with(base.clone(), "/peers/members/1/name", json!("lb1")),
        "peers.members.1.name",
        "names must be unique",
    );
    assert_error(
        &with(
            base.clone(),
            "/peers/members/1/address",
            json!("::ffff:192.168.8.2"),
        ),
        "peers.members.1.address",
        "192.168.8.2 is the address of another member",
    );
    assert_error(
        &with(base.clone(), "/peers/members/1/address", json!("fd00::3")),
        "peers.members.1.address",
        "all must be IPv4 or all IPv6",
    );
    assert_error(
        &with(
            base.clone(),
            "/peers/members",
            json!([{ "name": "lb1", "address": "192.168.8.2" }]),
        ),
        "peers.members",
        "at least two",
    );
    for bad in [
        "lb-host.example",
        "0.0.0.0",
        "224.0.0.1",
        "192.168.8.2:10000",
    ] {
        assert_error(
            &with(base.clone(), "/peers/members/1/address", json!(bad)),
            "peers.members.1.address",
            "",
        );
    }
    assert_error(
        &with(base.clone(), "/peers/port", json!(0)),
        "peers.port",
        "1–65535",
    );
    // The peers port on the local member's address clashes with the stats listener there.
    assert_error(
        &with(base.clone(), "/peers/port", json!(8404)),
        "peers.port",
        "clashes with services.haproxy-k8s.statsPort",
    );
    assert_error(
        &with(base.clone(), "/peers/members/0/name", json!("lb 1")),
        "peers.members.0.name",
        "",
    );
    let typo = with(base, "/peers/members/0/adress", json!("x"));
    let message = haproxy_k8s::plan(&typo.to_string(), P)
        .unwrap_err()
        .to_string();
    assert!(message.contains("did you mean `address`"), "{message}");
}

#[test]
fn vip_is_validated() {
    let base = lb1();
    let cases: &[(&str, Value, &str, &str)] = &[
        (
            "/vip/address",
            json!("vip.example"),
            "vip.address",
            "not an IP address",
        ),
        (
            "/vip/address",
            json!("127.0.0.5"),
            "vip.address",
            "loopback",
        ),
        (
            "/vip/address",
            json!("192.168.8.0"),
            "vip.address",
            "network address",
        ),
        (
            "/vip/address",
            json!("192.168.8.255"),
            "vip.address",
            "broadcast address",
        ),
        (
            "/vip/address",
            json!("192.168.8.3"),
            "vip.address",
            "peers member lb2",
        ),
        ("/vip/prefixLength", json!(33), "vip.prefixLength", "1–32"),
        ("/vip/prefixLength", json!(0), "vip.prefixLength", "1–32"),
        (
            "/vip/interface",
            json!("vlan 8"),
            "vip.interface",
            "not an interface name",
        ),
        (
            "/vip/interface",
            json!("a-very-long-interface"),
            "vip.interface",
            "1–15",
        ),
        (
            "/vip/virtualRouterId",
            json!(0),
            "vip.virtualRouterId",
            "1–255",
        ),
        (
            "/vip/virtualRouterId",
            json!(256),
            "vip.virtualRouterId",
            "1–255",
        ),
        ("/vip/priority", json!(255), "vip.priority", "1–254"),
        ("/vip/priority", json!(0), "vip.priority", "1–254"),
        (
            "/vip/unicastPeers",
            json!(["fd00::3"]),
            "vip.unicastPeers.0",
            "address family",
        ),
        (
            "/vip/unicastPeers",
            json!(["192.168.8.3", "192.168.8.3"]),
            "vip.unicastPeers.1",
            "twice",
        ),
        (
            "/vip/unicastPeers",
            json!(["192.168.8.1"]),
            "vip.unicastPeers.0",
            "the VIP itself",
        ),
        (
            "/vip/unicastPeers",
            json!(["lb2"]),
            "vip.unicastPeers.0",
            "not an IP address",
        ),
        ("/vip/checkPort", json!(70000), "vip.checkPort", "1–65535"),
        (
            "/vip/scriptUser",
            json!("root"),
            "vip.scriptUser",
            "unprivileged",
        ),
        (
            "/vip/scriptUser",
            json!("no body"),
            "vip.scriptUser",
            "not a user name",
        ),
        ("/vip/curl", json!("curl"), "vip.curl", "absolute path"),
        ("/vip/curl", json!("/usr/bin/curl\" -k"), "vip.curl", ""),
    ];
    for (pointer, value, path, needle) in cases {
        assert_error(&with(base.clone(), pointer, value.clone()), path, needle);
    }
    // Stats on 127.0.0.1:8405 and the check on its default port: two binds on one socket.
    let clash = with(
        with(base.clone(), "/stats/bindAddress", json!("127.0.0.1")),
        "/statsPort",
        json!(8405),
    );
    assert_error(
        &clash,
        "vip.checkPort",
        "clashes with services.haproxy-k8s.statsPort",
    );
    // Every field of vip is required but unicastPeers, checkPort, scriptUser and curl.
    let mut missing = base.clone();
    missing["vip"]
        .as_object_mut()
        .unwrap()
        .remove("virtualRouterId");
    let message = haproxy_k8s::plan(&missing.to_string(), P)
        .unwrap_err()
        .to_string();
    assert!(message.contains("virtualRouterId"), "{message}");
}

#[test]
fn a_vip_no_api_listener_accepts_is_a_warning() {
    let options = with(lb1(), "/bindAddress", json!("192.168.8.2"));
    let plan = haproxy_k8s::plan(&options.to_string(), P).unwrap();
    let warnings: Vec<String> = plan.warnings().iter().map(ToString::to_string).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with(&format!("{P}.vip.address: "))
                && w.contains("no API listener accepts 192.168.8.1")),
        "{warnings:#?}"
    );
    // A wildcard bind covers the VIP: no warning.
    let options = with(lb1(), "/bindAddress", json!("*"));
    let options = with(options, "/stats/bindAddress", json!("192.168.8.2"));
    let plan = haproxy_k8s::plan(&options.to_string(), P).unwrap();
    assert!(plan.warnings().is_empty(), "{:?}", plan.warnings());
}

#[test]
fn a_sticky_workload_backend_shares_its_table_with_the_peers() {
    let mut options = lb1();
    options["sniRoutes"] = json!([{ "hosts": ["login.example.com"], "backend": "ingress" }]);
    options["backends"] = json!({
        "ingress": {
            "nodes": [{ "name": "w1", "address": "192.168.8.20", "port": 443 }],
            "sticky": "source"
        }
    });
    let out = generate(&options);
    assert_haproxy_accepts(&out.haproxy_cfg);
    let backend = out
        .haproxy_cfg
        .split("\nbackend k8s-backend.ingress\n")
        .nth(1)
        .expect("the workload backend");
    assert!(
        backend.contains(
            "    stick-table type ipv6 size 100k expire 30m peers k8s-peers\n    stick on src\n"
        ),
        "{backend}"
    );
}
