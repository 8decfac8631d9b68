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

// ---------- issue 8 ----------

/// Item 1: with `clusters` and no top-level nodes there is no top-level cluster, so its values
/// would be ignored; a top-level `allowedSources` ignored means a port open to anyone.
#[test]
fn top_level_values_that_nothing_reads_are_refused() {
    let prod = r#""clusters": {"prod": {"bindAddress": "192.168.8.1", "controlPlaneNodes": [{"name": "a", "address": "192.168.8.10"}]}}"#;
    let found = errors(&format!(
        r#"{{"allowedSources": ["10.0.0.0/8"], "frontendPort": 7443, {prod}}}"#
    ));
    let p = "services.haproxy-k8s";
    assert!(
        has(&found, &format!("{p}.allowedSources"), "nothing reads it"),
        "{found:#?}"
    );
    assert!(
        has(&found, &format!("{p}.frontendPort"), "nothing reads it"),
        "{found:#?}"
    );
    assert_eq!(found.len(), 2, "{found:#?}");
    // Even the default value, when given: the user meant something by it.
    assert!(has(
        &errors(&format!(r#"{{"allowedSources": [], {prod}}}"#)),
        &format!("{p}.allowedSources"),
        "nothing reads it"
    ));
    // The top-level bindAddress is the stats listener's address unless stats has its own.
    assert!(accepted(&format!(
        r#"{{"bindAddress": "192.168.8.1", {prod}}}"#
    )));
    assert!(has(
        &errors(&format!(
            r#"{{"bindAddress": "192.168.8.1", "stats": {{"bindAddress": "127.0.0.1"}}, {prod}}}"#
        )),
        &format!("{p}.bindAddress"),
        "nothing reads it"
    ));
    assert!(has(
        &errors(&format!(
            r#"{{"bindAddress": "192.168.8.1", "stats": {{"enable": false}}, {prod}}}"#
        )),
        &format!("{p}.bindAddress"),
        "nothing reads it"
    ));
    // statsPort without a stats listener.
    assert!(has(
        &errors(r#"{"statsPort": 9000, "stats": {"enable": false}}"#),
        &format!("{p}.statsPort"),
        "stats.enable is false"
    ));
    // null is "not set"; with top-level nodes every top-level value is read.
    assert!(accepted(&format!(
        r#"{{"allowedSources": null, "frontendPort": null, {prod}}}"#
    )));
    assert!(accepted(&format!(
        r#"{{"allowedSources": ["10.0.0.0/8"], "frontendPort": 7443,
             "controlPlaneNodes": [{{"name": "a", "address": "10.0.0.1"}}], {prod}}}"#
    )));
}

/// Item 3: `::0`/`0::0` are the dual-stack wildcard, `::ffff:a.b.c.d` is IPv4 a.b.c.d.
#[test]
fn unspecified_and_ipv4_mapped_addresses_are_canonical() {
    for (other, address) in [
        ("*", "::0"),
        ("*", "0::0"),
        ("*", "::ffff:192.168.8.1"),
        ("192.168.8.1", "::ffff:192.168.8.1"),
        ("0.0.0.0", "::ffff:192.168.8.1"),
        ("::", "192.168.8.1"),
        ("[::]", "*"),
    ] {
        let found = errors(&format!(
            r#"{{"clusters": {{"pub": {{"bindAddress": "{other}"}}, "x": {{"bindAddress": "{address}"}}}},
                 "stats": {{"enable": false}}}}"#
        ));
        assert!(
            has(
                &found,
                "services.haproxy-k8s.clusters.x.frontendPort",
                "clashes with services.haproxy-k8s.clusters.pub.frontendPort"
            ),
            "{other} beside {address}: {found:#?}"
        );
    }
    let out = haproxy_k8s::generate(
        r#"{"clusters": {"a": {"bindAddress": "0::0"}, "b": {"bindAddress": "::ffff:192.168.8.1", "frontendPort": 7443}},
            "stats": {"bindAddress": "::ffff:127.0.0.1"}}"#,
        "",
    )
    .unwrap();
    let cfg = &out.haproxy_cfg;
    assert!(cfg.contains("    bind [::]:6443 v4v6\n"), "{cfg}");
    assert!(cfg.contains("    bind 192.168.8.1:7443\n"), "{cfg}");
    assert!(cfg.contains("    bind 127.0.0.1:8404\n"), "{cfg}");
    assert!(!cfg.contains("ffff"), "{cfg}");
    assert!(
        out.firewall_nft
            .contains("ip daddr 192.168.8.1 tcp dport 7443 accept"),
        "{}",
        out.firewall_nft
    );
    assert!(
        !out.firewall_nft.contains("daddr ::"),
        "{}",
        out.firewall_nft
    );
    // The same node spelled twice is one endpoint.
    let found = errors(
        r#"{"controlPlaneNodes": [{"name": "a", "address": "10.0.0.1"}, {"name": "b", "address": "::ffff:10.0.0.1"}]}"#,
    );
    assert!(
        has(
            &found,
            "services.haproxy-k8s.controlPlaneNodes.1.address",
            "listed twice"
        ),
        "{found:#?}"
    );
}

