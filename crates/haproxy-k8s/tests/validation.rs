//! Bad option sets: every error reported at once, each naming its option path.

fn errors(json: &str) -> Vec<String> {
    match haproxy_k8s::plan(json, "services.haproxy-k8s") {
        Ok(_) => panic!("accepted: {json}"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

fn accepted(json: &str) -> bool {
    haproxy_k8s::plan(json, "services.haproxy-k8s").is_ok()
}

fn has(errors: &[String], path: &str, needle: &str) -> bool {
    errors
        .iter()
        .any(|e| e.starts_with(&format!("{path}: ")) && e.contains(needle))
}

#[test]
fn every_error_is_reported_at_once_with_its_path() {
    let found = errors(
        r#"{
          "frontendPort": 0,
          "bindAddress": "router.lan",
          "controlPlaneNodes": [
            { "name": "cp 1", "address": "192.168.8.300", "port": 70000 },
            { "name": "cp-2", "address": "10.0.0.2", "weight": 300 }
          ],
          "statsPort": 8404,
          "healthCheck": { "type": "http", "interval": "2 s", "fall": 0 },
          "timeouts": { "tunnel": "25d" },
          "balance": "random-ish",
          "adminSocket": "run/admin.sock"
        }"#,
    );
    let p = "services.haproxy-k8s";
    let expected = [
        (format!("{p}.frontendPort"), "1–65535"),
        (format!("{p}.bindAddress"), "not an IP address"),
        (format!("{p}.controlPlaneNodes.0.name"), "the character ' '"),
        (
            format!("{p}.controlPlaneNodes.0.address"),
            "neither an IPv4 address",
        ),
        (format!("{p}.controlPlaneNodes.0.port"), "1–65535"),
        (format!("{p}.controlPlaneNodes.1.weight"), "0–256"),
        (format!("{p}.healthCheck.type"), "https, tls, tcp"),
        (format!("{p}.healthCheck.interval"), "not a duration"),
        (format!("{p}.healthCheck.fall"), "1–100"),
        (format!("{p}.timeouts.tunnel"), "2147483647ms"),
        (format!("{p}.balance"), "leastconn"),
        (format!("{p}.adminSocket"), "not an absolute path"),
    ];
    for (path, needle) in &expected {
        assert!(
            has(&found, path, needle),
            "missing {path} ({needle}) in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[test]
fn duplicate_node_names_and_endpoints() {
    let found = errors(
        r#"{"controlPlaneNodes": [
            {"name": "a", "address": "10.0.0.1"},
            {"name": "a", "address": "10.0.0.2"},
            {"name": "c", "address": "10.0.0.1", "port": 6443}
        ]}"#,
    );
    assert!(
        has(
            &found,
            "services.haproxy-k8s.controlPlaneNodes.1.name",
            "unique"
        ),
        "{found:?}"
    );
    assert!(
        has(
            &found,
            "services.haproxy-k8s.controlPlaneNodes.2.address",
            "listed twice"
        ),
        "{found:?}"
    );
    // The same node in two clusters is fine: each cluster has its own backend.
    assert!(accepted(
        r#"{"controlPlaneNodes": [{"name": "a", "address": "10.0.0.1"}],
            "clusters": {"b": {"frontendPort": 7443, "controlPlaneNodes": [{"name": "a", "address": "10.0.0.1"}]}}}"#
    ));
}

#[test]
fn two_listeners_on_one_address_and_port() {
    // The stats port on the API port.
    let found = errors(r#"{"bindAddress": "10.0.0.1", "statsPort": 6443}"#);
    assert!(
        has(
            &found,
            "services.haproxy-k8s.statsPort",
            "clashes with services.haproxy-k8s.frontendPort"
        ),
        "{found:?}"
    );
    // Two clusters, one wildcard: `*` covers every IPv4 address.
    let found =
        errors(r#"{"clusters": {"a": {"bindAddress": "*"}, "b": {"bindAddress": "10.0.0.1"}}}"#);
    assert!(
        has(
            &found,
            "services.haproxy-k8s.clusters.b.frontendPort",
            "clashes with services.haproxy-k8s.clusters.a.frontendPort"
        ),
        "{found:?}"
    );
    // `::` covers both families.
    assert!(!errors(
        r#"{"bindAddress": "::", "stats": {"bindAddress": "127.0.0.1"}, "statsPort": 6443}"#
    )
    .is_empty());
    // Different addresses on one port are fine, and so are IPv4 `*` and an IPv6 address.
    assert!(accepted(
        r#"{"clusters": {"a": {"bindAddress": "10.0.0.1"}, "b": {"bindAddress": "10.0.0.2"}}}"#
    ));
    assert!(accepted(
        r#"{"clusters": {"a": {"bindAddress": "*"}, "b": {"bindAddress": "fd00::1"}}}"#
    ));
}

#[test]
fn the_shorthand_cluster_name_is_reserved() {
    let found = errors(
        r#"{"controlPlaneNodes": [{"name": "a", "address": "10.0.0.1"}],
            "clusters": {"default": {"frontendPort": 7443}}}"#,
    );
    assert!(
        has(&found, "services.haproxy-k8s.clusters.default", "taken"),
        "{found:?}"
    );
    let found = errors(r#"{"clusters": {"a.b": {}, "-x": {"frontendPort": 7000}}}"#);
    assert!(
        has(&found, "services.haproxy-k8s.clusters.a.b", "`.`"),
        "{found:?}"
    );
    assert!(
        has(
            &found,
            "services.haproxy-k8s.clusters.-x",
            "must start with"
        ),
        "{found:?}"
    );
}

#[test]
fn secrets_under_the_nix_store_are_refused() {
    let found = errors(
        r#"{"stats": {"credentialsFile": "/nix/store/0c0h3p6ar4l7y9ki5a0g04hcbha98hxb-stats.env"},
            "healthCheck": {"clientCertificate": "/nix/store/0c0h3p6ar4l7y9ki5a0g04hcbha98hxb-client.pem"}}"#,
    );
    assert!(
        has(
            &found,
            "services.haproxy-k8s.stats.credentialsFile",
            "Nix store"
        ),
        "{found:?}"
    );
    assert!(
        has(
            &found,
            "services.haproxy-k8s.healthCheck.clientCertificate",
            "Nix store"
        ),
        "{found:?}"
    );
    // A CA certificate is public: the store is fine for it.
    assert!(accepted(
        r#"{"healthCheck": {"caFile": "/nix/store/0c0h3p6ar4l7y9ki5a0g04hcbha98hxb-ca.pem"}}"#
    ));
}

#[test]
fn tls_files_with_a_tcp_check_are_a_mistake() {
    let found =
        errors(r#"{"healthCheck": {"type": "tcp", "caFile": "/etc/kubernetes/pki/ca.crt"}}"#);
    assert!(
        has(
            &found,
            "services.haproxy-k8s.healthCheck.caFile",
            "no effect"
        ),
        "{found:?}"
    );
}

#[test]
fn control_bytes_and_injection_attempts_are_refused() {
    let attempts = [
        r#"{"controlPlaneNodes": [{"name": "a", "address": "10.0.0.1\nuser root"}]}"#,
        r#"{"controlPlaneNodes": [{"name": "a\rb", "address": "10.0.0.1"}]}"#,
        r#"{"healthCheck": {"path": "/readyz\nhttp-request deny"}}"#,
        r#"{"healthCheck": {"path": "/readyz #comment"}}"#,
        r#"{"stats": {"uri": "/stats\u0000x"}}"#,
        r#"{"stats": {"credentialsFile": "/run/${HOME}/x"}}"#,
        r#"{"log": {"target": "/dev/log local7\nglobal"}}"#,
        r#"{"firewall": {"interface": "eth0\" accept"}}"#,
        r#"{"extraConfig": {"global": "a\rb"}}"#,
    ];
    for json in attempts {
        assert!(!errors(json).is_empty(), "{json}");
    }
}

#[test]
fn type_errors_and_unknown_options_name_their_path() {
    let found = errors(r#"{"statsPort": "8404"}"#);
    assert_eq!(
        found,
        ["services.haproxy-k8s.statsPort: expected an integer, found the string \"8404\""]
    );
    let found = errors(r#"{"stats": {"prometeus": true}}"#);
    assert_eq!(found, ["services.haproxy-k8s.stats.prometeus: unknown option `prometeus`; did you mean `prometheus`?"]);
}

#[test]
fn no_prefix_gives_bare_paths() {
    let found = haproxy_k8s::plan(r#"{"frontendPort": 0}"#, "").unwrap_err();
    assert_eq!(found.0[0].path, "frontendPort");
}
