//! Bad workload option sets (`backends`, `sniRoutes`): every error at once, each naming its
//! option path; what builds with a warning; what HTTP-only options say until HTTP exists.

const P: &str = "services.haproxy-k8s";

fn errors(json: &str) -> Vec<String> {
    match haproxy_k8s::plan(json, P) {
        Ok(_) => panic!("accepted: {json}"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

fn has(errors: &[String], path: &str, needle: &str) -> bool {
    errors
        .iter()
        .any(|e| e.starts_with(&format!("{P}.{path}: ")) && e.contains(needle))
}

/// A valid base: one API node on 443 and one backend routed by `login.example.com`.
fn with(routes: &str, backends: &str) -> String {
    format!(
        r#"{{"frontendPort": 443, "controlPlaneNodes": [{{"name": "cp", "address": "10.0.0.1"}}],
            "sniRoutes": {routes}, "backends": {backends}}}"#
    )
}

const INGRESS: &str =
    r#"{"ingress": {"nodes": [{"name": "w1", "address": "10.0.1.1", "port": 443}]}}"#;

#[test]
fn the_base_is_valid() {
    let plan = haproxy_k8s::plan(
        &with(
            r#"[{"hosts": ["login.example.com"], "backend": "ingress"}]"#,
            INGRESS,
        ),
        P,
    )
    .unwrap();
    assert!(plan.warnings().is_empty());
}

#[test]
fn every_route_error_at_once() {
    let found = errors(&with(
        r#"[{"hosts": ["login.example.com", "LOGIN.example.com.", "a.*.example.com", "*.example.com",
                       "10.0.0.1", "fd00::1", "", "bad_name.example", "x.example.com\n#"], "backend": "ingres"},
            {"hosts": [], "backend": "ingress"},
            {"hosts": ["*.EXAMPLE.com"], "backend": "nothing-like-it"}]"#,
        INGRESS,
    ));
    let at = |index: usize| format!("sniRoutes.0.hosts.{index}");
    assert!(
        has(&found, "sniRoutes.0.backend", "did you mean `ingress`?"),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            &at(1),
            &format!("already routed by {P}.sniRoutes.0.hosts.0")
        ),
        "{found:#?}"
    );
    assert!(has(&found, &at(2), "only a leading `*.`"), "{found:#?}");
    assert!(has(&found, &at(4), "IP address"), "{found:#?}");
    assert!(has(&found, &at(5), "IP address"), "{found:#?}");
    assert!(has(&found, &at(6), "not a host name"), "{found:#?}");
    assert!(
        has(&found, &at(7), "not allowed in a hostname"),
        "{found:#?}"
    );
    assert!(
        has(&found, &at(8), "not allowed in a hostname"),
        "{found:#?}"
    );
    assert!(has(&found, "sniRoutes.1.hosts", "is empty"), "{found:#?}");
    assert!(
        has(
            &found,
            "sniRoutes.2.hosts.0",
            &format!("already routed by {P}.sniRoutes.0.hosts.3")
        ),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            "sniRoutes.2.backend",
            "\"nothing-like-it\" is not a backend; defined backends: ingress"
        ),
        "{found:#?}"
    );
    assert_eq!(found.len(), 11, "{found:#?}");
}

#[test]
fn routes_without_backends_say_where_to_define_them() {
    let found = errors(&with(
        r#"[{"hosts": ["a.example"], "backend": "web"}]"#,
        "{}",
    ));
    assert!(
        has(&found, "sniRoutes.0.backend", "define it under `backends`"),
        "{found:#?}"
    );
}

#[test]
fn the_same_host_on_two_listeners_is_fine() {
    let json = r#"{"clusters": {
        "a": {"frontendPort": 443, "controlPlaneNodes": [{"name": "cp", "address": "10.0.0.1"}],
              "sniRoutes": [{"hosts": ["login.example.com"], "backend": "ingress"}]},
        "b": {"frontendPort": 8443, "controlPlaneNodes": [{"name": "cp", "address": "10.0.0.2"}],
              "sniRoutes": [{"hosts": ["login.example.com"], "backend": "ingress"}]}},
        "backends": {"ingress": {"nodes": [{"name": "w1", "address": "10.0.1.1", "port": 443}]}}}"#;
    haproxy_k8s::plan(json, P).unwrap();
}

#[test]
fn an_unused_backend_is_refused() {
    let backends = r#"{"ingress": {"nodes": [{"name": "w1", "address": "10.0.1.1", "port": 443}]},
                       "spare": {"nodes": [{"name": "w1", "address": "10.0.1.1", "port": 443}]}}"#;
    let found = errors(&with(
        r#"[{"hosts": ["a.example"], "backend": "ingress"}]"#,
        backends,
    ));
    assert!(
        has(&found, "backends.spare", "not used by any sniRoutes"),
        "{found:#?}"
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    // Routes of a top level that forms no cluster do not count: they are refused themselves.
    let json = r#"{"clusters": {"a": {"controlPlaneNodes": [{"name": "cp", "address": "10.0.0.1"}]}},
        "sniRoutes": [{"hosts": ["a.example"], "backend": "ingress"}],
        "backends": {"ingress": {"nodes": [{"name": "w1", "address": "10.0.1.1", "port": 443}]}}}"#;
    let found = errors(json);
    assert!(
        has(&found, "sniRoutes", "set clusters.<name>.sniRoutes instead"),
        "{found:#?}"
    );
    assert!(has(&found, "backends.ingress", "not used"), "{found:#?}");
    // An empty top-level list routes nothing, so nothing is lost.
    let json = r#"{"clusters": {"a": {"controlPlaneNodes": [{"name": "cp", "address": "10.0.0.1"}]}},
        "sniRoutes": []}"#;
    haproxy_k8s::plan(json, P).unwrap();
}

