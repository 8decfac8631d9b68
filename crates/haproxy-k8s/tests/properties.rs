//! Property tests: no input panics; every accepted option set passes the real
//! `haproxy -c -dW`; no string in any field adds a line or a directive.
//!
//! Case counts: `HAPROXY_K8S_PROPTEST_CASES` (tests/run-all.sh sets thousands).

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

// ---------- random valid-ish option sets: haproxy -c -dW accepts what we accept ----------

fn ipv4() -> impl Strategy<Value = String> {
    (1u8..=223, any::<u8>(), any::<u8>(), 1u8..=254)
        .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}"))
}

fn loopback() -> impl Strategy<Value = String> {
    (any::<u8>(), any::<u8>(), 1u8..=254).prop_map(|(b, c, d)| format!("127.{b}.{c}.{d}"))
}

fn ipv6() -> impl Strategy<Value = String> {
    (any::<u16>(), any::<u16>(), 1u16..).prop_map(|(a, b, c)| format!("fd00:{a:x}:{b:x}::{c:x}"))
}

fn hostname() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,10}[a-z0-9](\\.[a-z][a-z0-9]{0,8}){0,3}"
}

fn duration() -> impl Strategy<Value = String> {
    // At most 500h, inside HAProxy's 24.8-day limit, so most random sets are accepted.
    (
        1u32..500,
        prop::sample::select(vec!["ms", "s", "m", "h", ""]),
    )
        .prop_map(|(n, unit)| format!("{n}{unit}"))
}

fn cidr() -> impl Strategy<Value = String> {
    prop_oneof![
        (ipv4(), 8u8..=32).prop_map(|(ip, len)| {
            let net: ipnet::Ipv4Net = format!("{ip}/{len}").parse().unwrap();
            net.trunc().to_string()
        }),
        (ipv6(), 16u8..=128).prop_map(|(ip, len)| {
            let net: ipnet::Ipv6Net = format!("{ip}/{len}").parse().unwrap();
            net.trunc().to_string()
        }),
    ]
}

fn node(index: usize) -> impl Strategy<Value = Value> {
    (
        prop_oneof![4 => ipv4(), 2 => ipv6(), 1 => hostname()],
        1u16..,
        0u16..=256,
        prop::bool::weighted(0.2),
    )
        .prop_map(move |(address, port, weight, backup)| {
            json!({"name": format!("node-{index}"), "address": address, "port": port, "weight": weight, "backup": backup})
        })
}

fn nodes() -> impl Strategy<Value = Value> {
    (0usize..6).prop_flat_map(|count| {
        (0..count)
            .map(node)
            .collect::<Vec<_>>()
            .prop_map(Value::from)
    })
}

fn bind_address() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_string()),
        Just("::".to_string()),
        ipv4(),
        ipv6()
    ]
}

fn option_set() -> impl Strategy<Value = Value> {
    let cluster = || (bind_address(), nodes(), prop::collection::vec(cidr(), 0..3));
    (
        (cluster(), prop::collection::vec(cluster(), 0..3)),
        (
            prop::sample::select(vec!["https", "tls", "tcp"]),
            "/[a-z]{0,10}(\\?[a-z]{1,5}=[a-z0-9]{1,5})?",
            duration(),
            1u32..=100,
            1u32..=100,
        ),
        (duration(), duration(), duration(), duration(), duration(), duration()),
        (
            prop::sample::select(vec!["leastconn", "roundrobin", "source", "first"]),
            prop::sample::select(vec!["shutdown-sessions", "none"]),
            0u32..=100,
            any::<bool>(),
            prop::option::of(duration()),
        ),
        (
            any::<bool>(),
            prop::option::of(bind_address()),
            prop::collection::vec(cidr(), 0..4),
            any::<bool>(),
            prop::bool::weighted(0.3),
            prop::sample::select(vec!["/dev/log", "stdout", "stderr"]),
            // On loopback: `haproxy -c` connects to them, and a sandbox has no other route.
            prop::collection::vec(prop_oneof![loopback(), loopback().prop_map(|ip| format!("{ip}:5353"))], 0..3),
        ),
    )
        .prop_map(|(((bind, nodes, sources), more), check, t, policy, misc)| {
            let (kind, path, interval, fall, rise) = check;
            let (balance, on_down, retries, redispatch, hard_stop) = policy;
            let (stats_enable, stats_bind, stats_sources, prometheus, credentials, log_target, nameservers) = misc;
            // Ports are spread so that listeners seldom clash; clashes are rejected anyway.
            let clusters: serde_json::Map<String, Value> = more
                .into_iter()
                .enumerate()
                .map(|(i, (bind, nodes, sources))| {
                    (format!("c{i}"), json!({"bindAddress": bind, "frontendPort": 7000 + i, "controlPlaneNodes": nodes, "allowedSources": sources}))
                })
                .collect();
            json!({
                "bindAddress": bind,
                "controlPlaneNodes": nodes,
                "allowedSources": sources,
                "clusters": clusters,
                "statsPort": 8404,
                "stats": {
                    "enable": stats_enable,
                    "bindAddress": stats_bind,
                    "allowedSources": stats_sources,
                    "prometheus": prometheus,
                    "credentialsFile": if credentials { Value::from("/run/secrets/stats.env") } else { Value::Null },
                },
                "healthCheck": {"type": kind, "path": path, "interval": interval, "fall": fall, "rise": rise},
                "timeouts": {"connect": t.0, "client": t.1, "server": t.2, "tunnel": t.3, "clientFin": t.4, "check": t.5},
                "balance": balance,
                "onMarkedDown": on_down,
                "retries": retries,
                "redispatch": redispatch,
                "hardStopAfter": hard_stop,
                "log": {"target": log_target},
                "resolvers": {"nameservers": nameservers},
            })
        })
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn accepted_option_sets_pass_haproxy_check(input in option_set()) {
        if let Ok(out) = haproxy_k8s::generate(&input.to_string(), "") {
            // What the build-time check checks (nameservers here are on loopback, which every
            // sandbox has; resolv.conf may be absent).
            let checked = common::config_to_check(&input.to_string());
            if let Some(complaint) = common::haproxy_rejects(&checked) {
                panic!("haproxy -c -dW rejected:\n{complaint}\ninput: {input}\nconfig:\n{checked}");
            }
            assert_structure(&out);
        }
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
                    "userlist"
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
            "global" => &["log", "stats", "maxconn", "hard-stop-after", "#"],
            "defaults" => &["log", "option", "timeout", "retries", "default-server", "#"],
            "resolvers" => &["parse-resolv-conf", "nameserver", "hold", "timeout"],
            "frontend" => &[
                "mode",
                "option",
                "bind",
                "tcp-request",
                "default_backend",
                "no",
                "http-request",
                "stats",
                "#",
            ],
            "backend" => &[
                "mode",
                "balance",
                "option",
                "http-check",
                "tcp-check",
                "server",
                "#",
            ],
            "userlist" => &["user"],
            _ => &[],
        };
        assert!(
            allowed.contains(&first),
            "unexpected directive in {section}: {line}"
        );
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
