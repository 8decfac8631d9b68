//! Workload backends (`backends.<name>`): nodes, balancing, health check and stickiness.
//! Only TCP passthrough uses them so far, so the HTTP-only options are refused with a clear
//! message instead of being silently ignored.

use super::addresses;
use super::clusters::nodes;
use super::fields::{self, show};
use super::report::{all, optional, Checked, Report};
use crate::input::{Backend, BackendHealthCheck, Input, Node};
use crate::plan::{BackendCheck, BackendPlan, Sticky};

const CHECK_TYPES: &[&str] = &["tcp", "tls", "http", "https"];
const STICKY: &[&str] = &["none", "source", "cookie"];
const HTTP_ONLY: &str =
    "HTTP routing (the `http` option) is not implemented yet: backends serve sniRoutes (TCP passthrough) only";

pub(super) fn backends(input: &Input, report: &mut Report) -> Checked<Vec<BackendPlan>> {
    let plans = input
        .backends
        .iter()
        .map(|(name, spec)| backend(name, spec, report))
        .collect();
    all(plans)
}

fn backend(name: &str, spec: &Backend, report: &mut Report) -> Checked<BackendPlan> {
    let base = format!("backends.{name}");
    // No `.`: the proxy is `k8s-backend.<name>`, so it cannot collide with another proxy.
    let valid_name = report.check(&base, fields::name(name, false));
    let as_api_nodes: Vec<Node> = spec
        .nodes
        .iter()
        .map(|node| Node {
            name: node.name.clone(),
            address: node.address.clone(),
            port: node.port,
            weight: node.weight,
            backup: node.backup,
        })
        .collect();
    let nodes_path = format!("{base}.nodes");
    let nodes = nodes(&nodes_path, &as_api_nodes, "backend", report);
    if spec.nodes.is_empty() {
        report.warn(
            &nodes_path,
            format!("is empty: backend `{name}` has no node to forward to, so connections routed to it are closed; list its nodes here"),
        );
    }
    let balance = report.check(
        &format!("{base}.balance"),
        fields::one_of(&spec.balance, super::BALANCE),
    );
    let check = check(&base, &spec.health_check, report);
    let interval = report.check(
        &format!("{base}.healthCheck.interval"),
        fields::duration(&spec.health_check.interval, false),
    );
    let fall = report.check(
        &format!("{base}.healthCheck.fall"),
        fields::in_range(spec.health_check.fall, 1, 100),
    );
    let rise = report.check(
        &format!("{base}.healthCheck.rise"),
        fields::in_range(spec.health_check.rise, 1, 100),
    );
    let sticky = sticky(&base, spec, report);
    for (option, set) in [
        ("tls", spec.tls.is_some()),
        ("caFile", spec.ca_file.is_some()),
    ] {
        if set {
            report.error(
                &format!("{base}.{option}"),
                format!("re-encrypts HTTP traffic to the nodes, but {HTTP_ONLY}; sniRoutes pass TLS through unterminated, so leave it null"),
            );
        }
    }
    valid_name?;
    Ok(BackendPlan {
        name: name.to_string(),
        nodes: nodes?,
        balance: balance?,
        check: check?,
        interval: interval?,
        fall: fall?,
        rise: rise?,
        sticky: sticky?,
    })
}

fn sticky(base: &str, spec: &Backend, report: &mut Report) -> Checked<Sticky> {
    let path = format!("{base}.sticky");
    let kind = report.check(&path, fields::one_of(&spec.sticky, STICKY));
    if kind == Ok("cookie") {
        report.error(
            &path,
            format!("\"cookie\" needs HTTP, but {HTTP_ONLY}; use \"source\" to keep a client on one node by its address"),
        );
    }
    if spec.cookie_name.is_some() {
        report.error(
            &format!("{base}.cookieName"),
            format!("is only read with sticky = \"cookie\", and {HTTP_ONLY}; leave it null"),
        );
    }
    match kind? {
        "none" => Ok(Sticky::None),
        "source" => Ok(Sticky::Source),
        _ => Err(super::report::Reported),
    }
}

fn check(base: &str, spec: &BackendHealthCheck, report: &mut Report) -> Checked<BackendCheck> {
    let at = format!("{base}.healthCheck");
    let kind = report.check(
        &format!("{at}.type"),
        fields::one_of(&spec.kind, CHECK_TYPES),
    );
    let path = optional(
        report,
        &format!("{at}.path"),
        spec.path.as_deref(),
        |path| fields::url_path(path, true),
    );
    let status = spec
        .expect_status
        .map(|status| {
            report.check(
                &format!("{at}.expectStatus"),
                fields::in_range(status, 100, 599).map(|status| status as u16),
            )
        })
        .transpose();
    let host = optional(
        report,
        &format!("{at}.host"),
        spec.host.as_deref(),
        |host| {
            addresses::hostname(host)
                .map_err(|why| format!("{} is not a hostname: {why}", show(host)))
        },
    );
    let kind = kind?;
    if matches!(kind, "tcp" | "tls") {
        // Only an HTTP check sends a request: these would silently do nothing.
        for (option, set) in [
            ("path", spec.path.is_some()),
            ("expectStatus", spec.expect_status.is_some()),
            ("host", spec.host.is_some()),
        ] {
            if set {
                report.error(
                    &format!("{at}.{option}"),
                    format!("has no effect with type = \"{kind}\": use \"http\" or \"https\", or leave it null"),
                );
            }
        }
    }
    Ok(match kind {
        "tcp" => BackendCheck::Tcp,
        "tls" => BackendCheck::Tls,
        http => BackendCheck::Http {
            tls: http == "https",
            path: path?.unwrap_or_else(|| "/".to_string()),
            expect_status: status?,
            host: host?,
        },
    })
}
