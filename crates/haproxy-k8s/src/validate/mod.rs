//! Input → Plan. Walks the whole input, collecting every error with its option path.

mod fields;
mod listeners;

use crate::errors::{ErrorSink, InputErrors, OptionPath};
use crate::input::{Input, Node};
use crate::plan::*;
use std::collections::HashSet;

/// The name the top-level (seed 004) cluster gets; `clusters.default` is therefore reserved.
pub const SHORTHAND_CLUSTER: &str = "default";

const BALANCE: &[&str] = &["leastconn", "roundrobin", "source", "first"];
const ON_MARKED_DOWN: &[&str] = &["shutdown-sessions", "none"];
const CHECK_TYPES: &[&str] = &["https", "tls", "tcp"];
const FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];
const LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

pub fn validate(input: &Input, paths: OptionPath) -> Result<Plan, InputErrors> {
    let mut sink = ErrorSink::new(paths);
    let plan = build(input, &mut sink);
    sink.finish()?;
    Ok(plan.expect("a plan is complete whenever no error was recorded"))
}

/// Checks every field, recording errors; returns a plan only if every field was valid.
fn build(input: &Input, sink: &mut ErrorSink) -> Option<Plan> {
    let clusters = clusters(input, sink);
    let stats = stats(input, sink);
    let health = health(input, sink);
    let timeouts = timeouts(input, sink);
    let balance = sink.check("balance", fields::one_of(&input.balance, BALANCE));
    let on_down = sink.check(
        "onMarkedDown",
        fields::one_of(&input.on_marked_down, ON_MARKED_DOWN),
    );
    let retries = sink.check("retries", fields::in_range(input.retries, 0, 100));
    let admin_socket = sink.check("adminSocket", admin_socket(&input.admin_socket));
    let max_connections = sink.check(
        "maxConnections",
        fields::in_range(input.max_connections, 1, 10_000_000),
    );
    let hard_stop_after = match &input.hard_stop_after {
        None => Some(None),
        Some(value) => sink
            .check("hardStopAfter", fields::duration(value, false))
            .map(Some),
    };
    let log = log(input, sink);
    let firewall_interface = match &input.firewall.interface {
        None => Some(None),
        Some(name) => sink
            .check("firewall.interface", fields::interface(name))
            .map(Some),
    };
    let extra = extra(input, sink);

    let clusters = clusters?;
    let uses_hostnames = clusters
        .iter()
        .flat_map(|cluster| &cluster.nodes)
        .any(|node| matches!(node.address, NodeAddress::Hostname(_)));
    let resolvers = resolvers(input, uses_hostnames, sink);
    let stats = stats?;
    check_listeners(&clusters, stats.as_ref(), sink);

    Some(Plan {
        clusters,
        stats,
        health: health?,
        timeouts: timeouts?,
        balance: balance?,
        shutdown_sessions_on_down: on_down? == "shutdown-sessions",
        retries: retries?,
        redispatch: input.redispatch,
        admin_socket: admin_socket?,
        max_connections: max_connections?,
        hard_stop_after: hard_stop_after?,
        log: log?,
        resolvers: resolvers?,
        firewall_interface: firewall_interface?,
        extra: extra?,
    })
}

/// The shorthand cluster (seed 004's top-level fields) plus `clusters.<name>`.
fn clusters(input: &Input, sink: &mut ErrorSink) -> Option<Vec<ClusterPlan>> {
    let mut plans = Vec::new();
    let mut complete = true;
    // The top-level fields form a cluster when they carry nodes, or when nothing else does
    // (seed 004's module example, with every node commented out, must still build).
    if !input.control_plane_nodes.is_empty() || input.clusters.is_empty() {
        let plan = cluster(
            SHORTHAND_CLUSTER,
            "",
            &input.bind_address,
            input.frontend_port,
            &input.control_plane_nodes,
            &input.allowed_sources,
            sink,
        );
        complete &= plan.is_some();
        plans.extend(plan);
    }
    for (name, spec) in &input.clusters {
        let base = format!("clusters.{name}");
        let valid_name = if name == SHORTHAND_CLUSTER {
            sink.push(
                &base,
                "the name `default` is taken by the top-level frontendPort/bindAddress/controlPlaneNodes: pick another",
            );
            None
        } else {
            sink.check(&base, fields::name(name, false))
        };
        let plan = cluster(
            name,
            &format!("{base}."),
            &spec.bind_address,
            spec.frontend_port,
            &spec.control_plane_nodes,
            &spec.allowed_sources,
            sink,
        );
        complete &= plan.is_some() && valid_name.is_some();
        plans.extend(plan);
    }
    complete.then_some(plans)
}