#[test]
fn every_backend_error_at_once() {
    let backends = r#"{
      "bad.name": {"nodes": []},
      "ingress": {
        "nodes": [{"name": "w1", "address": "10.0.1.1", "port": 0},
                  {"name": "w1", "address": "10.0.1.2", "port": 443, "weight": 300},
                  {"name": "w3", "address": "10.0.1.2", "port": 443}],
        "balance": "round-robin",
        "healthCheck": {"type": "tls", "path": "/healthz", "expectStatus": 200, "host": "a.example",
                        "interval": "0s", "fall": 0, "rise": 101},
        "sticky": "sticky"},
      "web": {"nodes": [{"name": "w1", "address": "10.0.1.1", "port": 30080}],
              "healthCheck": {"type": "http", "path": "healthz", "expectStatus": 99, "host": "a b"}}
    }"#;
    let found = errors(&with(
        r#"[{"hosts": ["a.example"], "backend": "ingress"}, {"hosts": ["b.example"], "backend": "web"},
            {"hosts": ["c.example"], "backend": "bad.name"}]"#,
        backends,
    ));
    for (path, needle) in [
        ("backends.bad.name", "contains `.`"),
        ("backends.ingress.nodes.0.port", "out of range"),
        (
            "backends.ingress.nodes.1.name",
            "used by another node of this backend",
        ),
        ("backends.ingress.nodes.1.weight", "out of range"),
        (
            "backends.ingress.nodes.2.address",
            "listed twice in this backend",
        ),
        ("backends.ingress.balance", "did you mean `roundrobin`?"),
        (
            "backends.ingress.healthCheck.path",
            "no effect with type = \"tls\"",
        ),
        ("backends.ingress.healthCheck.expectStatus", "no effect"),
        ("backends.ingress.healthCheck.host", "no effect"),
        ("backends.ingress.healthCheck.interval", "longer than zero"),
        ("backends.ingress.healthCheck.fall", "out of range"),
        ("backends.ingress.healthCheck.rise", "out of range"),
        (
            "backends.ingress.sticky",
            "is not one of: none, source, cookie",
        ),
        ("backends.web.healthCheck.path", "must start with `/`"),
        ("backends.web.healthCheck.expectStatus", "out of range"),
        ("backends.web.healthCheck.host", "not a hostname"),
    ] {
        assert!(has(&found, path, needle), "{path}: {needle}\n{found:#?}");
    }
    assert_eq!(found.len(), 16, "{found:#?}");
}

#[test]
fn http_only_options_are_refused_until_http_exists() {
    let backends = r#"{"ingress": {"nodes": [{"name": "w1", "address": "10.0.1.1", "port": 443}],
        "sticky": "cookie", "cookieName": "SRV_ID", "tls": false, "caFile": "/etc/ssl/ca.pem"}}"#;
    let found = errors(&with(
        r#"[{"hosts": ["a.example"], "backend": "ingress"}]"#,
        backends,
    ));
    for path in [
        "backends.ingress.sticky",
        "backends.ingress.cookieName",
        "backends.ingress.tls",
        "backends.ingress.caFile",
    ] {
        assert!(
            has(&found, path, "not implemented yet"),
            "{path}\n{found:#?}"
        );
    }
    assert_eq!(found.len(), 4, "{found:#?}");
    // `http` itself is not an option yet.
    let found = errors(r#"{"http": {"enable": true}}"#);
    assert!(found.iter().any(|e| e.contains("http")), "{found:#?}");
    // A backend node has no default port: a workload has no conventional one.
    let found = errors(&with(
        r#"[{"hosts": ["a.example"], "backend": "ingress"}]"#,
        r#"{"ingress": {"nodes": [{"name": "w1", "address": "10.0.1.1"}]}}"#,
    ));
    assert!(
        has(&found, "backends.ingress.nodes.0.port", "no default"),
        "{found:#?}"
    );
}

#[test]
fn an_empty_backend_builds_with_a_warning() {
    let plan = haproxy_k8s::plan(
        &with(
            r#"[{"hosts": ["a.example"], "backend": "ingress"}]"#,
            r#"{"ingress": {"nodes": []}}"#,
        ),
        P,
    )
    .unwrap();
    let warnings: Vec<String> = plan.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].starts_with(&format!("{P}.backends.ingress.nodes: is empty")),
        "{warnings:#?}"
    );
}
