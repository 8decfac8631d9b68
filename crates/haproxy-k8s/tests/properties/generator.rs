//! Random option sets, clean and nasty. A clean set is built to be valid (listeners apart,
//! top-level values only where read); a nasty one draws from pools of spellings that must be
//! canonicalised (`::0`, `::ffff:a.b.c.d`, `CP1.Example.`), values that must be refused
//! (multicast, broadcast, scoped or link-local nameservers, host bits), repeats, shared ports
//! across clusters and top-level values nothing reads.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};

/// Values that make any option set holding them invalid, wherever the generator puts them.
pub const ALWAYS_BAD_BINDS: &[&str] = &["224.0.0.1", "ff02::1", "255.255.255.255"];
pub const ALWAYS_BAD_NODES: &[&str] = &["224.0.0.5", "::", "0.0.0.0"];
pub const ALWAYS_BAD_NAMESERVERS: &[&str] = &["[fe80::1%2]:53", "fe80::1", "224.0.0.251"];
pub const ALWAYS_BAD_SOURCES: &[&str] = &["10.0.0.1/8"];
pub const ALWAYS_BAD_HOSTS: &[&str] = &["10.0.0.1", "a.*.example", "*", "-a.example"];
/// A route to it is always refused: no backend has this name.
pub const MISSING_BACKEND: &str = "missing";

/// Spellings of valid binds that must be canonicalised.
const ODD_BINDS: &[&str] = &[
    "::0",
    "0::0",
    "[::]",
    "0.0.0.0",
    "::ffff:192.168.8.1",
    "::ffff:127.0.0.1",
    "::ffff:0.0.0.0",
    "192.168.8.1",
    "fd00::1",
    "[fd00::1]",
];
/// Valid node addresses, several spellings of the same few (repeats are refused).
const ODD_NODES: &[&str] = &[
    "10.0.0.1",
    "::ffff:10.0.0.1",
    "cp1.example",
    "CP1.Example.",
    "fd00::10",
    "[fd00::10]",
];
const ODD_SOURCES: &[&str] = &[
    "::ffff:10.0.0.0/104",
    "::ffff:10.1.2.3",
    "10.0.0.0/8",
    "fd00::/8",
    "::/0",
    "0.0.0.0/0",
];
const ODD_NAMESERVERS: &[&str] = &[
    "10.0.0.53",
    "10.0.0.53:53",
    "::ffff:10.0.0.53",
    "[fd00::53]:53",
    "fd00::53",
];
/// Shared by clusters and stats, so listeners meet.
const NASTY_PORTS: &[u16] = &[6443, 7443, 8404];

fn ipv4() -> impl Strategy<Value = String> {
    (1u8..=223, any::<u8>(), any::<u8>(), 1u8..=254)
        .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}"))
}

fn ipv6() -> impl Strategy<Value = String> {
    (any::<u16>(), any::<u16>(), 1u16..).prop_map(|(a, b, c)| format!("fd00:{a:x}:{b:x}::{c:x}"))
}

fn hostname() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9-]{0,10}[a-z0-9](\\.[a-z][a-zA-Z0-9]{0,8}){0,3}\\.?"
}

pub fn duration() -> impl Strategy<Value = String> {
    // At most 500h, inside HAProxy's 24.8-day limit, so most random sets are accepted.
    (1u32..500, select(vec!["ms", "s", "m", "h", ""])).prop_map(|(n, unit)| format!("{n}{unit}"))
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

fn strings(pool: &'static [&'static str]) -> BoxedStrategy<String> {
    select(pool).prop_map(String::from).boxed()
}

/// Clean: valid by construction. Odd: valid, in spellings to canonicalise, listeners apart.
/// Nasty: odd spellings, shared ports, repeats, unread values and values always refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Clean,
    Odd,
    Nasty,
}

fn bind_address(mode: Mode) -> BoxedStrategy<String> {
    let clean = prop_oneof![
        Just("*".to_string()),
        Just("::".to_string()),
        ipv4(),
        ipv6()
    ];
    match mode {
        Mode::Clean => clean.boxed(),
        Mode::Odd => prop_oneof![1 => clean, 2 => strings(ODD_BINDS)].boxed(),
        Mode::Nasty => prop_oneof![
            3 => clean,
            4 => strings(ODD_BINDS),
            1 => strings(ALWAYS_BAD_BINDS)
        ]
        .boxed(),
    }
}

