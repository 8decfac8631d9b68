//! Renderers: `Plan` → text. They cannot fail: everything they print was validated.

pub(crate) mod firewall;
pub(crate) mod haproxy_cfg;
pub(crate) mod server_keepalive;
