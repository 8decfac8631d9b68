//! Addresses, canonical before anything compares or prints them: `::0` and `0::0` are `::`,
//! `0.0.0.0` is `*`, `::ffff:a.b.c.d` is the IPv4 address a.b.c.d (an IPv6 socket bound to
//! it receives that address's IPv4 traffic), hostnames are lower case without a final dot.
//! Otherwise two spellings of one socket would pass the clash check, and a firewall rule would
//! name an address no packet carries.

use super::fields::{show, show_char};
use crate::plan::{BindAddress, NodeAddress};
use ipnet::{IpNet, Ipv4Net};
use std::net::{IpAddr, SocketAddr};

const ANY_ADDRESS_HINT: &str =
    "use an IPv4 or IPv6 literal, `*` (all IPv4) or `::` (all IPv4 and IPv6)";

/// `*`, `::` (or another spelling of an unspecified address) or a unicast IP literal.
/// Hostnames are not allowed: a bind must not depend on DNS.
pub(crate) fn bind_address(value: &str) -> Result<BindAddress, String> {
    if value == "*" {
        return Ok(BindAddress::AnyIpv4);
    }
    let Some(ip) = ip_literal(value) else {
        return Err(format!(
            "{} is not an IP address: {ANY_ADDRESS_HINT}",
            show(value)
        ));
    };
    if ip.is_unspecified() {
        return Ok(match ip {
            IpAddr::V4(_) => BindAddress::AnyIpv4,
            IpAddr::V6(_) => BindAddress::AnyDualStack,
        });
    }
    if let Some(kind) = not_unicast(ip) {
        return Err(format!(
            "{} is a {kind} address, which a TCP listener cannot have: {ANY_ADDRESS_HINT}",
            show(value)
        ));
    }
    Ok(BindAddress::Ip(ip))
}

/// An IP literal, IPv6 optionally bracketed, in canonical form.
fn ip_literal(value: &str) -> Option<IpAddr> {
    let unbracketed = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    let ip: IpAddr = unbracketed.parse().ok()?;
    // Brackets belong to IPv6 only.
    (unbracketed == value || ip.is_ipv6()).then_some(ip.to_canonical())
}

/// Why a (canonical, specified) address cannot be one end of a TCP connection.
fn not_unicast(ip: IpAddr) -> Option<&'static str> {
    match ip {
        _ if ip.is_multicast() => Some("multicast"),
        IpAddr::V4(v4) if v4.is_broadcast() => Some("broadcast"),
        _ => None,
    }
}

pub(crate) fn node_address(value: &str) -> Result<NodeAddress, String> {
    if let Some(ip) = ip_literal(value) {
        if ip.is_unspecified() {
            return Err(format!(
                "{} is the unspecified address, not one a node can have",
                show(value)
            ));
        }
        if let Some(kind) = not_unicast(ip) {
            return Err(format!(
                "{} is a {kind} address, not one a node can have",
                show(value)
            ));
        }
        return Ok(NodeAddress::Ip(ip));
    }
    hostname(value).map(NodeAddress::Hostname).map_err(|why| {
        format!(
            "{} is neither an IPv4 address, an IPv6 address nor a hostname: {why}",
            show(value)
        )
    })
}

/// A unicast IP literal for a machine (peer, VIP, VRRP neighbour): no hostname, not the
/// unspecified address. Canonical, like every address here.
pub(crate) fn host_address(value: &str) -> Result<IpAddr, String> {
    let Some(ip) = ip_literal(value) else {
        return Err(format!(
            "{} is not an IP address: use an IPv4 or IPv6 literal",
            show(value)
        ));
    };
    if ip.is_unspecified() {
        return Err(format!(
            "{} is the unspecified address, not a machine's",
            show(value)
        ));
    }
    if let Some(kind) = not_unicast(ip) {
        return Err(format!(
            "{} is a {kind} address, not a machine's",
            show(value)
        ));
    }
    Ok(ip)
}

/// RFC 1123 hostnames: labels of `[A-Za-z0-9-]`, 1–63 long, no leading/trailing `-`.
/// Returned in lower case without the final dot: DNS names compare that way.
pub(crate) fn hostname(value: &str) -> Result<String, String> {
    let trimmed = value.strip_suffix('.').unwrap_or(value);
    if trimmed.is_empty() || trimmed.len() > 253 {
        return Err("a hostname has 1–253 characters".into());
    }
    if trimmed.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err("it looks like an IPv4 address but is not one".into());
    }
    for label in trimmed.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("each dot-separated label has 1–63 characters".into());
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!("{} is not allowed in a hostname", show_char(bad)));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label may not start or end with `-`".into());
        }
    }
    Ok(trimmed.to_ascii_lowercase())
}

/// A CIDR (`10.0.0.0/8`) or a single address (taken as /32 or /128). A network inside
/// `::ffff:0:0/96` is the IPv4 network it maps: IPv4 packets never carry the mapped form.
pub(crate) fn cidr(value: &str) -> Result<IpNet, String> {
    if let Ok(net) = value.parse::<IpNet>() {
        if net.trunc() != net {
            return Err(format!(
                "{} has host bits set; did you mean {}?",
                show(value),
                canonical_net(net.trunc())
            ));
        }
        return Ok(canonical_net(net));
    }
    match value.parse::<IpAddr>() {
        Ok(ip) => Ok(IpNet::from(ip.to_canonical())),
        Err(_) => Err(format!(
            "{} is not a network: use a CIDR like 10.0.0.0/8 or a single address",
            show(value)
        )),
    }
}

fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::V4(
                Ipv4Net::new(v4, v6.prefix_len() - 96).expect("a prefix of at most 32 bits"),
            ),
            None => net,
        },
        _ => net,
    }
}

/// `IP` or `IP:port` (`[IPv6]:port`); port 53 when none is given. No zone index
/// (`[fe80::1%2]:53`): HAProxy's config parser refuses it, and a link-local address without
/// one cannot be reached, so link-local DNS servers are refused outright.
pub(crate) fn nameserver(value: &str) -> Result<SocketAddr, String> {
    let socket = match value.parse::<SocketAddr>() {
        Ok(SocketAddr::V6(v6)) if v6.scope_id() != 0 => {
            return Err(link_local_nameserver(value));
        }
        Ok(socket) => socket,
        Err(_) => match ip_literal(value) {
            Some(ip) => SocketAddr::new(ip, 53),
            None if value.contains('%') => return Err(link_local_nameserver(value)),
            None => {
                return Err(format!(
                "{} is not a DNS server: use an IP address, optionally with :port (`[IPv6]:port`)",
                show(value)
            ))
            }
        },
    };
    let ip = socket.ip().to_canonical();
    if socket.port() == 0 {
        return Err(format!("{}: port 0 is not a DNS server port", show(value)));
    }
    if ip.is_unspecified() {
        return Err(format!(
            "{} is the unspecified address, not a DNS server's",
            show(value)
        ));
    }
    if let Some(kind) = not_unicast(ip) {
        return Err(format!(
            "{} is a {kind} address, not a DNS server's",
            show(value)
        ));
    }
    if matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80) {
        return Err(link_local_nameserver(value));
    }
    Ok(SocketAddr::new(ip, socket.port()))
}

fn link_local_nameserver(value: &str) -> String {
    format!(
        "{} is a link-local address: it needs a zone index (`%eth0`), which HAProxy's nameserver line does not take; use a global or unique-local (fd00::/8) address",
        show(value)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_are_canonical_and_unicast() {
        for any_v6 in ["::", "[::]", "::0", "0::0", "0:0:0:0:0:0:0:0", "[::0]"] {
            assert_eq!(
                bind_address(any_v6).unwrap(),
                BindAddress::AnyDualStack,
                "{any_v6}"
            );
        }
        for any_v4 in ["*", "0.0.0.0", "::ffff:0.0.0.0"] {
            assert_eq!(
                bind_address(any_v4).unwrap(),
                BindAddress::AnyIpv4,
                "{any_v4}"
            );
        }
        assert_eq!(
            bind_address("::ffff:192.168.8.1").unwrap(),
            BindAddress::Ip("192.168.8.1".parse().unwrap())
        );
        assert_eq!(
            bind_address("[FD00::0001]").unwrap(),
            BindAddress::Ip("fd00::1".parse().unwrap())
        );
        for bad in [
            "224.0.0.1",
            "ff02::1",
            "255.255.255.255",
            "[10.0.0.1]",
            "router",
        ] {
            assert!(bind_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_addresses_are_ip_or_hostname() {
        assert_eq!(
            node_address("192.168.8.10").unwrap(),
            NodeAddress::Ip("192.168.8.10".parse().unwrap())
        );
        assert_eq!(
            node_address("[fd00::1]").unwrap(),
            NodeAddress::Ip("fd00::1".parse().unwrap())
        );
        assert_eq!(
            node_address("::ffff:10.0.0.1").unwrap(),
            NodeAddress::Ip("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            node_address("CP1.Example.COM.").unwrap(),
            NodeAddress::Hostname("cp1.example.com".into())
        );
        for bad in [
            "192.168.8",
            "192.168.8.300",
            "0.0.0.0",
            "::",
            "::0",
            "224.0.0.1",
            "ff02::1",
            "255.255.255.255",
            "a b",
            "fe80::1%eth0",
            "[192.168.1.1]",
        ] {
            assert!(node_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cidrs_must_be_networks_and_are_canonical() {
        assert_eq!(cidr("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(cidr("10.1.2.3").unwrap().to_string(), "10.1.2.3/32");
        assert_eq!(cidr("::ffff:10.1.2.3").unwrap().to_string(), "10.1.2.3/32");
        assert_eq!(
            cidr("::ffff:10.0.0.0/104").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(cidr("fd00::/8").unwrap().to_string(), "fd00::/8");
        let error = cidr("10.0.0.1/8").unwrap_err();
        assert!(error.contains("did you mean 10.0.0.0/8"), "{error}");
        assert!(cidr("10.0.0.0/33").is_err());
    }

    #[test]
    fn nameservers_are_reachable_unicast_sockets() {
        assert_eq!(nameserver("10.0.0.53").unwrap().to_string(), "10.0.0.53:53");
        assert_eq!(
            nameserver("[fd00::53]:5353").unwrap().to_string(),
            "[fd00::53]:5353"
        );
        assert_eq!(nameserver("fd00::53").unwrap().to_string(), "[fd00::53]:53");
        assert_eq!(
            nameserver("[::ffff:10.0.0.53]:53").unwrap().to_string(),
            "10.0.0.53:53"
        );
        for bad in [
            "[fe80::1%2]:53",
            "[fe80::1%eth0]:53",
            "fe80::1%2",
            "fe80::1",
            "[fe80::1]:53",
            "0.0.0.0",
            "[::]:53",
            "224.0.0.251",
            "10.0.0.53:0",
            "dns.example",
        ] {
            assert!(nameserver(bad).is_err(), "{bad}");
        }
        assert!(nameserver("[fe80::1%2]:53")
            .unwrap_err()
            .contains("link-local"));
    }
}
