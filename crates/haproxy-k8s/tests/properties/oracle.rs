//! What an accepted option set must do, worked out independently of the library: the
//! listeners are read back from the rendered haproxy.cfg (the sockets HAProxy will open, with
//! kernel semantics: `::` with `v4v6` takes IPv4 too, `::ffff:a.b.c.d` is IPv4 a.b.c.d), and
//! the firewall must open exactly those, per family, with exactly their sources.

use ipnet::{IpNet, Ipv4Net};
use std::collections::BTreeSet;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

fn family(ip: IpAddr) -> Family {
    if ip.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    }
}

/// One `bind` line of one frontend, with that frontend's `src` filter.
#[derive(Debug, Clone)]
pub struct Listener {
    pub bind: String,
    pub port: u16,
    /// None: every address of `families`.
    pub address: Option<IpAddr>,
    pub families: Vec<Family>,
    pub sources: Vec<IpNet>,
}

/// (family, port, destination, sources): what one firewall rule opens.
pub type Opening = (Family, u16, Option<IpAddr>, BTreeSet<IpNet>);

fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::V4(Ipv4Net::new(v4, v6.prefix_len() - 96).unwrap()),
            None => net,
        },
        _ => net,
    }
}

/// The listeners of a rendered haproxy.cfg.
pub fn listeners(cfg: &str) -> Vec<Listener> {
    let mut out: Vec<Listener> = Vec::new();
    let mut frontend_start = 0;
    let mut in_frontend = false;
    for line in cfg.lines() {
        // `.if`/`.endif` and comments are not section headers.
        if !line.starts_with([' ', '.', '#']) && !line.is_empty() {
            in_frontend = line.starts_with("frontend ");
            frontend_start = out.len();
            continue;
        }
        if !in_frontend {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first() {
            Some(&"bind") => out.push(parse_bind(&words)),
            _ if line.contains("unless { src ") => {
                let list = line.split("{ src ").nth(1).unwrap().trim_end_matches(" }");
                let nets: Vec<IpNet> = list
                    .split_whitespace()
                    .map(|net| canonical_net(net.parse().unwrap_or_else(|_| panic!("src {net}"))))
                    .collect();
                for listener in &mut out[frontend_start..] {
                    listener.sources = nets.clone();
                }
            }
            _ => {}
        }
    }
    out
}

fn parse_bind(words: &[&str]) -> Listener {
    let bind = words[1];
    let (host, port) = bind.rsplit_once(':').unwrap();
    let port: u16 = port.parse().unwrap();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let (address, families) = if host == "*" {
        (None, vec![Family::V4])
    } else {
        let ip: IpAddr = host.parse().unwrap_or_else(|_| panic!("bind {bind}"));
        let ip = ip.to_canonical();
        if ip.is_unspecified() && ip.is_ipv6() {
            // Linux's default (bindv6only=0) and HAProxy's `v4v6` both take IPv4 too.
            (None, vec![Family::V4, Family::V6])
        } else if ip.is_unspecified() {
            (None, vec![Family::V4])
        } else {
            (Some(ip), vec![family(ip)])
        }
    };
    Listener {
        bind: words[1..].join(" "),
        port,
        address,
        families,
        sources: Vec::new(),
    }
}

/// Whether two listeners would claim the same socket.
pub fn clash(a: &Listener, b: &Listener) -> bool {
    if a.port != b.port {
        return false;
    }
    match (a.address, b.address) {
        (None, None) => a.families.iter().any(|f| b.families.contains(f)),
        (None, Some(ip)) => a.families.contains(&family(ip)),
        (Some(ip), None) => b.families.contains(&family(ip)),
        (Some(x), Some(y)) => x == y,
    }
}

/// The firewall openings the listeners need: per family, their destination and their sources
/// of that family; none for a family their sources leave out entirely.
pub fn expected_openings(listeners: &[Listener]) -> BTreeSet<Opening> {
    let mut openings = BTreeSet::new();
    for listener in listeners {
        for &f in &listener.families {
            let sources: BTreeSet<IpNet> = listener
                .sources
                .iter()
                .filter(|net| family(net.addr()) == f)
                .copied()
                .collect();
            if !listener.sources.is_empty() && sources.is_empty() {
                continue;
            }
            openings.insert((f, listener.port, listener.address, sources));
        }
    }
    openings
}

/// The library's rules as openings, asserting none is there twice.
pub fn actual_openings(rules: &[haproxy_k8s::FirewallRule]) -> BTreeSet<Opening> {
    let mut openings = BTreeSet::new();
    for rule in rules {
        let f = match rule.family {
            haproxy_k8s::Family::Ipv4 => Family::V4,
            haproxy_k8s::Family::Ipv6 => Family::V6,
        };
        for ip in rule.destination.iter() {
            assert_eq!(family(*ip), f, "destination of another family: {rule:?}");
        }
        for net in &rule.sources {
            assert_eq!(family(net.addr()), f, "source of another family: {rule:?}");
        }
        let sources: BTreeSet<IpNet> = rule.sources.iter().copied().collect();
        assert_eq!(
            sources.len(),
            rule.sources.len(),
            "a source twice: {rule:?}"
        );
        let port = rule
            .port
            .expect("the generated option sets open TCP ports only");
        let opening = (f, port, rule.destination, sources);
        assert!(openings.insert(opening), "rule twice: {rule:?}");
    }
    openings
}
