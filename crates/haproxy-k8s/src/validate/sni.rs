//! SNI passthrough routes (`sniRoutes`, top level and per cluster): TLS connections whose
//! ClientHello names a route's host go, unterminated, to a workload backend; everything else
//! stays with the apiservers.
//!
//! Host patterns follow Kubernetes Ingress: an exact name, or `*.` and a name, where `*`
//! stands for exactly one label. Both compare case-insensitively, so they are kept in lower
//! case, and a pattern that repeats another (after that) is refused rather than shadowed.

use super::addresses;
use super::fields::show;
use super::report::{all, Checked, Report};
use crate::errors::closest;
use crate::input::{Input, SniRoute};
use crate::plan::{HostPattern, SniRoutePlan};
use std::collections::{BTreeSet, HashMap};

/// The routes of one cluster; `prefix` is `""` for the shorthand, `clusters.<name>.` otherwise.
pub(super) fn routes(
    prefix: &str,
    routes: &[SniRoute],
    input: &Input,
    report: &mut Report,
) -> Checked<Vec<SniRoutePlan>> {
    let backends: Vec<&str> = input.backends.keys().map(String::as_str).collect();
    // Host → the option that listed it first, for the duplicate message.
    let mut seen: HashMap<HostPattern, String> = HashMap::new();
    let mut plans = Vec::new();
    for (index, route) in routes.iter().enumerate() {
        let at = format!("{prefix}sniRoutes.{index}");
        let backend = known_backend(&format!("{at}.backend"), &route.backend, &backends, report);
        if route.hosts.is_empty() {
            report.error(
                &format!("{at}.hosts"),
                "is empty, so the route matches no connection: list at least one host name",
            );
        }
        for (host_index, host) in route.hosts.iter().enumerate() {
            let host_path = format!("{at}.hosts.{host_index}");
            let Ok(pattern) = report.check(&host_path, host_pattern(host)) else {
                plans.push(Err(super::report::Reported));
                continue;
            };
            let full_path = report.paths().join(&host_path);
            if let Some(first) = seen.get(&pattern) {
                let error = report.error(
                    &host_path,
                    format!(
                        "{} is already routed by {first}: each host may appear once per listener",
                        show(host)
                    ),
                );
                plans.push(Err(error));
                continue;
            }
            seen.insert(pattern.clone(), full_path);
            plans.push(backend.clone().map(|backend| SniRoutePlan {
                host: pattern,
                backend,
            }));
        }
    }
    all(plans)
}

fn known_backend(
    path: &str,
    name: &str,
    backends: &[&str],
    report: &mut Report,
) -> Checked<String> {
    if backends.contains(&name) {
        return Ok(name.to_string());
    }
    let hint = match closest(name, backends) {
        Some(close) => format!("; did you mean `{close}`?"),
        None if backends.is_empty() => "; define it under `backends`".to_string(),
        None => format!("; defined backends: {}", backends.join(", ")),
    };
    Err(report.error(path, format!("{} is not a backend{hint}", show(name))))
}

/// `name.example` or `*.name.example` (one label), lower case, without a final dot.
pub(crate) fn host_pattern(value: &str) -> Result<HostPattern, String> {
    let (wildcard, name) = match value.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    if name.contains('*') {
        return Err(format!(
            "{} has a `*` that is not the whole first label: only a leading `*.` is allowed (like `*.apps.example.com`), and it matches exactly one label",
            show(value)
        ));
    }
    if name.parse::<std::net::IpAddr>().is_ok() || name.contains(':') {
        return Err(format!(
            "{} is an IP address: a TLS client never sends one as SNI (RFC 6066), so connections by address always go to the apiservers",
            show(value)
        ));
    }
    let name = addresses::hostname(name)
        .map_err(|why| format!("{} is not a host name: {why}", show(value)))?;
    Ok(if wildcard {
        HostPattern::Wildcard { suffix: name }
    } else {
        HostPattern::Exact(name)
    })
}

/// Fail closed: a backend no route uses would be rendered and health-checked but never
/// receive traffic, which is most likely a misspelt route.
pub(super) fn refuse_unused_backends(input: &Input, shorthand_exists: bool, report: &mut Report) {
    let top_level = input
        .sni_routes
        .iter()
        .flatten()
        .filter(|_| shorthand_exists);
    let per_cluster = input
        .clusters
        .values()
        .flat_map(|cluster| cluster.sni_routes.iter());
    let used: BTreeSet<&str> = top_level
        .chain(per_cluster)
        .map(|route| route.backend.as_str())
        .collect();
    for name in input.backends.keys() {
        if !used.contains(name.as_str()) {
            report.error(
                &format!("backends.{name}"),
                "is not used by any sniRoutes entry (top level or clusters.<name>.sniRoutes), so no traffic would reach it: route to it or remove it",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_are_names_or_one_label_wildcards() {
        assert_eq!(
            host_pattern("Login.Example.COM").unwrap(),
            HostPattern::Exact("login.example.com".into())
        );
        assert_eq!(
            host_pattern("*.apps.example.com").unwrap(),
            HostPattern::Wildcard {
                suffix: "apps.example.com".into()
            }
        );
        for bad in [
            "",
            "*",
            "*.",
            "**.example.com",
            "a.*.example.com",
            "*example.com",
            "*.*.example.com",
            "10.0.0.1",
            "fd00::1",
            "[fd00::1]",
            "a b.example",
            "a_b.example",
            "-a.example",
            "a..example",
            "x.example\n",
        ] {
            assert!(host_pattern(bad).is_err(), "{bad:?}");
        }
    }
}