fn sources(mode: Mode) -> BoxedStrategy<Vec<String>> {
    let one = match mode {
        Mode::Clean => cidr().boxed(),
        Mode::Odd => prop_oneof![2 => cidr(), 1 => strings(ODD_SOURCES)].boxed(),
        Mode::Nasty => prop_oneof![
            6 => cidr(),
            3 => strings(ODD_SOURCES),
            1 => strings(ALWAYS_BAD_SOURCES)
        ]
        .boxed(),
    };
    prop::collection::vec(one, 0..4).boxed()
}

fn nodes(mode: Mode) -> BoxedStrategy<Value> {
    let clean = || prop_oneof![4 => ipv4(), 2 => ipv6(), 1 => hostname()];
    let address = match mode {
        Mode::Clean => clean().boxed(),
        // Seldom enough that a repeat (refused) stays rare.
        Mode::Odd => prop_oneof![6 => clean(), 1 => strings(ODD_NODES)].boxed(),
        Mode::Nasty => prop_oneof![
            5 => clean(),
            4 => strings(ODD_NODES),
            1 => strings(ALWAYS_BAD_NODES)
        ]
        .boxed(),
    };
    let port = match mode {
        Mode::Nasty => select(vec![6443u16, 6443, 16443]).boxed(),
        Mode::Clean | Mode::Odd => (1u16..).boxed(),
    };
    let node = (address, port, 0u16..=256, prop::bool::weighted(0.2));
    prop::collection::vec(node, 0..5)
        .prop_map(|nodes| {
            let nodes: Vec<Value> = nodes
                .into_iter()
                .enumerate()
                .map(|(i, (address, port, weight, backup))| {
                    json!({"name": format!("node-{i}"), "address": address, "port": port, "weight": weight, "backup": backup})
                })
                .collect();
            Value::from(nodes)
        })
        .boxed()
}

fn nameservers(mode: Mode) -> BoxedStrategy<Vec<String>> {
    let clean = || {
        prop_oneof![
            ipv4(),
            ipv4().prop_map(|ip| format!("{ip}:5353")),
            ipv6(),
            ipv6().prop_map(|ip| format!("[{ip}]:5353")),
        ]
    };
    match mode {
        Mode::Clean => prop::collection::vec(clean(), 0..3).boxed(),
        // At most one odd server, so no repeat.
        Mode::Odd => (
            prop::collection::vec(clean(), 0..2),
            prop::option::of(strings(ODD_NAMESERVERS)),
        )
            .prop_map(|(mut servers, odd)| {
                servers.extend(odd);
                servers
            })
            .boxed(),
        Mode::Nasty => prop::collection::vec(
            prop_oneof![
                3 => clean(),
                3 => strings(ODD_NAMESERVERS),
                1 => strings(ALWAYS_BAD_NAMESERVERS)
            ],
            0..3,
        )
        .boxed(),
    }
}

/// Nasty sets share a few ports; the others keep every listener on its own port.
fn port(mode: Mode, apart: u16) -> BoxedStrategy<u16> {
    match mode {
        Mode::Nasty => select(NASTY_PORTS).boxed(),
        Mode::Clean | Mode::Odd => Just(apart).boxed(),
    }
}

/// (bindAddress, port, nodes, allowedSources) of one cluster.
fn cluster(mode: Mode, apart: u16) -> impl Strategy<Value = (String, u16, Value, Vec<String>)> {
    (
        bind_address(mode),
        port(mode, apart),
        nodes(mode),
        sources(mode),
    )
}

