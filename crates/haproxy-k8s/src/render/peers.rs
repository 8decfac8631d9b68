//! The HAProxy side of the active-active pair: the `peers` section, `localpeer`, and the
//! stick tables that join it. Every stick table of the config is built by [`stick_table`],
//! so each one is synced whenever `peers` is set.

use super::haproxy_cfg::{line, section};
use crate::plan::{Family, Listener, Plan};
use std::fmt::Write;
use std::net::IpAddr;

const PEERS_SECTION: &str = "k8s-peers";

/// `localpeer`: which `peer` line is this machine (HAProxy otherwise takes the hostname).
pub(super) fn global(out: &mut String, plan: &Plan) {
    if let Some(peers) = &plan.peers {
        line(out, format!("localpeer {}", peers.local_name));
    }
}

/// One `peer` line per member; the local one is where HAProxy listens. The same syntax on
/// 2.6 and 3.x.
pub(super) fn peers_section(out: &mut String, plan: &Plan) {
    let Some(peers) = &plan.peers else {
        return;
    };
    section(out, format!("peers {PEERS_SECTION}"));
    for member in &peers.members {
        let endpoint = match member.address {
            IpAddr::V6(ip) => format!("[{ip}]:{}", peers.port),
            IpAddr::V4(ip) => format!("{ip}:{}", peers.port),
        };
        line(out, format!("peer {} {endpoint}", member.name));
    }
}

/// A source-address stick table for a proxy that accepts `listener`, synced to the peers
/// when there are any. `ipv6` keys hold IPv4 clients too (as `::ffff:a.b.c.d`).
/// 20k entries as in seed 001; 30m without a new connection before a client may move.
pub(crate) fn stick_table(plan: &Plan, listener: &Listener) -> String {
    let key = if listener.families().contains(&Family::Ipv6) {
        "ipv6"
    } else {
        "ip"
    };
    synced(plan, format!("stick-table type {key} size 20k expire 30m"))
}

/// `table` joined to the peers section when there is one: every stick table of the config
/// passes through here.
pub(crate) fn synced(plan: &Plan, mut table: String) -> String {
    if plan.peers.is_some() {
        let _ = write!(table, " peers {PEERS_SECTION}");
    }
    table
}

/// `apiSticky`: each API client stays on one apiserver, on both load balancers.
pub(super) fn api_stickiness(out: &mut String, plan: &Plan, listener: &Listener) {
    if plan.peers.as_ref().is_some_and(|peers| peers.api_sticky) {
        line(out, stick_table(plan, listener));
        line(out, "stick on src");
    }
}
