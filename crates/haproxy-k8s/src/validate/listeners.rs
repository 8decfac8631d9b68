//! Two binds on one address:port: `haproxy -c` accepts it, the kernel then splits or refuses
//! the traffic at start. We catch it here, including a wildcard covering a specific address.

use crate::plan::{BindAddress, Listener};

/// Whether two listeners would claim the same socket.
pub(crate) fn overlap(a: &Listener, b: &Listener) -> bool {
    a.port == b.port && covers(a.address, b.address)
}

fn covers(a: BindAddress, b: BindAddress) -> bool {
    use BindAddress::*;
    match (a, b) {
        (AnyDualStack, _) | (_, AnyDualStack) => true,
        (AnyIpv4, AnyIpv4) => true,
        (AnyIpv4, Ip(ip)) | (Ip(ip), AnyIpv4) => ip.is_ipv4(),
        (Ip(x), Ip(y)) => x == y,
    }
}

impl std::fmt::Display for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.address {
            BindAddress::AnyIpv4 => write!(f, "*:{}", self.port),
            BindAddress::AnyDualStack => write!(f, "[::]:{}", self.port),
            BindAddress::Ip(ip) if ip.is_ipv6() => write!(f, "[{ip}]:{}", self.port),
            BindAddress::Ip(ip) => write!(f, "{ip}:{}", self.port),
        }
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
        assert!(overlap(
            &listener(BindAddress::AnyIpv4, 1),
            &listener(v4, 1)
        ));
        assert!(!overlap(
            &listener(BindAddress::AnyIpv4, 1),
            &listener(v6, 1)
        ));
        assert!(overlap(
            &listener(BindAddress::AnyDualStack, 1),
            &listener(v6, 1)
        ));
        assert!(overlap(&listener(v4, 1), &listener(v4, 1)));
        assert!(!overlap(&listener(v4, 1), &listener(v4, 2)));
    }
}