/// Every setting but the listeners, as in a real option set.
fn rest() -> impl Strategy<Value = Value> {
    (
        (
            select(vec!["https", "tls", "tcp"]),
            "/[a-z]{0,10}(\\?[a-z]{1,5}=[a-z0-9]{1,5})?",
            duration(),
            1u32..=100,
            1u32..=100,
        ),
        prop::collection::vec(duration(), 6),
        (
            select(vec!["leastconn", "roundrobin", "source", "first"]),
            select(vec!["shutdown-sessions", "none"]),
            0u32..=100,
            any::<bool>(),
            prop::option::of(duration()),
            select(vec!["/dev/log", "stdout", "stderr"]),
        ),
    )
        .prop_map(|(check, t, policy)| {
            let (kind, path, interval, fall, rise) = check;
            let (balance, on_down, retries, redispatch, hard_stop, log_target) = policy;
            json!({
                "healthCheck": {"type": kind, "path": path, "interval": interval, "fall": fall, "rise": rise},
                "timeouts": {"connect": t[0], "client": t[1], "server": t[2], "tunnel": t[3], "clientFin": t[4], "check": t[5]},
                "balance": balance,
                "onMarkedDown": on_down,
                "retries": retries,
                "redispatch": redispatch,
                "hardStopAfter": hard_stop,
                "log": {"target": log_target},
            })
        })
}

/// Workload backends `b0`…: (name, backend JSON), in every mode valid on their own unless
/// nasty (then a few HTTP-only or misplaced options).
fn backends(mode: Mode) -> BoxedStrategy<Vec<Value>> {
    let check = prop_oneof![
        Just(json!({"type": "tcp"})),
        Just(json!({"type": "tls", "interval": "5s", "fall": 2, "rise": 1})),
        "/[a-z]{0,8}".prop_map(|path| json!({"type": "http", "path": path, "expectStatus": 204})),
        "[a-z]{1,8}\\.example".prop_map(|host| json!({"type": "https", "host": host})),
    ];
    let extra = match mode {
        Mode::Nasty => prop_oneof![
            6 => Just(json!({})),
            1 => Just(json!({"sticky": "cookie"})),
            1 => Just(json!({"tls": true})),
            1 => Just(json!({"healthCheck": {"type": "tcp", "path": "/x"}})),
        ]
        .boxed(),
        Mode::Clean | Mode::Odd => Just(json!({})).boxed(),
    };
    let backend = (
        nodes(mode),
        check,
        select(vec!["leastconn", "roundrobin", "source", "first"]),
        select(vec!["none", "source"]),
        extra,
    )
        .prop_map(|(nodes, check, balance, sticky, extra)| {
            let mut backend =
                json!({"nodes": nodes, "healthCheck": check, "balance": balance, "sticky": sticky});
            for (key, value) in extra.as_object().unwrap() {
                backend[key] = value.clone();
            }
            backend
        });
    prop::collection::vec(backend, 0..3).boxed()
}

/// Host patterns of routes; `n` makes clean ones unique within an option set.
fn host(mode: Mode, n: usize) -> BoxedStrategy<String> {
    let clean = prop_oneof![
        "[a-z][a-z0-9-]{0,6}[a-z0-9]".prop_map(move |label| format!("{label}-{n}.example.com")),
        "[a-z]{1,6}".prop_map(move |label| format!("*.{label}-{n}.Example.COM")),
    ];
    match mode {
        Mode::Clean | Mode::Odd => clean.boxed(),
        // Repeats across routes (`login.example`) and patterns always refused.
        Mode::Nasty => prop_oneof![
            4 => clean,
            1 => Just("login.example".to_string()),
            1 => strings(ALWAYS_BAD_HOSTS),
        ]
        .boxed(),
    }
}

/// An extra route: (holder index, hosts, backend index or a missing backend).
type ExtraRoute = (usize, Vec<String>, Option<usize>);

/// Extra routes, beside the one every backend gets.
fn extra_routes(mode: Mode) -> BoxedStrategy<Vec<ExtraRoute>> {
    // Only nasty sets route to a backend that does not exist.
    let backend = match mode {
        Mode::Nasty => prop::option::weighted(0.8, 0usize..3).boxed(),
        Mode::Clean | Mode::Odd => (0usize..3).prop_map(Some).boxed(),
    };
    let route = (
        0usize..4,
        prop::collection::vec(0usize..1000, 1..3),
        backend,
    );
    prop::collection::vec(route, 0..3)
        .prop_flat_map(move |routes| {
            routes
                .into_iter()
                .enumerate()
                .map(|(i, (holder, hosts, backend))| {
                    let hosts: Vec<BoxedStrategy<String>> = hosts
                        .into_iter()
                        .enumerate()
                        .map(|(j, _)| host(mode, 100 + i * 10 + j))
                        .collect();
                    (Just(holder), hosts, Just(backend))
                })
                .collect::<Vec<_>>()
        })
        .boxed()
}

