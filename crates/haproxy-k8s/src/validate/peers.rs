//! `peers`: the members of an active-active pair (or more) that sync stick tables.

use super::addresses;
use super::fields::{self, show};
use super::report::{all, Checked, Report};
use crate::input::Input;
use crate::plan::{Family, PeerMemberPlan, PeersPlan};
use std::collections::HashSet;

pub(super) fn peers(input: &Input, report: &mut Report) -> Checked<Option<PeersPlan>> {
    let Some(peers) = &input.peers else {
        return Ok(None);
    };
    let local_name = report.check("peers.localName", fields::name(&peers.local_name, true));
    let port = report.check("peers.port", fields::port(peers.port));
    let members = members(&peers.members, report);
    if peers.members.len() < 2 {
        report.error(
            "peers.members",
            format!(
                "lists {} member(s): a peers section syncs between at least two load balancers (this one included)",
                peers.members.len()
            ),
        );
    }
    if let (Ok(name), Ok(members)) = (&local_name, &members) {
        if !members.iter().any(|member| &member.name == name) {
            let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
            report.error(
                "peers.localName",
                format!(
                    "{} is not one of peers.members ({}): HAProxy only syncs when this machine is a member",
                    show(name),
                    names.join(", ")
                ),
            );
            return Err(super::report::Reported);
        }
    }
    Ok(Some(PeersPlan {
        local_name: local_name?,
        port: port?,
        members: members?,
        api_sticky: peers.api_sticky,
        port_option: report.paths().join("peers.port"),
    }))
}

fn members(
    members: &[crate::input::PeerMember],
    report: &mut Report,
) -> Checked<Vec<PeerMemberPlan>> {
    let mut names = HashSet::new();
    let mut addresses = HashSet::new();
    let mut family = None;
    let plans = members
        .iter()
        .enumerate()
        .map(|(index, member)| {
            let at = format!("peers.members.{index}");
            let name = report.check(&format!("{at}.name"), fields::name(&member.name, true));
            if name.is_ok() && !names.insert(member.name.clone()) {
                report.error(
                    &format!("{at}.name"),
                    format!("{} names another member too: names must be unique", show(&member.name)),
                );
            }
            let address = report.check(
                &format!("{at}.address"),
                addresses::host_address(&member.address),
            );
            if let Ok(ip) = address {
                if !addresses.insert(ip) {
                    report.error(
                        &format!("{at}.address"),
                        format!("{ip} is the address of another member too: each load balancer has its own"),
                    );
                }
                // Each member listens on its own address only: a member of the other family
                // could never connect to it.
                match family {
                    None => family = Some(Family::of(ip)),
                    Some(first) if first != Family::of(ip) => {
                        report.error(
                            &format!("{at}.address"),
                            format!("{ip} is not of the family of peers.members.0.address: members connect to each other's address, so all must be IPv4 or all IPv6"),
                        );
                    }
                    Some(_) => {}
                }
            }
            Ok(PeerMemberPlan {
                name: name?,
                address: address?,
            })
        })
        .collect();
    all(plans)
}