#[test]
fn multicast_and_broadcast_binds_and_nodes_are_refused() {
    for address in ["224.0.0.1", "239.1.2.3", "ff02::1", "255.255.255.255"] {
        let found = errors(&format!(
            r#"{{"bindAddress": "{address}", "controlPlaneNodes": [{{"name": "a", "address": "{address}"}}]}}"#
        ));
        assert!(
            has(&found, "services.haproxy-k8s.bindAddress", "cast address"),
            "{address}: {found:#?}"
        );
        assert!(
            has(
                &found,
                "services.haproxy-k8s.controlPlaneNodes.0.address",
                "cast address"
            ),
            "{address}: {found:#?}"
        );
    }
}

/// Item 6: HAProxy refuses a zone index in `nameserver`; a link-local server needs one.
#[test]
fn scoped_and_link_local_nameservers_are_refused() {
    let nodes = r#""controlPlaneNodes": [{"name": "a", "address": "cp1.example"}]"#;
    for server in [
        "[fe80::1%2]:53",
        "[fe80::1%eth0]:53",
        "fe80::1",
        "[fe80::1]:5353",
    ] {
        let found = errors(&format!(
            r#"{{{nodes}, "resolvers": {{"nameservers": ["{server}"]}}}}"#
        ));
        assert!(
            has(
                &found,
                "services.haproxy-k8s.resolvers.nameservers.0",
                "link-local"
            ),
            "{server}: {found:#?}"
        );
    }
    assert!(accepted(&format!(
        r#"{{{nodes}, "resolvers": {{"nameservers": ["[fd00::53]:53", "fd00::54", "10.0.0.53"]}}}}"#
    )));
    let found = errors(&format!(
        r#"{{{nodes}, "resolvers": {{"nameservers": ["10.0.0.53", "10.0.0.53:53"]}}}}"#
    ));
    assert!(
        has(
            &found,
            "services.haproxy-k8s.resolvers.nameservers.1",
            "listed twice"
        ),
        "{found:#?}"
    );
}

/// Item 6: DNS names compare case-insensitively and without the final dot.
#[test]
fn hostname_endpoints_compare_like_dns_names() {
    let found = errors(
        r#"{"controlPlaneNodes": [
            {"name": "a", "address": "cp1.example.com"},
            {"name": "b", "address": "CP1.Example.COM."}
        ]}"#,
    );
    assert!(
        has(
            &found,
            "services.haproxy-k8s.controlPlaneNodes.1.address",
            "listed twice"
        ),
        "{found:#?}"
    );
}

/// Item 8: an empty node list builds (seed 004's module example), with a warning naming it.
#[test]
fn empty_node_lists_build_with_a_warning() {
    let plan = haproxy_k8s::plan(
        r#"{"bindAddress": "192.168.8.1", "controlPlaneNodes": [], "statsPort": 8404}"#,
        "services.haproxy-k8s",
    )
    .unwrap();
    let warnings: Vec<String> = plan.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].starts_with("services.haproxy-k8s.controlPlaneNodes: is empty"),
        "{warnings:#?}"
    );
    let plan = haproxy_k8s::plan(
        r#"{"clusters": {"a": {"controlPlaneNodes": [{"name": "n", "address": "10.0.0.1"}]},
                         "b": {"frontendPort": 7443}}}"#,
        "",
    )
    .unwrap();
    let paths: Vec<&str> = plan.warnings().iter().map(|w| w.path.as_str()).collect();
    assert_eq!(paths, ["clusters.b.controlPlaneNodes"]);
    let seed = haproxy_k8s::plan(include_str!("../../../examples/seed-004.json"), "").unwrap();
    assert!(seed.warnings().is_empty());
}
