//! Renderers: `Plan` → text. They cannot fail: everything they print was validated.

pub(crate) mod firewall;
pub(crate) mod haproxy_cfg;
pub(crate) mod keepalived;
mod pair_firewall;
pub(crate) mod peers;
pub(crate) mod server_keepalive;
mod vip_check;
pub(crate) mod workloads;
