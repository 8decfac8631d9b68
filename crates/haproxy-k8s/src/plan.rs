//! The validated plan: what the renderers draw from.
//!
//! Only `validate::validate` builds a `Plan` (fields are crate-private and the value types
//! below have no public constructors), so every rendered file went through validation and
//! renderers cannot fail. Every string in here is already known to be safe to print into
//! the HAProxy config, nftables and sh without quoting surprises.

use crate::warning::Warning;
use ipnet::IpNet;
use serde::Serialize;
use std::net::IpAddr;

mod workloads;
pub(crate) use workloads::*;
mod pair;
pub(crate) use pair::*;

#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) clusters: Vec<ClusterPlan>,
    pub(crate) stats: Option<StatsPlan>,
    pub(crate) health: HealthPlan,
    pub(crate) timeouts: TimeoutsPlan,
    pub(crate) balance: &'static str,
    pub(crate) shutdown_sessions_on_down: bool,
    pub(crate) retries: u32,
    pub(crate) redispatch: bool,
    pub(crate) admin_socket: String,
    pub(crate) max_connections: u32,
    pub(crate) hard_stop_after: Option<Duration>,
    pub(crate) log: LogPlan,
    /// Present only when some node is addressed by hostname.
    pub(crate) resolvers: Option<ResolversPlan>,
    pub(crate) firewall_interface: Option<String>,
    pub(crate) extra: ExtraPlan,
    pub(crate) backends: Vec<BackendPlan>,
    /// The load-balancer pair (plan/pair.rs).
    pub(crate) peers: Option<PeersPlan>,
    pub(crate) vip: Option<VipPlan>,
    pub(crate) warnings: Vec<Warning>,
}

impl Plan {
    /// What builds but is probably not meant (e.g. a cluster without nodes), each naming its
    /// option. Callers show them; they never stop the build.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ClusterPlan {
    /// `[A-Za-z0-9_-]`: proxy names add a `.`, so no two clusters' proxies can collide.
    pub(crate) name: String,
    pub(crate) listener: Listener,
    pub(crate) nodes: Vec<NodePlan>,
    pub(crate) allowed_sources: Vec<IpNet>,
    /// Full option path of the port, quoted in firewall comments.
    pub(crate) port_option: String,
    /// In input order; exact names are unique and checked before wildcards.
    pub(crate) sni_routes: Vec<SniRoutePlan>,
}

/// Canonical (validation maps `::0` to `::`, `0.0.0.0` to `*`, `::ffff:a.b.c.d` to IPv4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BindAddress {
    /// `*`: every IPv4 address.
    AnyIpv4,
    /// `::`: every IPv6 and IPv4 address (`v4v6`).
    AnyDualStack,
    Ip(IpAddr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Listener {
    pub(crate) address: BindAddress,
    pub(crate) port: u16,
}

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    pub fn of_net(net: &IpNet) -> Family {
        Family::of(net.addr())
    }
}

impl Listener {
    /// The families it accepts: `*` IPv4, `::` both (`v4v6`), an address its own.
    pub(crate) fn families(&self) -> &'static [Family] {
        match self.address {
            BindAddress::AnyIpv4 => &[Family::Ipv4],
            BindAddress::AnyDualStack => &[Family::Ipv4, Family::Ipv6],
            BindAddress::Ip(IpAddr::V4(_)) => &[Family::Ipv4],
            BindAddress::Ip(IpAddr::V6(_)) => &[Family::Ipv6],
        }
    }

    /// The one address it accepts, if not a wildcard.
    pub(crate) fn destination(&self) -> Option<IpAddr> {
        match self.address {
            BindAddress::Ip(ip) => Some(ip),
            BindAddress::AnyIpv4 | BindAddress::AnyDualStack => None,
        }
    }
}

/// HAProxy's `bind` syntax (IPv6 in brackets), also used in messages.
impl std::fmt::Display for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.address {
            BindAddress::AnyIpv4 => write!(f, "*:{}", self.port),
            BindAddress::AnyDualStack => write!(f, "[::]:{}", self.port),
            BindAddress::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            BindAddress::Ip(IpAddr::V4(ip)) => write!(f, "{ip}:{}", self.port),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct NodePlan {
    pub(crate) name: String,
    pub(crate) address: NodeAddress,
    pub(crate) port: u16,
    pub(crate) weight: u16,
    pub(crate) backup: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum NodeAddress {
    /// Canonical: `::ffff:a.b.c.d` is IPv4.
    Ip(IpAddr),
    /// `[a-z0-9.-]` only, lower case without a final dot; resolved at runtime by the
    /// resolvers section.
    Hostname(String),
}

#[derive(Debug, Clone)]
pub(crate) struct StatsPlan {
    pub(crate) listener: Listener,
    pub(crate) allowed_sources: Vec<IpNet>,
    pub(crate) uri: String,
    pub(crate) prometheus: bool,
    pub(crate) refresh: Duration,
    pub(crate) require_credentials: bool,
    pub(crate) port_option: String,
}

#[derive(Debug, Clone)]
pub(crate) enum CheckKind {
    Https { path: String, expect_status: u16 },
    Tls,
    Tcp,
}

#[derive(Debug, Clone)]
pub(crate) struct HealthPlan {
    pub(crate) kind: CheckKind,
    pub(crate) interval: Duration,
    pub(crate) fall: u32,
    pub(crate) rise: u32,
    pub(crate) ca_file: Option<String>,
    pub(crate) client_certificate: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct TimeoutsPlan {
    pub(crate) connect: Duration,
    pub(crate) client: Duration,
    pub(crate) server: Duration,
    pub(crate) tunnel: Duration,
    pub(crate) client_fin: Duration,
    pub(crate) check: Duration,
}

#[derive(Debug, Clone)]
pub(crate) struct LogPlan {
    /// `/dev/log`-style absolute path, `stdout` or `stderr`.
    pub(crate) target: String,
    pub(crate) facility: &'static str,
    pub(crate) level: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct ResolversPlan {
    /// Empty: `parse-resolv-conf`. Canonical, no IPv6 zone index (HAProxy refuses it).
    pub(crate) nameservers: Vec<std::net::SocketAddr>,
    pub(crate) hold: Duration,
}

/// Operator-supplied lines, checked only for bytes that would break the file's line structure.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExtraPlan {
    pub(crate) global: Vec<String>,
    pub(crate) defaults: Vec<String>,
    pub(crate) frontend: Vec<String>,
    pub(crate) backend: Vec<String>,
    pub(crate) stats: Vec<String>,
}

/// A timeout in HAProxy's units, held in microseconds, printed in the largest exact unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Duration {
    micros: u64,
}

impl Duration {
    /// HAProxy stores timeouts as signed 32-bit milliseconds.
    pub(crate) const MAX_MILLIS: u64 = 2_147_483_647;

    pub(crate) fn from_micros(micros: u64) -> Self {
        Self { micros }
    }
}

impl std::fmt::Display for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const UNITS: [(u64, &str); 5] = [
            (86_400_000_000, "d"),
            (3_600_000_000, "h"),
            (60_000_000, "m"),
            (1_000_000, "s"),
            (1_000, "ms"),
        ];
        if self.micros == 0 {
            return write!(f, "0ms");
        }
        for (size, unit) in UNITS {
            if self.micros % size == 0 {
                return write!(f, "{}{unit}", self.micros / size);
            }
        }
        write!(f, "{}us", self.micros)
    }
}
