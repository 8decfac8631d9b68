//! Snapshot tests of every renderer, plus the real `haproxy -c -dW` on each config.
//! Review changes with `cargo insta review` (or INSTA_UPDATE=always and `git diff`).

mod common;

use common::{config_to_check, example, haproxy_rejects};

/// Every feature at once: two clusters, IPv6, a hostname, backups and weights, a TLS-only
/// check, source filters, an interface, stats credentials and extra config.
const KITCHEN_SINK: &str = r#"{
  "bindAddress": "10.0.0.1",
  "controlPlaneNodes": [
    { "name": "cp-1", "address": "10.0.0.11" },
    { "name": "cp-2", "address": "fd00::12", "port": 16443, "weight": 50 },
    { "name": "cp-3", "address": "cp-3.k8s.internal", "backup": true }
  ],
  "allowedSources": ["10.0.0.0/24", "fd00::/64"],
  "clusters": {
    "edge": {
      "bindAddress": "::",
      "frontendPort": 7443,
      "controlPlaneNodes": [{ "name": "edge-1", "address": "10.1.0.11" }]
    }
  },
  "statsPort": 9000,
  "stats": {
    "bindAddress": "127.0.0.1",
    "allowedSources": ["127.0.0.0/8"],
    "uri": "/haproxy",
    "prometheus": false,
    "refresh": "30s",
    "credentialsFile": "/run/secrets/haproxy-k8s-stats.env"
  },
  "healthCheck": { "type": "tls", "interval": "1500ms", "fall": 2, "rise": 1 },
  "timeouts": { "connect": "3s", "tunnel": "2h" },
  "balance": "roundrobin",
  "onMarkedDown": "none",
  "retries": 2,
  "redispatch": false,
  "hardStopAfter": null,
  "log": { "target": "stdout", "facility": "daemon", "level": "notice" },
  "resolvers": { "nameservers": ["10.0.0.53", "[fd00::53]:5353"], "hold": "30s" },
  "firewall": { "interface": "vlan8" },
  "extraConfig": { "global": "tune.bufsize 32768", "backend": "option log-health-checks" }
}"#;

fn outputs(json: &str) -> haproxy_k8s::Outputs {
    haproxy_k8s::generate(json, "services.haproxy-k8s").unwrap_or_else(|e| panic!("{e}"))
}

/// The real `haproxy -c -dW` accepts what `--haproxy-check` checks for these options (the
/// config itself, or its offline variant where the Nix sandbox lacks resolv.conf or a route).
fn assert_haproxy_accepts_config_of(json: &str) {
    let config = config_to_check(json);
    if let Some(complaint) = haproxy_rejects(&config) {
        panic!("haproxy -c -dW rejected the config:\n{complaint}\n{config}");
    }
}

#[test]
fn seed_004() {
    let json = example("seed-004.json");
    let out = outputs(&json);
    assert_haproxy_accepts_config_of(&json);
    insta::assert_snapshot!("seed_004_haproxy_cfg", out.haproxy_cfg);
    insta::assert_snapshot!("seed_004_firewall_json", out.firewall_json);
    insta::assert_snapshot!("seed_004_firewall_nft", out.firewall_nft);
    insta::assert_snapshot!("seed_004_firewall_iptables", out.firewall_iptables);
}

#[test]
fn seed_004_module_example_with_every_node_commented_out() {
    let json = r#"{"frontendPort": 6443, "bindAddress": "192.168.8.1", "controlPlaneNodes": [], "statsPort": 8404}"#;
    let out = outputs(json);
    assert_haproxy_accepts_config_of(json);
    assert!(out
        .haproxy_cfg
        .contains("backend k8s-nodes.default\n    mode tcp\n"));
    assert!(!out.haproxy_cfg.contains("    server "));
}

#[test]
fn multi_cluster_example() {
    let json = example("multi-cluster.json");
    let out = outputs(&json);
    assert_haproxy_accepts_config_of(&json);
    insta::assert_snapshot!("multi_cluster_haproxy_cfg", out.haproxy_cfg);
    insta::assert_snapshot!("multi_cluster_firewall_nft", out.firewall_nft);
}

