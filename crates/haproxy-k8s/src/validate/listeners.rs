//! Two binds on one address:port: `haproxy -c` accepts it, the kernel then splits or refuses
//! the traffic at start. We catch it here, including a wildcard covering a specific address.
//! Addresses are canonical by now (`::0` is `::`, `::ffff:a.b.c.d` is IPv4).

use super::report::Report;
use crate::plan::{BindAddress, ClusterPlan, Listener, StatsPlan};

/// `others`: further listeners (the peers port, the VIP check) with their option paths.
pub(super) fn refuse_clashes(
    clusters: &[ClusterPlan],
    stats: Option<&StatsPlan>,
    others: &[(Listener, String)],
    report: &mut Report,
) {
    let mut seen: Vec<(Listener, &str)> = Vec::new();
    let cluster_listeners = clusters
        .iter()
        .map(|c| (c.listener, c.port_option.as_str()));
    let stats_listener = stats.map(|s| (s.listener, s.port_option.as_str()));
    let others = others.iter().map(|(l, option)| (*l, option.as_str()));
    for (listener, option) in cluster_listeners.chain(stats_listener).chain(others) {
        if let Some((other, other_option)) =
            seen.iter().find(|(other, _)| overlap(other, &listener))
        {
            report.error_at_full_path(
                option,
                format!("listening on {listener} clashes with {other_option} on {other}: two listeners cannot share an address and port"),
            );
        }
        seen.push((listener, option));
    }
}

/// Whether two listeners would claim the same socket.
fn overlap(a: &Listener, b: &Listener) -> bool {
    a.port == b.port && covers(a.address, b.address)
}

/// `::` is rendered `[::]:port v4v6`: it takes every IPv4 address too.
fn covers(a: BindAddress, b: BindAddress) -> bool {
    use BindAddress::*;
    match (a, b) {
        (AnyDualStack, _) | (_, AnyDualStack) => true,
        (AnyIpv4, AnyIpv4) => true,
        (AnyIpv4, Ip(ip)) | (Ip(ip), AnyIpv4) => ip.is_ipv4(),
        (Ip(x), Ip(y)) => x == y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(address: BindAddress, port: u16) -> Listener {
        Listener { address, port }
    }

    #[test]
    fn wildcards_cover_their_family() {
        let v4 = BindAddress::Ip("192.168.8.1".parse().unwrap());
        let v6 = BindAddress::Ip("fd00::1".parse().unwrap());
        use BindAddress::{AnyDualStack, AnyIpv4};
        assert!(overlap(&listener(AnyIpv4, 1), &listener(v4, 1)));
        assert!(!overlap(&listener(AnyIpv4, 1), &listener(v6, 1)));
        assert!(overlap(&listener(AnyDualStack, 1), &listener(v6, 1)));
        assert!(overlap(&listener(AnyDualStack, 1), &listener(AnyIpv4, 1)));
        assert!(overlap(&listener(AnyIpv4, 1), &listener(AnyDualStack, 1)));
        assert!(overlap(&listener(v4, 1), &listener(v4, 1)));
        assert!(!overlap(&listener(v4, 1), &listener(v4, 2)));
    }
}