fn cluster(
    name: &str,
    prefix: &str,
    bind_address: &str,
    port: i64,
    nodes: &[Node],
    allowed_sources: &[String],
    sink: &mut ErrorSink,
) -> Option<ClusterPlan> {
    let address = sink.check(
        &format!("{prefix}bindAddress"),
        fields::bind_address(bind_address),
    );
    let port_path = format!("{prefix}frontendPort");
    let port = sink.check(&port_path, fields::port(port));
    let sources = cidrs(&format!("{prefix}allowedSources"), allowed_sources, sink);
    let nodes = cluster_nodes(&format!("{prefix}controlPlaneNodes"), nodes, sink);
    Some(ClusterPlan {
        name: name.to_string(),
        listener: Listener {
            address: address?,
            port: port?,
        },
        nodes: nodes?,
        allowed_sources: sources?,
        port_option: sink.paths().join(&port_path),
    })
}

fn cluster_nodes(base: &str, nodes: &[Node], sink: &mut ErrorSink) -> Option<Vec<NodePlan>> {
    let mut plans = Vec::new();
    let mut complete = true;
    let mut names = HashSet::new();
    let mut endpoints = HashSet::new();
    for (index, node) in nodes.iter().enumerate() {
        let at = format!("{base}.{index}");
        let name = sink.check(&format!("{at}.name"), fields::name(&node.name, true));
        if name.is_some() && !names.insert(node.name.clone()) {
            sink.push(
                &format!("{at}.name"),
                format!(
                    "{} is used by another node of this cluster: node names must be unique",
                    fields::show(&node.name)
                ),
            );
        }
        let address = sink.check(
            &format!("{at}.address"),
            fields::node_address(&node.address),
        );
        let port = sink.check(&format!("{at}.port"), fields::port(node.port));
        let weight = sink.check(
            &format!("{at}.weight"),
            fields::in_range(node.weight, 0, 256),
        );
        if let (Some(address), Some(port)) = (&address, port) {
            if !endpoints.insert((address.clone(), port)) {
                sink.push(
                    &format!("{at}.address"),
                    format!(
                        "{}:{port} is listed twice in this cluster",
                        fields::show(&node.address)
                    ),
                );
            }
        }
        match (name, address, port, weight) {
            (Some(name), Some(address), Some(port), Some(weight)) => plans.push(NodePlan {
                name,
                address,
                port,
                weight: weight as u16,
                backup: node.backup,
            }),
            _ => complete = false,
        }
    }
    complete.then_some(plans)
}

fn cidrs(base: &str, values: &[String], sink: &mut ErrorSink) -> Option<Vec<ipnet::IpNet>> {
    let checked: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(index, value)| sink.check(&format!("{base}.{index}"), fields::cidr(value)))
        .collect();
    checked.into_iter().collect()
}

fn stats(input: &Input, sink: &mut ErrorSink) -> Option<Option<StatsPlan>> {
    let stats = &input.stats;
    if !stats.enable {
        return Some(None);
    }
    let (address_path, address) = match &stats.bind_address {
        Some(address) => ("stats.bindAddress", address),
        None => ("bindAddress", &input.bind_address),
    };
    let address = sink.check(address_path, fields::bind_address(address));
    let port = sink.check("statsPort", fields::port(input.stats_port));
    let sources = cidrs("stats.allowedSources", &stats.allowed_sources, sink);
    let uri = sink.check("stats.uri", fields::url_path(&stats.uri, false));
    if uri.as_deref() == Some("/metrics") && stats.prometheus {
        sink.push(
            "stats.uri",
            "`/metrics` is where the Prometheus exporter answers: pick another path",
        );
    }
    let refresh = sink.check("stats.refresh", fields::duration(&stats.refresh, false));
    let credentials = match &stats.credentials_file {
        None => Some(false),
        Some(path) => sink
            .check("stats.credentialsFile", fields::secret_path(path))
            .map(|_| true),
    };
    Some(Some(StatsPlan {
        listener: Listener {
            address: address?,
            port: port?,
        },
        allowed_sources: sources?,
        uri: uri?,
        prometheus: stats.prometheus,
        refresh: refresh?,
        require_credentials: credentials?,
        port_option: sink.paths().join("statsPort"),
    }))
}

fn health(input: &Input, sink: &mut ErrorSink) -> Option<HealthPlan> {
    let check = &input.health_check;
    let kind_name = sink.check("healthCheck.type", fields::one_of(&check.kind, CHECK_TYPES));
    let path = sink.check("healthCheck.path", fields::url_path(&check.path, true));
    let status = sink.check(
        "healthCheck.expectStatus",
        fields::in_range(check.expect_status, 100, 599),
    );
    let interval = sink.check(
        "healthCheck.interval",
        fields::duration(&check.interval, false),
    );
    let fall = sink.check("healthCheck.fall", fields::in_range(check.fall, 1, 100));
    let rise = sink.check("healthCheck.rise", fields::in_range(check.rise, 1, 100));
    let ca_file = optional(
        sink,
        "healthCheck.caFile",
        &check.ca_file,
        fields::absolute_path,
    );
    let client_certificate = optional(
        sink,
        "healthCheck.clientCertificate",
        &check.client_certificate,
        fields::secret_path,
    );
    if kind_name == Some("tcp") {
        // A TCP connect check speaks no TLS, so these would silently do nothing.
        for (path, value) in [
            ("healthCheck.caFile", &check.ca_file),
            ("healthCheck.clientCertificate", &check.client_certificate),
        ] {
            if value.is_some() {
                sink.push(path, "has no effect with healthCheck.type = \"tcp\": use \"https\" or \"tls\", or leave it null");
            }
        }
    }
    let kind = match kind_name? {
        "https" => CheckKind::Https {
            path: path?,
            expect_status: status? as u16,
        },
        "tls" => CheckKind::Tls,
        _ => CheckKind::Tcp,
    };
    Some(HealthPlan {
        kind,
        interval: interval?,
        fall: fall?,
        rise: rise?,
        ca_file: ca_file?,
        client_certificate: client_certificate?,
    })
}