/// `::` on 6443; an IPv6-only and an IPv4-only cluster sharing 7443; stats on `::`.
#[test]
fn dual_stack_example() {
    let json = example("dual-stack.json");
    let out = outputs(&json);
    assert_haproxy_accepts_config_of(&json);
    insta::assert_snapshot!("dual_stack_haproxy_cfg", out.haproxy_cfg);
    insta::assert_snapshot!("dual_stack_firewall_nft", out.firewall_nft);
    insta::assert_snapshot!("dual_stack_firewall_iptables", out.firewall_iptables);
}

#[test]
fn kitchen_sink() {
    let out = outputs(KITCHEN_SINK);
    assert_haproxy_accepts_config_of(KITCHEN_SINK);
    insta::assert_snapshot!("kitchen_sink_haproxy_cfg", out.haproxy_cfg);
    insta::assert_snapshot!("kitchen_sink_firewall_json", out.firewall_json);
    insta::assert_snapshot!("kitchen_sink_firewall_nft", out.firewall_nft);
    insta::assert_snapshot!("kitchen_sink_firewall_iptables", out.firewall_iptables);
}

/// Seed 000: the API and an ingress on one :443, the ingress chosen by SNI, unterminated.
#[test]
fn seed_000() {
    let json = example("seed-000.json");
    let out = outputs(&json);
    assert_haproxy_accepts_config_of(&json);
    insta::assert_snapshot!("seed_000_haproxy_cfg", out.haproxy_cfg);
    insta::assert_snapshot!("seed_000_firewall_nft", out.firewall_nft);
}

/// Every workload option: wildcards beside exact names (exact first), per-cluster routes on
/// a dual-stack listener, each check type, stickiness by source, hostname and IPv6 nodes.
const WORKLOADS: &str = r#"{
  "controlPlaneNodes": [{ "name": "cp-1", "address": "10.0.0.11" }],
  "frontendPort": 443,
  "sniRoutes": [
    { "hosts": ["*.apps.example.com", "Login.Example.com"], "backend": "ingress" },
    { "hosts": ["db.example.com"], "backend": "db" }
  ],
  "clusters": {
    "edge": {
      "bindAddress": "::",
      "frontendPort": 7443,
      "controlPlaneNodes": [{ "name": "edge-1", "address": "fd00::11" }],
      "sniRoutes": [{ "hosts": ["*.edge.example.com", "edge.example.com"], "backend": "edge-web" }]
    }
  },
  "backends": {
    "ingress": {
      "nodes": [
        { "name": "w1", "address": "10.0.1.1", "port": 443 },
        { "name": "w2", "address": "worker-2.k8s.internal", "port": 443, "weight": 20 },
        { "name": "w3", "address": "fd00::1:3", "port": 443, "backup": true }
      ],
      "healthCheck": { "type": "https", "path": "/healthz", "expectStatus": 200, "host": "login.example.com", "interval": "5s", "fall": 2, "rise": 1 },
      "sticky": "source"
    },
    "db": {
      "nodes": [{ "name": "db1", "address": "10.0.2.1", "port": 30432 }],
      "healthCheck": { "type": "tls" },
      "balance": "source"
    },
    "edge-web": {
      "nodes": [{ "name": "e1", "address": "10.0.3.1", "port": 30080 }],
      "healthCheck": { "type": "http" },
      "balance": "roundrobin"
    }
  },
  "resolvers": { "nameservers": ["10.0.0.53"] }
}"#;

#[test]
fn workloads() {
    let out = outputs(WORKLOADS);
    assert_haproxy_accepts_config_of(WORKLOADS);
    insta::assert_snapshot!("workloads_haproxy_cfg", out.haproxy_cfg);
    // Same listeners as without workloads: the firewall opens nothing more.
    let without: serde_json::Value = {
        let mut json: serde_json::Value = serde_json::from_str(WORKLOADS).unwrap();
        let object = json.as_object_mut().unwrap();
        object.remove("sniRoutes");
        object.remove("backends");
        object["clusters"]["edge"]
            .as_object_mut()
            .unwrap()
            .remove("sniRoutes");
        json
    };
    assert_eq!(
        out.firewall_json,
        outputs(&without.to_string()).firewall_json
    );
}

#[test]
fn tcp_check_has_no_tls_settings() {
    let json = r#"{"controlPlaneNodes": [{"name": "a", "address": "10.0.0.1"}], "healthCheck": {"type": "tcp"}}"#;
    let out = outputs(json);
    assert_haproxy_accepts_config_of(json);
    assert!(out
        .haproxy_cfg
        .contains("    server a 10.0.0.1:6443 check\n"));
    assert!(!out.haproxy_cfg.contains("httpchk"));
    assert!(!out.haproxy_cfg.contains("verify"));
}

