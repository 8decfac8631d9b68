//! Firewall openings of the load-balancer pair, each no wider than what uses it:
//! - the peers port: on this machine's peer address, from the other members only;
//! - VRRP: on the VIP's interface, from the unicast peers, or (multicast VRRP) to the VRRP
//!   group only.

use super::firewall::{FirewallRule, Protocol};
use super::keepalived::multicast_group;
use crate::plan::{Family, Plan};
use ipnet::IpNet;

pub(super) fn rules(plan: &Plan) -> Vec<FirewallRule> {
    let mut rules = Vec::new();
    if let Some(peers) = &plan.peers {
        let local = peers.local().address;
        // Validation keeps every member in one family, the local address's.
        let sources: Vec<IpNet> = peers.others().map(|m| IpNet::from(m.address)).collect();
        rules.push(FirewallRule {
            protocol: Protocol::Tcp,
            family: Family::of(local),
            port: Some(peers.port),
            destination: Some(local),
            sources,
            interface: plan.firewall_interface.clone(),
            comment: format!(
                "haproxy-k8s peers (stick-table sync) from the other members, opened by {}",
                peers.port_option
            ),
        });
    }
    if let Some(vip) = &plan.vip {
        let multicast = vip.unicast_peers.is_empty();
        rules.push(FirewallRule {
            protocol: Protocol::Vrrp,
            family: Family::of(vip.address),
            port: None,
            destination: multicast.then(|| multicast_group(vip.address)),
            sources: vip.unicast_peers.iter().copied().map(IpNet::from).collect(),
            interface: Some(vip.interface.clone()),
            comment: format!(
                "haproxy-k8s VRRP ({}) for the VIP {}, opened by {}",
                if multicast {
                    "multicast, as it is empty"
                } else {
                    "from the listed peers"
                },
                vip.address,
                vip.peers_option
            ),
        });
    }
    rules
}