fn optional(
    sink: &mut ErrorSink,
    path: &str,
    value: &Option<String>,
    check: fn(&str) -> Result<String, String>,
) -> Option<Option<String>> {
    match value {
        None => Some(None),
        Some(value) => sink.check(path, check(value)).map(Some),
    }
}

fn timeouts(input: &Input, sink: &mut ErrorSink) -> Option<TimeoutsPlan> {
    let t = &input.timeouts;
    let mut one = |name: &str, value: &str| {
        sink.check(&format!("timeouts.{name}"), fields::duration(value, false))
    };
    let connect = one("connect", &t.connect);
    let client = one("client", &t.client);
    let server = one("server", &t.server);
    let tunnel = one("tunnel", &t.tunnel);
    let client_fin = one("clientFin", &t.client_fin);
    let check = one("check", &t.check);
    Some(TimeoutsPlan {
        connect: connect?,
        client: client?,
        server: server?,
        tunnel: tunnel?,
        client_fin: client_fin?,
        check: check?,
    })
}

fn admin_socket(path: &str) -> Result<String, String> {
    let path = fields::absolute_path(path)?;
    // sun_path holds 108 bytes including the terminating NUL.
    if path.len() > 107 {
        return Err(format!(
            "{} is longer than a Unix socket path may be (107 bytes)",
            fields::show(&path)
        ));
    }
    Ok(path)
}

fn log(input: &Input, sink: &mut ErrorSink) -> Option<LogPlan> {
    let target = match input.log.target.as_str() {
        "stdout" | "stderr" => Some(input.log.target.clone()),
        other => sink.check("log.target", fields::absolute_path(other).map_err(|why| {
            format!("{why} (use `stdout`, `stderr` or the absolute path of a syslog socket such as /dev/log)")
        })),
    };
    let facility = sink.check(
        "log.facility",
        fields::one_of(&input.log.facility, FACILITIES),
    );
    let level = sink.check("log.level", fields::one_of(&input.log.level, LEVELS));
    Some(LogPlan {
        target: target?,
        facility: facility?,
        level: level?,
    })
}

fn resolvers(input: &Input, needed: bool, sink: &mut ErrorSink) -> Option<Option<ResolversPlan>> {
    let servers: Vec<_> = input
        .resolvers
        .nameservers
        .iter()
        .enumerate()
        .map(|(index, value)| {
            sink.check(
                &format!("resolvers.nameservers.{index}"),
                fields::nameserver(value),
            )
        })
        .collect();
    let hold = sink.check(
        "resolvers.hold",
        fields::duration(&input.resolvers.hold, false),
    );
    let servers: Option<Vec<_>> = servers.into_iter().collect();
    let plan = ResolversPlan {
        nameservers: servers?,
        hold: hold?,
    };
    Some(needed.then_some(plan))
}

fn extra(input: &Input, sink: &mut ErrorSink) -> Option<ExtraPlan> {
    let e = &input.extra_config;
    let mut one = |name: &str, value: &str| {
        sink.check(&format!("extraConfig.{name}"), fields::extra_lines(value))
    };
    let global = one("global", &e.global);
    let defaults = one("defaults", &e.defaults);
    let frontend = one("frontend", &e.frontend);
    let backend = one("backend", &e.backend);
    let stats = one("stats", &e.stats);
    Some(ExtraPlan {
        global: global?,
        defaults: defaults?,
        frontend: frontend?,
        backend: backend?,
        stats: stats?,
    })
}

fn check_listeners(clusters: &[ClusterPlan], stats: Option<&StatsPlan>, sink: &mut ErrorSink) {
    let mut seen: Vec<(Listener, String)> = Vec::new();
    let cluster_listeners = clusters.iter().map(|c| (c.listener, c.port_option.clone()));
    let stats_listener = stats.map(|s| (s.listener, s.port_option.clone()));
    for (listener, option) in cluster_listeners.chain(stats_listener) {
        if let Some((other, other_option)) = seen
            .iter()
            .find(|(other, _)| listeners::overlap(other, &listener))
        {
            sink.push_full_path(
                &option,
                format!("listening on {listener} clashes with {other_option} on {other}: two listeners cannot share an address and port"),
            );
        }
        seen.push((listener, option));
    }
}
