//! The load-balancer pair: HAProxy `peers` (active-active, synced stick tables) and this
//! machine's side of a VRRP virtual IP (keepalived). Loose types, like the rest of the input
//! model; `validate::peers` and `validate::vip` check them.

use serde::Deserialize;

/// `peers`: every load balancer of the pair (this one included) and which one this is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Peers {
    /// This machine's entry in `members` (HAProxy's `localpeer`).
    pub local_name: String,
    /// 10000: HAProxy's documentation uses it; any free port works, the same on every member.
    #[serde(default = "default_peers_port")]
    pub port: i64,
    pub members: Vec<PeerMember>,
    /// false: pinning a client to one apiserver (synced across the pair) keeps it there after
    /// a restarted node comes back, so the new node stays empty until entries expire;
    /// leastconn spreads better. For operators who need a client to stay on one apiserver.
    #[serde(default)]
    pub api_sticky: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PeerMember {
    pub name: String,
    /// An IP literal: the address the member's HAProxy listens on for peers, and connects from.
    pub address: String,
}

/// `vip`: this machine's side of a VRRP pair, written to `keepalived.conf`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Vip {
    pub address: String,
    pub prefix_length: i64,
    pub interface: String,
    pub virtual_router_id: i64,
    /// The machine with the highest priority holds the VIP while its check passes.
    pub priority: i64,
    /// The other machines' addresses; empty means multicast VRRP (224.0.0.18 / ff02::12).
    #[serde(default)]
    pub unicast_peers: Vec<String>,
    /// 8405: next to the stats port (8404). HAProxy answers keepalived's check here, on
    /// loopback only.
    #[serde(default = "default_check_port")]
    pub check_port: i64,
    /// nobody: the check needs no rights at all. Debian has no `keepalived_script` user, and
    /// keepalived with `enable_script_security` silently drops a script whose user is missing.
    #[serde(default = "default_script_user")]
    pub script_user: String,
    /// The HTTP client the check runs (absolute; the NixOS module passes its store path).
    #[serde(default = "default_curl")]
    pub curl: String,
}

fn default_peers_port() -> i64 {
    10000
}
fn default_check_port() -> i64 {
    8405
}
fn default_script_user() -> String {
    "nobody".into()
}
fn default_curl() -> String {
    "/usr/bin/curl".into()
}
