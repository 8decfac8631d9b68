//! The validated load-balancer pair: the HAProxy `peers` section and the VRRP instance.

use super::Listener;
use std::net::IpAddr;

#[derive(Debug, Clone)]
pub(crate) struct PeersPlan {
    pub(crate) local_name: String,
    pub(crate) port: u16,
    /// In the user's order; addresses canonical, names and addresses unique, all of one family.
    pub(crate) members: Vec<PeerMemberPlan>,
    /// The API backends keep a synced `stick on src` table.
    pub(crate) api_sticky: bool,
    /// Full option path of the port, quoted in firewall comments.
    pub(crate) port_option: String,
}

#[derive(Debug, Clone)]
pub(crate) struct PeerMemberPlan {
    pub(crate) name: String,
    pub(crate) address: IpAddr,
}

impl PeersPlan {
    pub(crate) fn local(&self) -> &PeerMemberPlan {
        self.members
            .iter()
            .find(|member| member.name == self.local_name)
            .expect("validation keeps localName among the members")
    }

    /// What HAProxy binds for the local peer.
    pub(crate) fn listener(&self) -> Listener {
        Listener {
            address: super::BindAddress::Ip(self.local().address),
            port: self.port,
        }
    }

    pub(crate) fn others(&self) -> impl Iterator<Item = &PeerMemberPlan> {
        self.members
            .iter()
            .filter(|member| member.name != self.local_name)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct VipPlan {
    /// Canonical; of the family of every unicast peer.
    pub(crate) address: IpAddr,
    pub(crate) prefix_length: u8,
    pub(crate) interface: String,
    pub(crate) virtual_router_id: u8,
    pub(crate) priority: u8,
    /// Empty: multicast VRRP.
    pub(crate) unicast_peers: Vec<IpAddr>,
    /// HAProxy's health answer for keepalived, on loopback.
    pub(crate) check_listener: Listener,
    pub(crate) script_user: String,
    pub(crate) curl: String,
    /// Full option path of `vip.unicastPeers` (which also decides multicast), for comments.
    pub(crate) peers_option: String,
}

/// Where HAProxy answers keepalived's check: HTTP 200 while it runs and every API backend has
/// a server UP, 503 otherwise.
pub(crate) const HEALTH_URI: &str = "/haproxy-k8s-health";