/// A third of each mode.
pub fn option_set() -> impl Strategy<Value = Value> {
    select(vec![Mode::Clean, Mode::Odd, Mode::Nasty]).prop_flat_map(|mode| {
        let nasty = mode == Mode::Nasty;
        (
            cluster(mode, 6443),
            prop::collection::vec(cluster(mode, 7000), 0..3),
            (
                any::<bool>(),
                prop::option::of(bind_address(mode)),
                sources(mode),
                any::<bool>(),
                prop::bool::weighted(0.3),
                port(mode, 8404),
            ),
            nameservers(mode),
            prop::collection::vec(any::<bool>(), 5),
            rest(),
            (
                backends(mode),
                (host(mode, 0), host(mode, 1), host(mode, 2)).prop_map(|(a, b, c)| vec![a, b, c]),
                extra_routes(mode),
            ),
        )
            .prop_map(move |(top, more, stats, nameservers, keep, rest, workloads)| {
                let (bind, frontend_port, nodes, allowed_sources) = top;
                let (stats_enable, stats_bind, stats_sources, prometheus, credentials, stats_port) = stats;
                let mut clusters = Map::new();
                for (i, (bind, port, nodes, sources)) in more.into_iter().enumerate() {
                    // A clean set spreads its cluster ports apart.
                    let port = if nasty { port } else { 7000 + i as u16 };
                    clusters.insert(
                        format!("c{i}"),
                        json!({"bindAddress": bind, "frontendPort": port, "controlPlaneNodes": nodes, "allowedSources": sources}),
                    );
                }
                let shorthand = nodes.as_array().is_some_and(|n| !n.is_empty()) || clusters.is_empty();
                let stats_reads_bind = stats_enable && stats_bind.is_none();
                let mut set = rest.as_object().unwrap().clone();
                // A clean set gives a top-level value only where something reads it; a nasty
                // one anywhere.
                let mut top = |key: &str, value: Value, read: bool, keep: bool| {
                    if if nasty { keep } else { read } {
                        set.insert(key.into(), value);
                    }
                };
                top("bindAddress", bind.into(), shorthand || stats_reads_bind, keep[0]);
                top("frontendPort", frontend_port.into(), shorthand, keep[1]);
                top("allowedSources", allowed_sources.into(), shorthand, keep[2]);
                top("statsPort", stats_port.into(), stats_enable, keep[3]);
                set.insert("controlPlaneNodes".into(), nodes);
                set.insert("clusters".into(), Value::Object(clusters));
                set.insert(
                    "stats".into(),
                    json!({
                        "enable": stats_enable,
                        "bindAddress": stats_bind,
                        "allowedSources": stats_sources,
                        "prometheus": prometheus,
                        "credentialsFile": if credentials { Value::from("/run/secrets/stats.env") } else { Value::Null },
                    }),
                );
                set.insert("resolvers".into(), json!({"nameservers": nameservers}));
                add_workloads(&mut set, workloads, shorthand || (nasty && keep[4]));
                Value::Object(set)
            })
    })
}

type Workloads = (Vec<Value>, Vec<String>, Vec<ExtraRoute>);

