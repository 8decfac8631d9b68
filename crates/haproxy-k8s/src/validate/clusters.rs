//! Clusters: the top-level shorthand (seed 004) becomes a [`Cluster`] first, so one path
//! validates every cluster; a top-level value that no cluster reads is refused.

use super::addresses;
use super::fields::{self, show};
use super::report::{all, Checked, Report};
use crate::input::{Cluster, Input, Node};
use crate::plan::{ClusterPlan, Listener, NodePlan};
use ipnet::IpNet;
use std::collections::HashSet;

/// The name the top-level (seed 004) cluster gets; `clusters.default` is therefore reserved.
pub const SHORTHAND_CLUSTER: &str = "default";

/// The shorthand cluster (when it exists) plus `clusters.<name>`.
pub(super) fn clusters(input: &Input, report: &mut Report) -> Checked<Vec<ClusterPlan>> {
    let mut plans = Vec::new();
    if shorthand_exists(input) {
        plans.push(cluster(
            SHORTHAND_CLUSTER,
            "",
            &input.shorthand(),
            input,
            report,
        ));
    } else {
        refuse_unused_shorthand_values(input, report);
    }
    for (name, spec) in &input.clusters {
        let base = format!("clusters.{name}");
        let valid_name = if name == SHORTHAND_CLUSTER {
            Err(report.error(
                &base,
                "the name `default` is taken by the top-level frontendPort/bindAddress/controlPlaneNodes: pick another",
            ))
        } else {
            report.check(&base, fields::name(name, false)).map(drop)
        };
        let plan = cluster(name, &format!("{base}."), spec, input, report);
        plans.push(valid_name.and(plan));
    }
    all(plans)
}

/// The top-level fields form a cluster when they carry nodes, or when nothing else does
/// (seed 004's module example, with every node commented out, must still build).
pub(super) fn shorthand_exists(input: &Input) -> bool {
    !input.control_plane_nodes.is_empty() || input.clusters.is_empty()
}

const NO_SHORTHAND: &str = "is set, but nothing reads it: the top-level frontendPort/bindAddress/allowedSources belong to the cluster `default`, which exists only while controlPlaneNodes is non-empty or clusters is empty";

/// Fail closed: ignoring a top-level `allowedSources` beside `clusters` would leave a port
/// open to anyone that the user meant to restrict.
fn refuse_unused_shorthand_values(input: &Input, report: &mut Report) {
    if input.frontend_port.is_some() {
        report.error(
            "frontendPort",
            format!("{NO_SHORTHAND}; set clusters.<name>.frontendPort instead"),
        );
    }
    if input.allowed_sources.is_some() {
        report.error(
            "allowedSources",
            format!("{NO_SHORTHAND}, so it would restrict no listener; set clusters.<name>.allowedSources instead"),
        );
    }
    // An empty list routes nothing, so only a non-empty one is lost.
    if input
        .sni_routes
        .as_ref()
        .is_some_and(|routes| !routes.is_empty())
    {
        report.error(
            "sniRoutes",
            format!("{NO_SHORTHAND}, so no listener would route by it; set clusters.<name>.sniRoutes instead"),
        );
    }
    let stats_reads_it = input.stats.enable && input.stats.bind_address.is_none();
    if input.bind_address.is_some() && !stats_reads_it {
        report.error(
            "bindAddress",
            format!("{NO_SHORTHAND} (and the stats listener has its own stats.bindAddress or is disabled); set clusters.<name>.bindAddress instead"),
        );
    }
}

/// One cluster; `prefix` is `""` for the shorthand and `clusters.<name>.` otherwise.
fn cluster(
    name: &str,
    prefix: &str,
    spec: &Cluster,
    input: &Input,
    report: &mut Report,
) -> Checked<ClusterPlan> {
    let address = report.check(
        &format!("{prefix}bindAddress"),
        addresses::bind_address(&spec.bind_address),
    );
    let port_path = format!("{prefix}frontendPort");
    let port = report.check(&port_path, fields::port(spec.frontend_port));
    let sources = sources(
        &format!("{prefix}allowedSources"),
        &spec.allowed_sources,
        report,
    );
    let nodes_path = format!("{prefix}controlPlaneNodes");
    let nodes = nodes(&nodes_path, &spec.control_plane_nodes, "cluster", report);
    let sni_routes = super::sni::routes(prefix, &spec.sni_routes, input, report);
    if spec.control_plane_nodes.is_empty() {
        report.warn(
            &nodes_path,
            format!("is empty: cluster `{name}` has no kube-apiserver to forward to, so its API frontend closes every connection it accepts; list the control-plane nodes here"),
        );
    }
    Ok(ClusterPlan {
        name: name.to_string(),
        listener: Listener {
            address: address?,
            port: port?,
        },
        nodes: nodes?,
        allowed_sources: sources?,
        port_option: report.paths().join(&port_path),
        sni_routes: sni_routes?,
    })
}

/// The nodes of a cluster or (`owner` = "backend") of a workload backend.
pub(super) fn nodes(
    base: &str,
    nodes: &[Node],
    owner: &str,
    report: &mut Report,
) -> Checked<Vec<NodePlan>> {
    let mut names = HashSet::new();
    let mut endpoints = HashSet::new();
    let plans = nodes
        .iter()
        .enumerate()
        .map(|(index, node)| {
            let at = format!("{base}.{index}");
            let name = report.check(&format!("{at}.name"), fields::name(&node.name, true));
            if name.is_ok() && !names.insert(node.name.clone()) {
                report.error(
                    &format!("{at}.name"),
                    format!(
                        "{} is used by another node of this {owner}: node names must be unique",
                        show(&node.name)
                    ),
                );
            }
            let address = report.check(
                &format!("{at}.address"),
                addresses::node_address(&node.address),
            );
            let port = report.check(&format!("{at}.port"), fields::port(node.port));
            let weight = report.check(
                &format!("{at}.weight"),
                fields::in_range(node.weight, 0, 256),
            );
            // Canonical addresses: `CP1.example.` and `cp1.example` are one endpoint.
            if let (Ok(address), Ok(port)) = (&address, port) {
                if !endpoints.insert((address.clone(), port)) {
                    report.error(
                        &format!("{at}.address"),
                        format!(
                            "{}:{port} is listed twice in this {owner}",
                            show(&node.address)
                        ),
                    );
                }
            }
            Ok(NodePlan {
                name: name?,
                address: address?,
                port: port?,
                weight: weight? as u16,
                backup: node.backup,
            })
        })
        .collect();
    all(plans)
}

/// Source networks, canonical and each once (a repeat would only repeat firewall rules).
pub(super) fn sources(base: &str, values: &[String], report: &mut Report) -> Checked<Vec<IpNet>> {
    let checked = values
        .iter()
        .enumerate()
        .map(|(index, value)| report.check(&format!("{base}.{index}"), addresses::cidr(value)))
        .collect();
    let mut nets = all(checked)?;
    let mut seen = HashSet::new();
    nets.retain(|net| seen.insert(*net));
    Ok(nets)
}
