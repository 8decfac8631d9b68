//! Property tests: no input panics; random option sets (clean, odd spellings, nasty) are
//! refused with option paths or do what they say (the real `haproxy -c -dW` accepts them, no
//! two listeners share a socket, the firewall opens exactly the listeners' families,
//! destinations and sources); no string in any field adds a line or a directive.
//!
//! Case counts: `HAPROXY_K8S_PROPTEST_CASES` (tests/run-all.sh sets thousands). The option-set
//! test prints how many sets were accepted and refused, and fails if either side is rare.

mod common;

use proptest::prelude::*;
use serde_json::{json, Value};

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("HAPROXY_K8S_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // Failures print their minimal input; nothing is written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------- arbitrary JSON: never a panic ----------

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop::sample::select(vec!["6443", "*", "::", "10.0.0.1", "5s", "tcp", "/readyz"])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(field_name(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Mostly real option names, so the random JSON gets past the first unknown-field error.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "frontendPort", "bindAddress", "controlPlaneNodes", "statsPort", "clusters", "stats",
            "healthCheck", "timeouts", "name", "address", "port", "weight", "type", "path",
            "allowedSources", "nameservers", "interface", "extraConfig", "global", "enable",
        ]).prop_map(String::from),
        1 => "[a-zA-Z]{1,8}",
    ]
}

proptest! {
    #![proptest_config(cases(2000))]

    #[test]
    fn any_json_value_is_answered_without_panic(value in any_json()) {
        let _ = haproxy_k8s::generate(&value.to_string(), "services.haproxy-k8s");
    }

    #[test]
    fn any_text_is_answered_without_panic(text in ".{0,64}") {
        let _ = haproxy_k8s::generate(&text, "");
    }
}

// ---------- random option sets, nasty ones included: refused, or they do what they say ----------

#[path = "properties/generator.rs"]
mod generator;
#[path = "properties/oracle.rs"]
mod oracle;

