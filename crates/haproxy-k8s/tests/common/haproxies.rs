//! Which HAProxy binaries the tests check generated configs with (shared by the library's and
//! the CLI's tests through `#[path]`).

/// `HAPROXY_K8S_HAPROXIES` (space-separated binaries), by default Debian 12's `haproxy` (2.6)
/// and `haproxy-3.0` (Debian 13's, installed by tests/install-deps.sh): the 2.6 and 3.x lines
/// the generated config must satisfy. The Nix build sets it to `haproxy`: nixpkgs' HAProxy is
/// already the 3.x line, and its sandbox has no other.
pub fn haproxies() -> Vec<String> {
    match std::env::var("HAPROXY_K8S_HAPROXIES") {
        Ok(list) if !list.trim().is_empty() => list.split_whitespace().map(String::from).collect(),
        _ => vec!["haproxy".into(), "haproxy-3.0".into()],
    }
}
