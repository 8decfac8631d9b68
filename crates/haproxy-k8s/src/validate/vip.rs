//! `vip`: this machine's side of a VRRP pair (keepalived.conf).

use super::addresses;
use super::fields::{self, show};
use super::report::{all, Checked, Report};
use crate::input::Input;
use crate::plan::{BindAddress, ClusterPlan, Family, Listener, PeersPlan, VipPlan};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

pub(super) fn vip(
    input: &Input,
    clusters: &Checked<Vec<ClusterPlan>>,
    peers: &Checked<Option<PeersPlan>>,
    report: &mut Report,
) -> Checked<Option<VipPlan>> {
    let Some(vip) = &input.vip else {
        return Ok(None);
    };
    let address = report.check("vip.address", addresses::host_address(&vip.address));
    if let Ok(ip) = address {
        if ip.is_loopback() {
            report.error(
                "vip.address",
                format!("{ip} is a loopback address, which no other machine can reach"),
            );
        }
    }
    let max_prefix = match address {
        Ok(IpAddr::V6(_)) => 128,
        _ => 32,
    };
    let prefix_length = report
        .check(
            "vip.prefixLength",
            fields::in_range(vip.prefix_length, 1, max_prefix),
        )
        .map(|prefix| prefix as u8);
    if let (Ok(IpAddr::V4(ip)), Ok(prefix)) = (address, prefix_length) {
        if let Some(why) = network_or_broadcast(ip, prefix) {
            report.error(
                "vip.address",
                format!("{ip} is the {why} address of its /{prefix} network: pick a host address"),
            );
        }
    }
    let interface = report.check("vip.interface", fields::interface(&vip.interface));
    let router_id = report
        .check(
            "vip.virtualRouterId",
            fields::in_range(vip.virtual_router_id, 1, 255),
        )
        .map(|id| id as u8);
    // 255 is reserved for the machine that owns the address outright (RFC 5798).
    let priority = report
        .check("vip.priority", fields::in_range(vip.priority, 1, 254))
        .map(|priority| priority as u8);
    let unicast_peers = unicast_peers(&vip.unicast_peers, address.ok(), report);
    let check_port = report.check("vip.checkPort", fields::port(vip.check_port));
    let script_user = report.check("vip.scriptUser", user_name(&vip.script_user));
    let curl = report.check("vip.curl", fields::absolute_path(&vip.curl));

    if let (Ok(ip), Ok(Some(peers))) = (address, peers) {
        if let Some(member) = peers.members.iter().find(|m| m.address == ip) {
            report.error(
                "vip.address",
                format!("{ip} is also the address of peers member {}: the VIP moves between machines, a peer address must stay with its machine", member.name),
            );
        }
    }
    if let (Ok(ip), Ok(clusters)) = (address, clusters) {
        if !clusters
            .iter()
            .any(|cluster| accepts(&cluster.listener, ip))
        {
            report.warn(
                "vip.address",
                format!("no API listener accepts {ip}: clients of the VIP reach nothing; set bindAddress to it (or a wildcard)"),
            );
        }
    }
    Ok(Some(VipPlan {
        address: address?,
        prefix_length: prefix_length?,
        interface: interface?,
        virtual_router_id: router_id?,
        priority: priority?,
        unicast_peers: unicast_peers?,
        check_listener: Listener {
            address: BindAddress::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            port: check_port?,
        },
        script_user: script_user?,
        curl: curl?,
        peers_option: report.paths().join("vip.unicastPeers"),
    }))
}

fn unicast_peers(
    values: &[String],
    vip: Option<IpAddr>,
    report: &mut Report,
) -> Checked<Vec<IpAddr>> {
    let mut seen = HashSet::new();
    let checked = values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let at = format!("vip.unicastPeers.{index}");
            let ip = report.check(&at, addresses::host_address(value))?;
            if !seen.insert(ip) {
                return Err(report.error(&at, format!("{ip} is listed twice")));
            }
            if Some(ip) == vip {
                return Err(report.error(
                    &at,
                    format!("{ip} is the VIP itself: list the other machines' own addresses"),
                ));
            }
            // keepalived speaks one family per instance: the VIP's.
            if let Some(vip) = vip {
                if Family::of(vip) != Family::of(ip) {
                    return Err(report.error(
                        &at,
                        format!("{ip} is not of the VIP's address family: VRRP for {vip} runs over that family"),
                    ));
                }
            }
            Ok(ip)
        })
        .collect();
    all(checked)
}

/// Whether an API listener receives connections to `ip`.
fn accepts(listener: &Listener, ip: IpAddr) -> bool {
    match listener.address {
        BindAddress::AnyDualStack => true,
        BindAddress::AnyIpv4 => ip.is_ipv4(),
        BindAddress::Ip(bound) => bound == ip,
    }
}

fn network_or_broadcast(ip: Ipv4Addr, prefix: u8) -> Option<&'static str> {
    if prefix >= 31 {
        return None;
    }
    let net = ipnet::Ipv4Net::new(ip, prefix).expect("prefix checked");
    if ip == net.network() {
        Some("network")
    } else if ip == net.broadcast() {
        Some("broadcast")
    } else {
        None
    }
}

/// A system user for the check (POSIX portable names); never root, which is the point.
fn user_name(value: &str) -> Result<String, String> {
    let valid = !value.is_empty()
        && value.len() <= 32
        && value.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid {
        return Err(format!(
            "{} is not a user name: lower-case letters, digits, `_` and `-`, starting with a letter or `_`, at most 32",
            show(value)
        ));
    }
    if value == "root" {
        return Err("root: the check needs no rights, run it as an unprivileged user (the default, nobody, works)".into());
    }
    Ok(value.to_string())
}