#[test]
fn output_is_deterministic() {
    for json in [
        example("seed-004.json"),
        example("multi-cluster.json"),
        example("dual-stack.json"),
        example("seed-000.json"),
        KITCHEN_SINK.into(),
        WORKLOADS.into(),
    ] {
        assert_eq!(outputs(&json), outputs(&json));
    }
}

#[test]
fn config_never_names_user_group_chroot_daemon_or_master_worker() {
    for json in [
        example("seed-004.json"),
        example("multi-cluster.json"),
        KITCHEN_SINK.into(),
    ] {
        let cfg = outputs(&json).haproxy_cfg;
        for line in cfg.lines() {
            let keyword = line.split_whitespace().next().unwrap_or("");
            assert!(
                ![
                    "user",
                    "group",
                    "chroot",
                    "daemon",
                    "master-worker",
                    "nbproc",
                    "reqadd"
                ]
                .contains(&keyword)
                    || (keyword == "user" && cfg.contains("userlist k8s-stats-users")),
                "forbidden directive in: {line}"
            );
        }
        assert!(cfg.ends_with('\n'));
    }
}

/// Cluster `pub` on `*` and `priv` on fd00::1 (IPv6 sources), both on 6443,
/// and the default stats listener on `*`. Nothing may open IPv6 except `priv`'s own rule.
#[test]
fn firewall_rules_carry_their_listeners_family() {
    let json = r#"{"clusters": {
        "pub": {"bindAddress": "*", "controlPlaneNodes": [{"name": "a", "address": "10.0.0.1"}]},
        "priv": {"bindAddress": "fd00::1", "allowedSources": ["fd00:9::/64"],
                 "controlPlaneNodes": [{"name": "b", "address": "fd00::10"}]}}}"#;
    let out = outputs(json);
    assert_haproxy_accepts_config_of(json);
    let nft: Vec<&str> = out
        .firewall_nft
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(
        nft,
        [
            "ip6 daddr fd00::1 ip6 saddr { fd00:9::/64 } tcp dport 6443 accept",
            "meta nfproto ipv4 tcp dport 6443 accept",
            "ip saddr { 127.0.0.0/8, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 } tcp dport 8404 accept",
        ],
        "{}",
        out.firewall_nft
    );
    let ip6tables: Vec<&str> = out
        .firewall_iptables
        .lines()
        .filter(|l| l.starts_with("ip6tables"))
        .collect();
    assert_eq!(
        ip6tables,
        ["ip6tables -w -I \"$haproxy_k8s_chain\" -s fd00:9::/64 -d fd00::1 -p tcp --dport 6443 -j \"$haproxy_k8s_target\""],
        "{}",
        out.firewall_iptables
    );
    let rules = haproxy_k8s::firewall_rules(&haproxy_k8s::plan(json, "").unwrap());
    let families: Vec<_> = rules.iter().map(|r| (r.family, r.port)).collect();
    use haproxy_k8s::Family::{Ipv4, Ipv6};
    assert_eq!(
        families,
        [(Ipv6, Some(6443)), (Ipv4, Some(6443)), (Ipv4, Some(8404))]
    );
}

/// A dual-stack listener opens both families, each once, each naming its family.
#[test]
fn dual_stack_listener_opens_each_family_once() {
    let out = outputs(
        r#"{"bindAddress": "::", "controlPlaneNodes": [{"name": "a", "address": "10.0.0.1"}],
            "allowedSources": ["10.0.0.0/8", "::ffff:10.0.0.0/104", "fd00::/8", "fd00::/8"],
            "stats": {"enable": false}}"#,
    );
    let nft: Vec<&str> = out
        .firewall_nft
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(
        nft,
        [
            "ip saddr { 10.0.0.0/8 } tcp dport 6443 accept",
            "ip6 saddr { fd00::/8 } tcp dport 6443 accept",
        ],
        "{}",
        out.firewall_nft
    );
    let none = outputs(
        r#"{"bindAddress": "::", "controlPlaneNodes": [{"name": "a", "address": "10.0.0.1"}], "stats": {"enable": false}}"#,
    );
    assert!(
        none.firewall_nft.ends_with(
            "meta nfproto ipv4 tcp dport 6443 accept\nmeta nfproto ipv6 tcp dport 6443 accept\n"
        ),
        "{}",
        none.firewall_nft
    );
}