/// Backends `b0`… and routes: each backend gets one route (so none is unused), spread over the
/// listeners (the top level when `top` holds routes, then the clusters), plus the extra routes.
fn add_workloads(set: &mut Map<String, Value>, workloads: Workloads, top: bool) {
    let (backends, first_hosts, extra) = workloads;
    let names: Vec<String> = (0..backends.len()).map(|i| format!("b{i}")).collect();
    let mut holders: Vec<Vec<Value>> = Vec::new();
    let cluster_names: Vec<String> = set["clusters"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let holder_count = usize::from(top) + cluster_names.len();
    if holder_count == 0 {
        return;
    }
    holders.resize(holder_count, Vec::new());
    for (i, name) in names.iter().enumerate() {
        holders[i % holder_count].push(json!({"hosts": [first_hosts[i]], "backend": name}));
    }
    for (holder, hosts, backend) in extra {
        let backend = match backend {
            Some(index) if index < names.len() => names[index].clone(),
            Some(_) if names.is_empty() => continue,
            Some(index) => names[index % names.len()].clone(),
            None => MISSING_BACKEND.to_string(),
        };
        holders[holder % holder_count].push(json!({"hosts": hosts, "backend": backend}));
    }
    let mut holders = holders.into_iter();
    if top {
        set.insert("sniRoutes".into(), Value::from(holders.next().unwrap()));
    }
    for (name, routes) in cluster_names.iter().zip(holders) {
        set["clusters"][name]["sniRoutes"] = Value::from(routes);
    }
    let backends: Map<String, Value> = names.into_iter().zip(backends).collect();
    set.insert("backends".into(), Value::Object(backends));
}

/// Whether the set holds a value that no option set may hold where the generator puts it.
pub fn must_be_refused(set: &Value) -> Option<String> {
    let stats_enabled = set["stats"]["enable"].as_bool() == Some(true);
    let mut binds = vec![&set["bindAddress"]];
    let mut nodes: Vec<&Value> = Vec::new();
    let mut sources: Vec<&Value> = Vec::new();
    if stats_enabled {
        binds.push(&set["stats"]["bindAddress"]);
        sources.extend(
            set["stats"]["allowedSources"]
                .as_array()
                .into_iter()
                .flatten(),
        );
    }
    let clusters = set["clusters"]
        .as_object()
        .into_iter()
        .flat_map(|c| c.values());
    for cluster in std::iter::once(set).chain(clusters) {
        if !std::ptr::eq(cluster, set) {
            binds.push(&cluster["bindAddress"]);
        }
        nodes.extend(
            cluster["controlPlaneNodes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| &n["address"]),
        );
        sources.extend(cluster["allowedSources"].as_array().into_iter().flatten());
    }
    let nameservers = set["resolvers"]["nameservers"]
        .as_array()
        .into_iter()
        .flatten();
    let found = |values: Vec<&Value>, bad: &[&str], what: &str| {
        values
            .into_iter()
            .filter_map(Value::as_str)
            .find(|v| bad.contains(v))
            .map(|v| format!("{what} {v}"))
    };
    found(binds, ALWAYS_BAD_BINDS, "bind address")
        .or_else(|| found(nodes, ALWAYS_BAD_NODES, "node address"))
        .or_else(|| found(nameservers.collect(), ALWAYS_BAD_NAMESERVERS, "nameserver"))
        .or_else(|| found(sources, ALWAYS_BAD_SOURCES, "source"))
        .or_else(|| bad_route(set))
}

/// A route anywhere with a host that is always refused or a backend that does not exist
/// (top-level routes are read, or refused for being unread).
fn bad_route(set: &Value) -> Option<String> {
    let clusters = set["clusters"]
        .as_object()
        .into_iter()
        .flat_map(|c| c.values());
    let routes = std::iter::once(set)
        .chain(clusters)
        .flat_map(|holder| holder["sniRoutes"].as_array().into_iter().flatten());
    for route in routes {
        if route["backend"] == MISSING_BACKEND {
            return Some("a route to a missing backend".into());
        }
        for host in route["hosts"].as_array().into_iter().flatten() {
            if ALWAYS_BAD_HOSTS.contains(&host.as_str().unwrap_or("")) {
                return Some(format!("SNI host {host}"));
            }
        }
    }
    None
}

/// Whether the set spells an address in a form that must be canonicalised before it is
/// compared or printed (`::0`, `[::]`, `0.0.0.0`, `::ffff:…`, `[fd00::1]`, `CP1.Example.`).
pub fn needs_canonical_form(set: &Value) -> bool {
    let text = set.to_string();
    [
        "::0",
        "[::]",
        "0.0.0.0",
        "::ffff:",
        "[fd00::1]",
        "[fd00::10]",
        "CP1.Example.",
    ]
    .iter()
    .any(|spelling| text.contains(spelling))
}