/// Each accepted set: the real `haproxy -c -dW` accepts it, no two of its listeners claim one
/// socket, and its firewall opens exactly what the listeners take (family, destination,
/// sources; no rule twice). Each refused set: every error names an option. Both kinds must be
/// common, or the test would be checking only one side.
#[test]
fn option_sets_are_refused_or_do_what_they_say() {
    use std::cell::Cell;
    use std::io::Write;
    let accepted = Cell::new(0usize);
    let refused = Cell::new(0usize);
    let canonicalised = Cell::new(0usize);
    let routed = Cell::new(0usize);
    let mut runner = proptest::test_runner::TestRunner::new(cases(300));
    let result = runner.run(&generator::option_set(), |input| {
        let json = input.to_string();
        match haproxy_k8s::plan(&json, "") {
            Ok(plan) => {
                accepted.set(accepted.get() + 1);
                if generator::needs_canonical_form(&input) {
                    canonicalised.set(canonicalised.get() + 1);
                }
                if let Some(bad) = generator::must_be_refused(&input) {
                    panic!("accepted although it holds {bad}: {input}");
                }
                let out = haproxy_k8s::render(&plan);
                if out.haproxy_cfg.contains("use_backend k8s-backend.") {
                    routed.set(routed.get() + 1);
                }
                // What `--haproxy-check` checks: nameservers off loopback are replaced by a
                // loopback placeholder (HAProxy connects to them while parsing, and the Nix
                // build sandbox, where this test also runs, has no route).
                let checked = common::config_to_check(&json);
                if let Some(complaint) = common::haproxy_rejects(&checked) {
                    panic!(
                        "haproxy -c -dW rejected:\n{complaint}\ninput: {input}\nconfig:\n{checked}"
                    );
                }
                assert_structure(&out);
                assert_firewall_matches_listeners(&plan, &out, &input);
            }
            Err(errors) => {
                refused.set(refused.get() + 1);
                assert!(!errors.0.is_empty());
                for error in &errors.0 {
                    assert!(
                        !error.path.is_empty(),
                        "an error without an option path: {error} for {input}"
                    );
                }
            }
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let (accepted, refused) = (accepted.get(), refused.get());
    let total = accepted + refused;
    // Written past the test harness's capture, so every run shows it.
    let _ = writeln!(
        std::io::stderr(),
        "properties: {total} random option sets: {accepted} accepted (each checked by haproxy -c -dW and against the firewall; {} of them with spellings to canonicalise), {refused} refused; {} accepted with SNI routes to workload backends",
        canonicalised.get(),
        routed.get()
    );
    assert!(
        routed.get() * 5 >= accepted,
        "only {} of {accepted} accepted sets route workloads by SNI",
        routed.get()
    );
    assert!(
        accepted * 5 >= total,
        "only {accepted} of {total} accepted: the generator tests little of the accepted side"
    );
    assert!(
        canonicalised.get() * 10 >= total,
        "only {} of {total} accepted sets needed canonical forms",
        canonicalised.get()
    );
    assert!(
        refused * 5 >= total,
        "only {refused} of {total} refused: the generator tests little of the refused side"
    );
}

fn assert_firewall_matches_listeners(
    plan: &haproxy_k8s::Plan,
    out: &haproxy_k8s::Outputs,
    input: &serde_json::Value,
) {
    let listeners = oracle::listeners(&out.haproxy_cfg);
    for (i, a) in listeners.iter().enumerate() {
        for b in &listeners[..i] {
            assert!(
                !oracle::clash(a, b),
                "accepted two listeners on one socket: `{}` and `{}`\ninput: {input}",
                a.bind,
                b.bind
            );
        }
    }
    let rules = haproxy_k8s::firewall_rules(plan);
    let expected = oracle::expected_openings(&listeners);
    let actual = oracle::actual_openings(&rules);
    assert_eq!(
        actual, expected,
        "firewall ≠ listeners\ninput: {input}\nconfig:\n{}\nnft:\n{}",
        out.haproxy_cfg, out.firewall_nft
    );
    // The renderings: one nft statement per rule, one iptables line per rule and source, none twice.
    let statements: Vec<&str> = out
        .firewall_nft
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(statements.len(), rules.len(), "{}", out.firewall_nft);
    let lines: Vec<&str> = out
        .firewall_iptables
        .lines()
        .filter(|l| l.starts_with("ip"))
        .collect();
    let per_source: usize = rules.iter().map(|r| r.sources.len().max(1)).sum();
    assert_eq!(lines.len(), per_source, "{}", out.firewall_iptables);
    for text in [&statements, &lines] {
        let unique: std::collections::BTreeSet<&&str> = text.iter().collect();
        assert_eq!(unique.len(), text.len(), "a line twice: {text:#?}");
    }
    for (statement, rule) in statements.iter().zip(&rules) {
        let family = match rule.family {
            haproxy_k8s::Family::Ipv4 => ["ip daddr", "ip saddr", "meta nfproto ipv4"],
            haproxy_k8s::Family::Ipv6 => ["ip6 daddr", "ip6 saddr", "meta nfproto ipv6"],
        };
        assert!(
            family.iter().any(|f| statement.contains(f)),
            "{statement} does not name {:?}",
            rule.family
        );
    }
}

// ---------- any string in any field: rejected, or no new line or directive ----------

/// Where a string can go, as a JSON pointer into the base option set.
const STRING_FIELDS: &[&str] = &[
    "/bindAddress",
    "/controlPlaneNodes/0/name",
    "/controlPlaneNodes/0/address",
    "/allowedSources/0",
    "/stats/bindAddress",
    "/stats/allowedSources/0",
    "/stats/uri",
    "/stats/refresh",
    "/stats/credentialsFile",
    "/healthCheck/type",
    "/healthCheck/path",
    "/healthCheck/interval",
    "/healthCheck/caFile",
    "/healthCheck/clientCertificate",
    "/timeouts/connect",
    "/timeouts/tunnel",
    "/timeouts/clientFin",
    "/balance",
    "/onMarkedDown",
    "/adminSocket",
    "/hardStopAfter",
    "/log/target",
    "/log/facility",
    "/log/level",
    "/resolvers/nameservers/0",
    "/resolvers/hold",
    "/firewall/interface",
    "/clusters/<key>",
    "/sniRoutes/0/hosts/0",
    "/sniRoutes/0/hosts/1",
    "/sniRoutes/0/backend",
    "/backends/<key>",
    "/backends/ingress/nodes/0/name",
    "/backends/ingress/nodes/0/address",
    "/backends/ingress/balance",
    "/backends/ingress/sticky",
    "/backends/ingress/cookieName",
    "/backends/ingress/caFile",
    "/backends/ingress/healthCheck/type",
    "/backends/ingress/healthCheck/path",
    "/backends/ingress/healthCheck/host",
    "/backends/ingress/healthCheck/interval",
    "/peers/localName",
    "/peers/members/1/name",
    "/peers/members/1/address",
    "/vip/address",
    "/vip/interface",
    "/vip/unicastPeers/0",
    "/vip/scriptUser",
    "/vip/curl",
];

fn base_option_set() -> Value {
    json!({
        "bindAddress": "10.0.0.1",
        "controlPlaneNodes": [{"name": "cp-1", "address": "cp-1.example"}, {"name": "cp-2", "address": "10.0.0.12"}],
        "allowedSources": ["10.0.0.0/8"],
        "clusters": {},
        "stats": {"bindAddress": "127.0.0.1", "allowedSources": ["127.0.0.0/8"], "uri": "/stats",
                  "refresh": "10s", "credentialsFile": "/run/secrets/x"},
        "healthCheck": {"type": "https", "path": "/readyz", "interval": "2s",
                        "caFile": "/etc/ca.pem", "clientCertificate": "/run/secrets/client.pem"},
        "timeouts": {"connect": "5s", "tunnel": "1h", "clientFin": "10s"},
        "balance": "leastconn",
        "onMarkedDown": "none",
        "adminSocket": "/run/haproxy-k8s/admin.sock",
        "hardStopAfter": "15m",
        "log": {"target": "/dev/log", "facility": "local0", "level": "info"},
        "resolvers": {"nameservers": ["10.0.0.53"], "hold": "10s"},
        "firewall": {"interface": "eth0"},
        "sniRoutes": [{"hosts": ["login.example.com", "*.apps.example.com"], "backend": "ingress"}],
        "backends": {"ingress": {
            "nodes": [{"name": "w1", "address": "w1.example", "port": 443}],
            "balance": "leastconn", "sticky": "source", "cookieName": null, "caFile": null,
            "healthCheck": {"type": "https", "path": "/healthz", "host": "login.example.com", "interval": "2s"}}},
        "peers": {"localName": "lb1", "apiSticky": true, "members": [
            {"name": "lb1", "address": "10.0.0.2"}, {"name": "lb2", "address": "10.0.0.3"}]},
        "vip": {"address": "10.0.0.1", "prefixLength": 24, "interface": "eth0", "virtualRouterId": 51,
                "priority": 150, "unicastPeers": ["10.0.0.3"], "scriptUser": "nobody", "curl": "/usr/bin/curl"},
    })
}

/// Strings made to break things: line ends, NUL, comments, quotes, variables, spaces, plus
/// plausible values with such tails.
fn hostile_string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[a-zA-Z0-9./:_-]{0,8}",
        1 => prop::sample::select(vec![
            "\n", "\r", "\0", "#", "\"", "'", "$", "${HOME}", " ", "\t", "\\", ";", "{", "}",
            "\nuser root", "\r\ndaemon", " backup", " check", "\u{2028}", "é", "*", "::",
            "10.0.0.1", "5s", "/readyz", "tcp",
        ]).prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..5).prop_map(|pieces| pieces.concat())
}

/// Bytes that could end a line, start a comment, split a word, quote or expand in HAProxy's
/// tokenizer, nft or sh.
const DANGEROUS: &[char] = &[
    '\n', '\r', '\0', '#', '"', '\'', '$', ' ', '\t', '\\', ';', '{', '}', '`',
];

proptest! {
    #![proptest_config(cases(2000))]

    #[test]
    fn no_string_adds_a_line_or_a_directive(
        field in prop::sample::select(STRING_FIELDS),
        value in hostile_string(),
    ) {
        let mut input = base_option_set();
        if field == "/clusters/<key>" {
            input["clusters"] = json!({ value.clone(): {"frontendPort": 7443} });
        } else if field == "/backends/<key>" {
            // Renamed where it is defined and where it is used.
            let backend = input["backends"]["ingress"].clone();
            input["backends"] = json!({ value.clone(): backend });
            input["sniRoutes"][0]["backend"] = Value::from(value.clone());
        } else {
            *input.pointer_mut(field).expect("field exists in the base set") = Value::from(value.clone());
        }
        if let Ok(plan) = haproxy_k8s::plan(&input.to_string(), "services.haproxy-k8s") {
            prop_assert!(
                !value.contains(DANGEROUS) && !value.chars().any(char::is_control),
                "accepted {value:?} at {field}"
            );
            assert_structure(&haproxy_k8s::render(&plan));
        }
    }
}

/// Every line is blank, a comment, a section we write or a directive we write in that section.
fn assert_structure(out: &haproxy_k8s::Outputs) {
    for (name, text) in out.files() {
        assert!(!text.contains(['\r', '\0']), "{name} has a CR or NUL");
        assert!(text.ends_with('\n'), "{name} does not end with a line feed");
    }
    let mut section = "";
    for line in out.haproxy_cfg.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // HAProxy's conditional blocks (`.if`/`.alert`, e.g. around the stats credentials).
        let trimmed = line.trim_start();
        if trimmed.starts_with('.') {
            let directive = trimmed.split_whitespace().next().unwrap_or("");
            assert!(
                [".if", ".elif", ".else", ".endif", ".alert", ".notice", ".warning", ".diag"]
                    .contains(&directive),
                "unexpected conditional directive: {line}"
            );
            continue;
        }
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if !line.starts_with(' ') {
            section = first;
            assert!(
                [
                    "global",
                    "defaults",
                    "resolvers",
                    "frontend",
                    "backend",
                    "userlist",
                    "peers"
                ]
                .contains(&first),
                "unexpected section: {line}"
            );
            assert!(
                words.count() <= 1,
                "section header with extra words: {line}"
            );
            continue;
        }
        let allowed: &[&str] = match section {
            // setenv/unsetenv/.if/.alert/.endif: the stats credentials guard.
            "global" => &[
                "log",
                "stats",
                "maxconn",
                "hard-stop-after",
                "localpeer",
                "#",
                "setenv",
                "unsetenv",
                ".if",
                ".alert",
                ".endif",
            ],
            "defaults" => &[
                "log",
                "option",
                "timeout",
                "retries",
                "default-server",
                // Server-side TCP keepalive timings (issue 12).
                "srvtcpka-idle",
                "srvtcpka-intvl",
                "srvtcpka-cnt",
                "#",
            ],
            "resolvers" => &["parse-resolv-conf", "nameserver", "hold", "timeout"],
            "frontend" => &[
                "mode",
                "option",
                "bind",
                "tcp-request",
                "use_backend",
                "default_backend",
                "no",
                "http-request",
                "stats",
                "monitor-uri",
                "monitor",
                "#",
            ],
            "backend" => &[
                "mode",
                "balance",
                "option",
                "http-check",
                "tcp-check",
                "stick-table",
                "stick",
                "server",
                "stick-table",
                "stick",
                "#",
            ],
            "userlist" => &["user"],
            "peers" => &["peer"],
            _ => &[],
        };
        assert!(
            allowed.contains(&first),
            "unexpected directive in {section}: {line}"
        );
    }
    if let Some(keepalived) = &out.keepalived_conf {
        assert_keepalived_structure(keepalived);
    }
    for line in out.firewall_nft.lines() {
        assert!(
            line.starts_with('#') || line.ends_with(" accept"),
            "unexpected nft line: {line}"
        );
    }
    for line in out.firewall_iptables.lines() {
        assert!(
            line.starts_with('#')
                || line.starts_with("iptables -w -I ")
                || line.starts_with("ip6tables -w -I ")
                || line.starts_with("haproxy_k8s_"),
            "unexpected sh line: {line}"
        );
    }
}

/// keepalived.conf: only the keywords we write, braces, and address lines.
fn assert_keepalived_structure(text: &str) {
    const KEYWORDS: &[&str] = &[
        "global_defs",
        "script_user",
        "enable_script_security",
        "vrrp_script",
        "script",
        "interval",
        "timeout",
        "fall",
        "rise",
        "vrrp_instance",
        "state",
        "interface",
        "version",
        "virtual_router_id",
        "priority",
        "advert_int",
        "unicast_peer",
        "virtual_ipaddress",
        "track_script",
        "haproxy_k8s_check",
        "}",
    ];
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let first = trimmed.split_whitespace().next().unwrap_or("");
        let address = first
            .split('/')
            .next()
            .is_some_and(|a| a.parse::<std::net::IpAddr>().is_ok());
        assert!(
            KEYWORDS.contains(&first) || address,
            "unexpected keepalived.conf line: {line}"
        );
        if first == "script" {
            assert_eq!(trimmed.matches('"').count(), 2, "{line}");
        }
    }
}
