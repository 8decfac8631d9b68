//! haproxy-k8s: turns `services.haproxy-k8s` options (as JSON) into a validated
//! `haproxy.cfg` and firewall rules for a Kubernetes control-plane load balancer.
//!
//! Pure: no files, no processes, no clock. Parse → validate (into a [`Plan`] nothing else can
//! construct) → render (cannot fail).

pub mod errors;
pub mod input;
mod parse;
mod plan;
mod render;
mod validate;
mod warning;

pub use errors::{InputError, InputErrors, Location, OptionPath};
pub use plan::{Family, Plan};
pub use render::firewall::{FirewallRule, Protocol};
pub use render::haproxy_cfg::{STATS_PASSWORD_VARIABLE, STATS_USER_VARIABLE};
pub use validate::SHORTHAND_CLUSTER;
pub use warning::Warning;

/// Every file the generator writes, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    pub haproxy_cfg: String,
    pub firewall_json: String,
    pub firewall_nft: String,
    pub firewall_iptables: String,
    /// Only with a `vip`.
    pub keepalived_conf: Option<String>,
}

impl Outputs {
    /// File names and contents, in a fixed order.
    pub fn files(&self) -> Vec<(&'static str, &str)> {
        let mut files = vec![
            ("haproxy.cfg", self.haproxy_cfg.as_str()),
            ("firewall.json", &self.firewall_json),
            ("firewall.nft", &self.firewall_nft),
            ("firewall.iptables", &self.firewall_iptables),
        ];
        if let Some(keepalived) = &self.keepalived_conf {
            files.push(("keepalived.conf", keepalived));
        }
        files
    }
}

/// JSON option set → validated plan; its [`Plan::warnings`] are for the user to see. `option_prefix` (e.g. `services.haproxy-k8s`) is put
/// in front of every option path in error messages and firewall comments.
pub fn plan(input_json: &str, option_prefix: &str) -> Result<Plan, InputErrors> {
    let paths = OptionPath::new(option_prefix);
    let input = parse::parse_input(input_json, &paths)?;
    validate::validate(&input, paths)
}

/// Renders every output of a validated plan.
pub fn render(plan: &Plan) -> Outputs {
    let rules = render::firewall::rules(plan);
    Outputs {
        haproxy_cfg: render::haproxy_cfg::render(plan),
        firewall_json: render::firewall::render_json(&rules),
        firewall_nft: render::firewall::render_nft(&rules),
        firewall_iptables: render::firewall::render_iptables(&rules),
        keepalived_conf: render::keepalived::render(plan),
    }
}

/// The firewall rule list of a validated plan.
pub fn firewall_rules(plan: &Plan) -> Vec<FirewallRule> {
    render::firewall::rules(plan)
}

/// Files the config reads when HAProxy starts: the health-check CA and client certificate,
/// and `/etc/resolv.conf` when hostname nodes rely on it. They may not exist where the config
/// is generated (the Nix build sandbox has no secrets and no resolv.conf), so a build-time
/// check uses [`haproxy_cfg_for_offline_check`] where they are missing.
pub fn runtime_files(plan: &Plan) -> Vec<&str> {
    let health = &plan.health;
    let reads_resolv_conf = plan
        .resolvers
        .as_ref()
        .is_some_and(|resolvers| resolvers.nameservers.is_empty());
    health
        .ca_file
        .iter()
        .chain(health.client_certificate.iter())
        .map(String::as_str)
        .chain(reads_resolv_conf.then_some(RESOLV_CONF))
        .collect()
}

const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The nameservers of the resolvers section that are not on loopback. `haproxy -c` connects a
/// UDP socket to each while it parses the config, and fails (with `-dW`) where there is no
/// route to them, as in the Nix build sandbox (only `lo`), though nothing is wrong with the
/// file: a build-time check uses [`haproxy_cfg_for_offline_check`] when there are any.
pub fn remote_nameservers(plan: &Plan) -> Vec<String> {
    plan.resolvers
        .iter()
        .flat_map(|resolvers| resolvers.nameservers.iter())
        .filter(|server| !server.ip().is_loopback())
        .map(ToString::to_string)
        .collect()
}

/// The same config without the runtime files and without the network: checks verify nothing
/// and present no client certificate, and DNS goes to one loopback placeholder server instead
/// of resolv.conf or the configured nameservers. Only for `haproxy -c` where those files or
/// servers are out of reach; never to be served.
pub fn haproxy_cfg_for_offline_check(plan: &Plan) -> String {
    let mut offline = plan.clone();
    offline.health.ca_file = None;
    offline.health.client_certificate = None;
    if let Some(resolvers) = offline.resolvers.as_mut() {
        resolvers.nameservers = vec![([127, 0, 0, 1], 53).into()];
    }
    render::haproxy_cfg::render(&offline)
}

/// JSON option set → every output file.
pub fn generate(input_json: &str, option_prefix: &str) -> Result<Outputs, InputErrors> {
    plan(input_json, option_prefix).map(|plan| render(&plan))
}
