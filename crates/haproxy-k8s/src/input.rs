//! The input model: the JSON the NixOS module serialises, field for field.
//!
//! Field names are the Nix option names (camelCase). Everything is deliberately loose here
//! (strings and wide integers): `validate` turns it into a `Plan` and reports every problem
//! with its option path, which is friendlier than serde stopping at the first narrow type.
//! Defaults live here, each with the reason it was chosen.

use serde::Deserialize;
use std::collections::BTreeMap;

mod pair;
pub use pair::{PeerMember, Peers, Vip};

/// The whole option set (`services.haproxy-k8s`).
///
/// Its first four fields repeat [`Cluster`]'s on purpose: they are seed 004's single-cluster
/// shorthand, and `#[serde(flatten)]` cannot be combined with `deny_unknown_fields`. Unlike
/// [`Cluster`]'s, the shorthand's scalar fields stay `None` when absent (or `null`): a value
/// the user set is refused when nothing reads it (with `clusters`, an ignored top-level
/// `allowedSources` would leave the port open to anyone), so "set" must stay visible.
/// [`Input::shorthand`] fills in the defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Input {
    /// 6443: the kube-apiserver's own port, so kubeconfigs keep `:6443` (seed 004).
    #[serde(default)]
    pub frontend_port: Option<i64>,
    /// `*`: all IPv4 addresses; seed 004 sets the router's VLAN address.
    #[serde(default)]
    pub bind_address: Option<String>,
    /// May be empty: seed 004's module example has every node commented out.
    #[serde(default)]
    pub control_plane_nodes: Vec<Node>,
    /// Empty means anyone may reach the API frontend (the apiserver authenticates clients).
    #[serde(default)]
    pub allowed_sources: Option<Vec<String>>,
    /// 8404: HAProxy's conventional stats port (seed 004).
    #[serde(default)]
    pub stats_port: Option<i64>,
    #[serde(default)]
    pub clusters: BTreeMap<String, Cluster>,
    #[serde(default)]
    pub stats: Stats,
    #[serde(default)]
    pub health_check: HealthCheck,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// leastconn: apiserver clients hold long HTTP/2 connections, so spreading by open
    /// connections evens the load after a node comes back better than roundrobin does.
    #[serde(default = "default_balance")]
    pub balance: String,
    /// none (issue 12): `shutdown-sessions` also kills a stream that is still *connecting*
    /// to the node at the DOWN instant, although `option redispatch` would have saved it:
    /// HAProxy 2.6.12 closes it after its redispatch (log `D-` on another node), 3.0.11
    /// freezes it (no log, the client waits for its own timeout). Measured over 40 SIGKILL
    /// runs per version: 3 such cuts on 2.6 and 3 on 3.0 with shutdown-sessions, 0 with none
    /// (docs/benchmarks.md; testbed tests/redispatch_cut.rs reproduces it). Watches through
    /// a black-holed node are still closed: by server-side TCP keepalive.
    #[serde(default = "default_on_marked_down")]
    pub on_marked_down: String,
    /// 3 retries with redispatch: a connection refused by a dying node is retried on
    /// another one before the client sees an error (seed 004: "3 retries").
    #[serde(default = "default_retries")]
    pub retries: i64,
    #[serde(default = "default_true")]
    pub redispatch: bool,
    /// Its own runtime directory, so it can coexist with NixOS's `services.haproxy` (seed 000).
    #[serde(default = "default_admin_socket")]
    pub admin_socket: String,
    /// 4000 (seed 000): far above what a control plane needs, small enough for a router's RAM.
    #[serde(default = "default_max_connections")]
    pub max_connections: i64,
    /// 15m: after a reload, the old worker keeps serving open watches; client-go re-lists
    /// after a cut watch, so a bounded overlap is cheap while unbounded old workers pile up.
    #[serde(default = "default_hard_stop_after")]
    pub hard_stop_after: Option<String>,
    #[serde(default)]
    pub log: Log,
    #[serde(default)]
    pub resolvers: Resolvers,
    #[serde(default)]
    pub firewall: Firewall,
    #[serde(default)]
    pub extra_config: ExtraConfig,
    /// Workload backends (NodePorts, ingress controllers), by name; see [`Backend`].
    #[serde(default)]
    pub backends: BTreeMap<String, Backend>,
    /// SNI passthrough routes of the top-level (shorthand) cluster's API frontend. `None` when
    /// absent, so a value that no cluster reads can be refused.
    #[serde(default)]
    pub sni_routes: Option<Vec<SniRoute>>,
    /// The load-balancer pair (input/pair.rs).
    #[serde(default)]
    pub peers: Option<Peers>,
    #[serde(default)]
    pub vip: Option<Vip>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Node {
    pub name: String,
    pub address: String,
    #[serde(default = "default_api_port")]
    pub port: i64,
    /// HAProxy's own default weight.
    #[serde(default = "default_weight")]
    pub weight: i64,
    #[serde(default)]
    pub backup: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Cluster {
    #[serde(default = "default_api_port")]
    pub frontend_port: i64,
    #[serde(default = "default_bind_address")]
    pub bind_address: String,
    #[serde(default)]
    pub control_plane_nodes: Vec<Node>,
    #[serde(default)]
    pub allowed_sources: Vec<String>,
    /// TLS connections whose SNI names one of these hosts go, unterminated, to a workload
    /// backend instead of the apiservers (seed 000).
    #[serde(default)]
    pub sni_routes: Vec<SniRoute>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Stats {
    #[serde(default = "default_true")]
    pub enable: bool,
    /// None: the top-level `bindAddress` (seed 004 serves stats on the router's address).
    #[serde(default)]
    pub bind_address: Option<String>,
    /// Loopback and private ranges only (seed 004: "restrict the statistics interface").
    #[serde(default = "default_stats_sources")]
    pub allowed_sources: Vec<String>,
    #[serde(default = "default_stats_uri")]
    pub uri: String,
    /// Prometheus is on seed 004's list of future enhancements; HAProxy has it built in.
    #[serde(default = "default_true")]
    pub prometheus: bool,
    #[serde(default = "default_stats_refresh")]
    pub refresh: String,
    #[serde(default)]
    pub credentials_file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthCheck {
    /// https GET /readyz: kube-apiserver fails /readyz at once on SIGTERM while /healthz
    /// stays 200 during its shutdown delay, so only /readyz drains a node in time.
    #[serde(default = "default_check_type", rename = "type")]
    pub kind: String,
    #[serde(default = "default_check_path")]
    pub path: String,
    #[serde(default = "default_expect_status")]
    pub expect_status: i64,
    /// 2s / 3 / 2: HAProxy's defaults; 3 failures before DOWN is seed 004's policy.
    #[serde(default = "default_check_interval")]
    pub interval: String,
    #[serde(default = "default_fall")]
    pub fall: i64,
    #[serde(default = "default_rise")]
    pub rise: i64,
    #[serde(default)]
    pub ca_file: Option<String>,
    #[serde(default)]
    pub client_certificate: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Timeouts {
    /// 2s: a request sent to a black-holed node waits one connect timeout before it is
    /// redispatched; measured (docs/benchmarks.md, black hole with roundrobin): 38 / 91 / 177
    /// failed requests at 2 / 5 / 10 s. A LAN apiserver accepts in well under a millisecond,
    /// so 2 s still leaves room for one SYN retransmit (1 s).
    #[serde(default = "default_connect")]
    pub connect: String,
    /// 20s client/server: the kubeadm HA guide's values, for the TLS handshake phase.
    #[serde(default = "default_client")]
    pub client: String,
    #[serde(default = "default_server")]
    pub server: String,
    /// 1h: watches, `logs -f` and `exec` idle far longer than 20s; the apiserver ends
    /// watches itself after 30–60 min (--min-request-timeout 1800s × up to 2).
    #[serde(default = "default_tunnel")]
    pub tunnel: String,
    /// 10s (seed 000): half-closed connections do not linger for the tunnel timeout.
    #[serde(default = "default_client_fin")]
    pub client_fin: String,
    /// 5s: a /readyz answer slower than this means the node is in trouble.
    #[serde(default = "default_check_timeout")]
    pub check: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Log {
    /// /dev/log: the journal's syslog socket on systemd hosts.
    #[serde(default = "default_log_target")]
    pub target: String,
    #[serde(default = "default_log_facility")]
    pub facility: String,
    #[serde(default = "default_log_level")]
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resolvers {
    /// Empty: read /etc/resolv.conf.
    #[serde(default)]
    pub nameservers: Vec<String>,
    #[serde(default = "default_resolver_hold")]
    pub hold: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Firewall {
    #[serde(default)]
    pub interface: Option<String>,
}

/// Lines appended verbatim to a section. Not validated by us beyond control bytes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExtraConfig {
    #[serde(default)]
    pub global: String,
    #[serde(default)]
    pub defaults: String,
    #[serde(default)]
    pub frontend: String,
    #[serde(default)]
    pub backend: String,
    #[serde(default)]
    pub stats: String,
}

/// A workload backend: the nodes of a NodePort or ingress controller.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Backend {
    /// May be empty (a warning): a backend being set up before its nodes exist.
    #[serde(default)]
    pub nodes: Vec<BackendNode>,
    /// leastconn: passthrough TLS and HTTP/2 keep connections open, as on the API.
    #[serde(default = "default_balance")]
    pub balance: String,
    #[serde(default)]
    pub health_check: BackendHealthCheck,
    /// none: stickiness is opt-in; `source` keeps a client on one node (stick table on its
    /// address), `cookie` is HTTP-only.
    #[serde(default = "default_sticky")]
    pub sticky: String,
    /// HTTP-only options, accepted in the model so that setting them gets a clear refusal
    /// until HTTP routing exists, instead of "unknown option".
    #[serde(default)]
    pub cookie_name: Option<String>,
    #[serde(default)]
    pub tls: Option<bool>,
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// Like an API node, but a workload has no conventional port: `port` is required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BackendNode {
    pub name: String,
    pub address: String,
    pub port: i64,
    #[serde(default = "default_weight")]
    pub weight: i64,
    #[serde(default)]
    pub backup: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BackendHealthCheck {
    /// tcp: the only check every workload answers; `tls`, `http` and `https` are opt-in.
    #[serde(default = "default_backend_check_type", rename = "type")]
    pub kind: String,
    /// `http`/`https` only; null means `/`.
    #[serde(default)]
    pub path: Option<String>,
    /// `http`/`https` only; null means HAProxy's default: any 2xx or 3xx.
    #[serde(default)]
    pub expect_status: Option<i64>,
    /// `http`/`https` only: the Host header (and, for `https`, the SNI) of the check, for
    /// ingress controllers that route by name.
    #[serde(default)]
    pub host: Option<String>,
    /// 2s / 3 / 2: the same as the API's defaults.
    #[serde(default = "default_check_interval")]
    pub interval: String,
    #[serde(default = "default_fall")]
    pub fall: i64,
    #[serde(default = "default_rise")]
    pub rise: i64,
}

/// Hosts (exact names or `*.` + one label) whose TLS connections go to `backend`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SniRoute {
    pub hosts: Vec<String>,
    pub backend: String,
}

macro_rules! default_via_serde {
    ($($ty:ident),*) => {$(
        impl Default for $ty {
            fn default() -> Self {
                serde_json::from_str("{}").expect("every field has a default")
            }
        }
    )*};
}
default_via_serde!(
    Cluster,
    Stats,
    HealthCheck,
    Timeouts,
    Log,
    Resolvers,
    BackendHealthCheck
);

impl Input {
    /// The top-level shorthand fields as a [`Cluster`], defaults filled in, so one code path
    /// validates every cluster. Whether the shorthand forms a cluster is `validate`'s call.
    pub fn shorthand(&self) -> Cluster {
        let defaults = Cluster::default();
        Cluster {
            frontend_port: self.frontend_port.unwrap_or(defaults.frontend_port),
            bind_address: self.bind_address.clone().unwrap_or(defaults.bind_address),
            control_plane_nodes: self.control_plane_nodes.clone(),
            allowed_sources: self
                .allowed_sources
                .clone()
                .unwrap_or(defaults.allowed_sources),
            sni_routes: self.sni_routes.clone().unwrap_or(defaults.sni_routes),
        }
    }

    /// The top-level `bindAddress` with its default: the stats listener's fallback address.
    pub fn bind_address_or_default(&self) -> String {
        self.bind_address
            .clone()
            .unwrap_or_else(default_bind_address)
    }

    /// `statsPort` with its default.
    pub fn stats_port_or_default(&self) -> i64 {
        self.stats_port.unwrap_or_else(default_stats_port)
    }
}

fn default_true() -> bool {
    true
}
fn default_api_port() -> i64 {
    6443
}
fn default_bind_address() -> String {
    "*".into()
}
fn default_stats_port() -> i64 {
    8404
}
fn default_balance() -> String {
    "leastconn".into()
}
fn default_on_marked_down() -> String {
    "none".into()
}
fn default_retries() -> i64 {
    3
}
fn default_admin_socket() -> String {
    "/run/haproxy-k8s/admin.sock".into()
}
fn default_max_connections() -> i64 {
    4000
}
fn default_hard_stop_after() -> Option<String> {
    Some("15m".into())
}
fn default_weight() -> i64 {
    1
}
fn default_stats_sources() -> Vec<String> {
    [
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
    ]
    .map(String::from)
    .to_vec()
}
fn default_stats_uri() -> String {
    "/stats".into()
}
fn default_stats_refresh() -> String {
    "10s".into()
}
fn default_sticky() -> String {
    "none".into()
}
fn default_backend_check_type() -> String {
    "tcp".into()
}
fn default_check_type() -> String {
    "https".into()
}
fn default_check_path() -> String {
    "/readyz".into()
}
fn default_expect_status() -> i64 {
    200
}
fn default_check_interval() -> String {
    "2s".into()
}
fn default_fall() -> i64 {
    3
}
fn default_rise() -> i64 {
    2
}
fn default_connect() -> String {
    "2s".into()
}
fn default_client() -> String {
    "20s".into()
}
fn default_server() -> String {
    "20s".into()
}
fn default_tunnel() -> String {
    "1h".into()
}
fn default_client_fin() -> String {
    "10s".into()
}
fn default_check_timeout() -> String {
    "5s".into()
}
fn default_log_target() -> String {
    "/dev/log".into()
}
fn default_log_facility() -> String {
    "local0".into()
}
fn default_log_level() -> String {
    "info".into()
}
fn default_resolver_hold() -> String {
    "10s".into()
}
