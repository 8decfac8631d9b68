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

pub use errors::{InputError, InputErrors, OptionPath};
pub use plan::{Duration, Plan};
pub use render::firewall::FirewallRule;
pub use render::haproxy_cfg::{STATS_PASSWORD_VARIABLE, STATS_USER_VARIABLE};
pub use validate::SHORTHAND_CLUSTER;

/// Every file the generator writes, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    pub haproxy_cfg: String,
    pub firewall_json: String,
    pub firewall_nft: String,
    pub firewall_iptables: String,
}

impl Outputs {
    /// File names and contents, in a fixed order.
    pub fn files(&self) -> [(&'static str, &str); 4] {
        [
            ("haproxy.cfg", &self.haproxy_cfg),
            ("firewall.json", &self.firewall_json),
            ("firewall.nft", &self.firewall_nft),
            ("firewall.iptables", &self.firewall_iptables),
        ]
    }
}

/// JSON option set → validated plan. `option_prefix` (e.g. `services.haproxy-k8s`) is put
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
    }
}

/// The firewall rule list of a validated plan.
pub fn firewall_rules(plan: &Plan) -> Vec<FirewallRule> {
    render::firewall::rules(plan)
}

/// JSON option set → every output file.
pub fn generate(input_json: &str, option_prefix: &str) -> Result<Outputs, InputErrors> {
    plan(input_json, option_prefix).map(|plan| render(&plan))
}
