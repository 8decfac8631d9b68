//! Input → Plan. Walks the whole input, collecting every error (and warning) with its option
//! path; one module per part of the option set.

mod addresses;
mod backends;
mod clusters;
mod fields;
mod global;
mod health;
mod listeners;
mod peers;
mod report;
mod resolvers;
mod sni;
mod stats;
mod vip;

pub use clusters::SHORTHAND_CLUSTER;

use crate::errors::{InputErrors, OptionPath};
use crate::input::Input;
use crate::plan::{NodeAddress, Plan};
use report::{optional, Checked, Report};

const BALANCE: &[&str] = &["leastconn", "roundrobin", "source", "first"];
const ON_MARKED_DOWN: &[&str] = &["shutdown-sessions", "none"];

pub fn validate(input: &Input, paths: OptionPath) -> Result<Plan, InputErrors> {
    let mut report = Report::new(paths);
    let plan = build(input, &mut report);
    let warnings = report.finish()?;
    let mut plan = plan.expect("a plan is complete whenever no error was recorded");
    plan.warnings = warnings;
    Ok(plan)
}

/// Checks every field, recording errors; returns a plan only if every field was valid.
fn build(input: &Input, report: &mut Report) -> Checked<Plan> {
    let clusters = clusters::clusters(input, report);
    let stats = stats::stats(input, report);
    let health = health::health(input, report);
    let timeouts = global::timeouts(input, report);
    let balance = report.check("balance", fields::one_of(&input.balance, BALANCE));
    let on_down = report.check(
        "onMarkedDown",
        fields::one_of(&input.on_marked_down, ON_MARKED_DOWN),
    );
    let retries = report.check("retries", fields::in_range(input.retries, 0, 100));
    let admin_socket = report.check("adminSocket", global::admin_socket(&input.admin_socket));
    let max_connections = report.check(
        "maxConnections",
        fields::in_range(input.max_connections, 1, 10_000_000),
    );
    let hard_stop_after = global::hard_stop_after(input, report);
    let log = global::log(input, report);
    let firewall_interface = optional(
        report,
        "firewall.interface",
        input.firewall.interface.as_deref(),
        fields::interface,
    );
    let extra = global::extra(input, report);
    let backends = backends::backends(input, report);
    sni::refuse_unused_backends(input, clusters::shorthand_exists(input), report);

    let api_nodes = clusters.iter().flatten().flat_map(|cluster| &cluster.nodes);
    let backend_nodes = backends.iter().flatten().flat_map(|backend| &backend.nodes);
    let uses_hostnames = api_nodes
        .chain(backend_nodes)
        .any(|node| matches!(node.address, NodeAddress::Hostname(_)));
    let resolvers = resolvers::resolvers(input, uses_hostnames, report);
    let peers = peers::peers(input, report);
    let vip = vip::vip(input, &clusters, &peers, report);
    if let (Ok(clusters), Ok(stats), Ok(peers), Ok(vip)) = (&clusters, &stats, &peers, &vip) {
        let paths = report.paths();
        let pair = peers
            .iter()
            .map(|p| (p.listener(), p.port_option.clone()))
            .chain(
                vip.iter()
                    .map(|v| (v.check_listener, paths.join("vip.checkPort"))),
            )
            .collect::<Vec<_>>();
        listeners::refuse_clashes(clusters, stats.as_ref(), &pair, report);
    }

    Ok(Plan {
        clusters: clusters?,
        stats: stats?,
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
        backends: backends?,
        peers: peers?,
        vip: vip?,
        warnings: Vec::new(),
    })
}
