//! Workload traffic in `haproxy.cfg`: the SNI rules of an API frontend and the workload
//! backends they lead to.

use super::haproxy_cfg::{line, section, server_line};
use crate::plan::*;
use std::fmt::Write;

/// Cluster names cannot contain `.`, and neither can backend names, so `k8s-backend.` can
/// never collide with `k8s-api.`, `k8s-nodes.` or `k8s-stats`.
pub(crate) fn backend_name(backend: &str) -> String {
    format!("k8s-backend.{backend}")
}

/// How long the frontend waits for a complete ClientHello: a hello that is complete is
/// accepted at once (the `accept` rule), so only a client that sends nothing (or no TLS)
/// waits this long before it goes to the apiservers. 5s as in seed 000; a client that has not
/// sent its hello by then is not going to.
const INSPECT_DELAY: &str = "5s";

/// SNI routing rules of a frontend, before its `default_backend` (the apiservers). Exact
/// names come before wildcards, so an exact name wins (Kubernetes Ingress semantics).
pub(super) fn sni_rules(out: &mut String, cluster: &ClusterPlan) {
    if cluster.sni_routes.is_empty() {
        return;
    }
    line(out, format!("tcp-request inspect-delay {INSPECT_DELAY}"));
    line(
        out,
        "tcp-request content accept if { req.ssl_hello_type 1 }",
    );
    let exact = cluster
        .sni_routes
        .iter()
        .filter(|route| matches!(route.host, HostPattern::Exact(_)));
    let wildcards = cluster
        .sni_routes
        .iter()
        .filter(|route| matches!(route.host, HostPattern::Wildcard { .. }));
    // One line per host keeps every line far below HAProxy's 64 words.
    for route in exact.chain(wildcards) {
        line(
            out,
            format!(
                "use_backend {} if {{ req.ssl_sni,lower {} }}",
                backend_name(&route.backend),
                sni_match(&route.host)
            ),
        );
    }
}

/// The ACL matcher of one host pattern. Names are `[a-z0-9.-]` (validated), so the regex
/// needs no escaping beyond the dots, written `[.]` because HAProxy's tokenizer would eat a
/// backslash; `[^.]+` is exactly one label.
fn sni_match(host: &HostPattern) -> String {
    match host {
        HostPattern::Exact(name) => format!("-m str {name}"),
        HostPattern::Wildcard { suffix } => {
            format!("-m reg ^[^.]+[.]{}$", suffix.replace('.', "[.]"))
        }
    }
}

pub(super) fn backends(out: &mut String, plan: &Plan) {
    for backend in &plan.backends {
        backend_section(out, plan, backend);
    }
}

fn backend_section(out: &mut String, plan: &Plan, backend: &BackendPlan) {
    section(out, format!("backend {}", backend_name(&backend.name)));
    line(out, "mode tcp");
    line(out, format!("balance {}", backend.balance));
    match &backend.check {
        BackendCheck::Tcp => {}
        BackendCheck::Tls => {
            line(out, "option tcp-check");
            line(out, "tcp-check connect ssl");
        }
        BackendCheck::Http {
            tls,
            path,
            expect_status,
            host,
        } => {
            line(out, "option httpchk");
            let mut connect = String::from("http-check connect");
            if *tls {
                connect.push_str(" ssl");
                if let Some(host) = host {
                    let _ = write!(connect, " sni {host}");
                }
            }
            line(out, connect);
            let mut send = format!("http-check send meth GET uri {path}");
            if let Some(host) = host {
                let _ = write!(send, " ver HTTP/1.1 hdr Host {host}");
            }
            line(out, send);
            if let Some(status) = expect_status {
                line(out, format!("http-check expect status {status}"));
            }
        }
    }
    for stick in stick_table(plan, backend) {
        line(out, stick);
    }
    let check = check_arguments(backend);
    for node in &backend.nodes {
        line(out, server_line(node, &check));
    }
}

/// The stickiness lines of a backend; the table joins the `peers` section of a load-balancer
/// pair when there is one (render/peers.rs), as every stick table does. `type ipv6` holds IPv4 clients too (as
/// mapped addresses), so one table serves a dual-stack listener; 30m keeps a client on its
/// node across a break without growing without bound (100k entries ≈ a few MB).
pub(crate) fn stick_table(plan: &Plan, backend: &BackendPlan) -> Vec<String> {
    match backend.sticky {
        Sticky::None => Vec::new(),
        Sticky::Source => vec![
            super::peers::synced(
                plan,
                "stick-table type ipv6 size 100k expire 30m".to_string(),
            ),
            "stick on src".to_string(),
        ],
    }
}

/// Per-server check settings: the backend's own interval/fall/rise (the `defaults` section
/// carries the API's), and `verify none` for TLS checks: a workload's certificate is issued
/// for its clients' names, and the data path is passthrough, so nothing is trusted on it.
fn check_arguments(backend: &BackendPlan) -> String {
    let mut arguments = format!(
        " inter {} fall {} rise {}",
        backend.interval, backend.fall, backend.rise
    );
    let tls = match &backend.check {
        BackendCheck::Tcp => false,
        BackendCheck::Tls => true,
        BackendCheck::Http { tls, .. } => *tls,
    };
    if tls {
        arguments.push_str(" verify none");
    }
    arguments
}
