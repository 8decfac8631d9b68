//! Workload traffic beside the API (seed 000): on the API's own port, TLS connections whose
//! SNI names an ingress host go unterminated to worker nodes; everything else (kubectl by IP,
//! by the API's name, no SNI, an unrouted name) still reaches the apiservers.
//!
//! Every scenario runs with HAProxy 2.6 and 3.0 like the others (tests/scenarios.rs); the
//! same skips (visible, a failure on CI) when the testbed cannot run here. Nothing sleeps:
//! each step waits for its event (servers UP, connections counted by HAProxy, an ACK).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use apiserver_standin::ca::TestCa;
use serde_json::{json, Value};
use testbed::configs::{generate, ours_json};
use testbed::{stats, HaproxyVersion, Host, NodeOpts, Testbed};

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod haproxy_2_6 {
            $( #[test] fn $name() { super::$name(testbed::HaproxyVersion::V2_6) } )*
        }
        mod haproxy_3_0 {
            $( #[test] fn $name() { super::$name(testbed::HaproxyVersion::V3_0) } )*
        }
    };
}

scenarios!(o_sni_passthrough_beside_the_api);

const LONG: Duration = Duration::from_secs(60);
const STANDIN: &str = env!("CARGO_BIN_EXE_testbed-standin");
/// The port of seed 000: the API and the ingress share :443.
const PORT: u16 = 443;
const INGRESS_HOSTS: [&str; 2] = ["login.example.com", "*.apps.example.com"];
/// Routed to the same workers through a second backend that sticks clients by address.
const STICKY_HOST: &str = "sticky.example.com";

fn label(test: &str, v: HaproxyVersion) -> String {
    format!("{test} (HAProxy {})", v.label())
}

/// n1 is the apiserver (testbed CA); n2 and n3 are workers running an "ingress" on :443 with
/// a certificate from a CA of their own, for the ingress names only. Last, the worker a
/// sticky client was kept on is killed: its traffic and that client move to the other one.
fn o_sni_passthrough_beside_the_api(v: HaproxyVersion) {
    let _lock = testbed::serial();
    let test = label("o: SNI passthrough beside the API", v);
    if testbed::skip_unless_ready_with(&test, v, true) {
        return;
    }
    if testbed::which("curl").is_none() {
        testbed::skip_missing_tool(&test, "curl");
        return;
    }
    let mut tb = Testbed::with_haproxy(3, &[STANDIN.to_string()], v).expect("testbed");
    tb.start_node(1, &NodeOpts::default())
        .expect("apiserver n1");
    let ingress_ca = TestCa::new("ingress CA (not the testbed's)").unwrap();
    let ingress_ca_path = tb.dir.join("ingress-ca.crt");
    std::fs::write(&ingress_ca_path, ingress_ca.cert_pem()).unwrap();
    let ingress_pids: Vec<(String, u32)> = [2, 3]
        .into_iter()
        .map(|i| (format!("n{i}"), start_ingress(&mut tb, &ingress_ca, i)))
        .collect();

    let router = tb.addrs.router();
    let mut input = ours_json(
        router,
        &[("n1".to_string(), tb.addrs.node(1))],
        &tb.addrs.lan_cidr(),
        &tb.admin_socket(),
    );
    input["frontendPort"] = json!(PORT);
    input["sniRoutes"] = json!([
        { "hosts": INGRESS_HOSTS, "backend": "ingress" },
        { "hosts": [STICKY_HOST], "backend": "sticky" },
    ]);
    let workers = json!([
        { "name": "n2", "address": tb.addrs.node(2).to_string(), "port": PORT },
        { "name": "n3", "address": tb.addrs.node(3).to_string(), "port": PORT },
    ]);
    input["backends"] = json!({
        "ingress": {
            "nodes": workers,
            "balance": "roundrobin",
            // An HTTPS check with the ingress's own name (SNI and Host), as ingress
            // controllers route by name.
            "healthCheck": { "type": "https", "path": "/readyz", "host": "login.example.com", "interval": "1s" },
        },
        "sticky": {
            "nodes": workers,
            "balance": "roundrobin",
            "healthCheck": { "type": "tls", "interval": "1s" },
            "sticky": "source",
        },
    });
    let out = generate(&input).expect("generate");
    tb.start_haproxy(&out.haproxy_cfg).expect("start haproxy");
    tb.load_firewall(&out.firewall_nft).expect("load firewall");
    // Servers start UP before their first check: wait for a passed check (L7OK: an HTTPS
    // check got its 200, with the ingress's name for the ingress; L6OK: a TLS handshake),
    // not for the state.
    let sock = tb.admin_socket();
    for (backend, server, want) in [
        ("k8s-nodes.default", "n1", "L7OK"),
        ("k8s-backend.ingress", "n2", "L7OK"),
        ("k8s-backend.ingress", "n3", "L7OK"),
        ("k8s-backend.sticky", "n2", "L6OK"),
        ("k8s-backend.sticky", "n3", "L6OK"),
    ] {
        let passed = testbed::wait_for(LONG, Duration::from_millis(50), || {
            (server_field(&sock, backend, server, "check_status").as_deref() == Some(want))
                .then_some(())
        });
        assert!(
            passed.is_some(),
            "{backend}/{server}'s check never passed: {:?}\n{}",
            server_field(&sock, backend, server, "check_status"),
            out.haproxy_cfg
        );
    }
    let frontend = SocketAddr::new(router.into(), PORT);

    // The API, as before: kubectl by IP (no SNI) and by the API's own name (SNI `kubernetes`).
    assert_eq!(kubectl_version(&tb, &[]), "n1");
    assert_eq!(
        kubectl_version(&tb, &["--tls-server-name", "kubernetes"]),
        "n1"
    );

    // The ingress: verified against the ingress CA, which only the workers' certificate
    // chains to: HAProxy passed the TLS through, untouched, to a worker.
    let mut seen = std::collections::BTreeSet::new();
    for host in [
        "login.example.com",
        "foo.apps.example.com",
        "Bar.APPS.Example.com",
    ] {
        for _ in 0..2 {
            let node = curl_version(&tb, host, &["--cacert", &path(&ingress_ca_path)]);
            assert!(node == "n2" || node == "n3", "{host} reached {node}");
            seen.insert(node);
        }
    }
    assert_eq!(seen.len(), 2, "roundrobin reached both workers: {seen:?}");
    // Control: the same name does not verify against the testbed CA, so the two CAs really
    // tell the certificates apart.
    let (ok, text) = curl(&tb, "login.example.com", &["--cacert", &path(&tb.ca_path)]);
    assert!(
        !ok,
        "login.example.com verified with the testbed CA: {text}"
    );

    // Not routed: two labels in front of the wildcard's suffix, and the bare suffix, go to
    // the apiserver (`-k`: its certificate is not for these names).
    for host in [
        "a.b.apps.example.com",
        "apps.example.com",
        "login.example.com.evil",
    ] {
        assert_eq!(curl_version(&tb, host, &["-k"]), "n1", "{host}");
    }

    // A ClientHello in two TCP segments, cut inside the SNI: still routed to a worker.
    let ca = ingress_ca.cert_pem();
    for host in ["login.example.com", "x.apps.example.com"] {
        let node = testbed::sni::split_hello_version(&tb.ns(Host::Client), frontend, &ca, host)
            .unwrap_or_else(|e| panic!("split hello for {host}: {e:#}"));
        assert!(
            node == "n2" || node == "n3",
            "split hello for {host} reached {node}"
        );
    }

    // Clients that connect and send nothing (HAProxy holds them for the inspect delay) do not
    // hold up anyone else: while HAProxy counts them as open, every other client is served.
    let silent = testbed::sni::silent_connections(&tb.ns(Host::Client), frontend, 5)
        .expect("silent connections");
    testbed::wait_for(LONG, Duration::from_millis(20), || {
        (frontend_sessions(&sock) >= silent.len() as u64).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "HAProxy never counted the {} silent connections",
            silent.len()
        )
    });
    assert_eq!(kubectl_version(&tb, &[]), "n1");
    let node = curl_version(
        &tb,
        "login.example.com",
        &["--cacert", &path(&ingress_ca_path)],
    );
    assert!(node == "n2" || node == "n3", "{node}");
    let node =
        testbed::sni::split_hello_version(&tb.ns(Host::Client), frontend, &ca, "login.example.com")
            .unwrap();
    assert!(node == "n2" || node == "n3", "{node}");
    drop(silent);

    // Stickiness by source: the same client lands on one worker every time (the plain
    // roundrobin backend above alternated between both).
    let ingress_ca_arg = path(&ingress_ca_path);
    let stuck: std::collections::BTreeSet<String> = (0..10)
        .map(|_| curl_version(&tb, STICKY_HOST, &["--cacert", &ingress_ca_arg]))
        .collect();
    assert_eq!(stuck.len(), 1, "a sticky client spread over {stuck:?}");
    let stuck = stuck.into_iter().next().unwrap();
    let other = if stuck == "n2" { "n3" } else { "n2" };

    // The worker it sticks to dies: both backends mark it DOWN (waited for, at most `fall`
    // failed checks), and its traffic, the sticky client included, moves to the other worker.
    let (_, pid) = ingress_pids.iter().find(|(n, _)| *n == stuck).unwrap();
    // SIGKILL: the worker dies without closing anything.
    testbed::process::signal(*pid, libc::SIGKILL).unwrap();
    for backend in ["k8s-backend.ingress", "k8s-backend.sticky"] {
        let down = testbed::wait_for(LONG, Duration::from_millis(50), || {
            server_field(&sock, backend, &stuck, "status").filter(|s| s.starts_with("DOWN"))
        });
        assert!(down.is_some(), "{backend}/{stuck} never DOWN");
    }
    for host in [STICKY_HOST, "login.example.com"] {
        for _ in 0..4 {
            let node = curl_version(&tb, host, &["--cacert", &ingress_ca_arg]);
            assert_eq!(node, other, "{host} after {stuck} died");
        }
    }
    assert_eq!(kubectl_version(&tb, &[]), "n1");
    eprintln!(
        "k: kubectl by IP and by name → n1; ingress names (exact, wildcard, mixed case, split hello) → {seen:?} with the ingress's own certificate; unrouted names → n1; 5 silent clients held nobody up; sticky client on {stuck}, moved to {other} when {stuck} died"
    );
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A stand-in on worker `i`'s :443, with a certificate for the ingress names only, issued by
/// `ca`; waits until it listens and returns its pid.
fn start_ingress(tb: &mut Testbed, ca: &TestCa, i: usize) -> u32 {
    let name = format!("n{i}");
    let sans: Vec<String> = INGRESS_HOSTS
        .iter()
        .chain(&[STICKY_HOST])
        .map(|h| h.to_string())
        .collect();
    let issued = ca.issue(&format!("ingress on {name}"), &sans).unwrap();
    let cert = tb.dir.join(format!("ingress-{name}.crt"));
    let key = tb.dir.join(format!("ingress-{name}.key"));
    let ready = tb.dir.join(format!("ingress-{name}.ready"));
    std::fs::write(&cert, issued.cert_pem).unwrap();
    std::fs::write(&key, issued.key_pem).unwrap();
    let listen = SocketAddr::new(tb.addrs.node(i).into(), PORT).to_string();
    let mut args: Vec<String> = tb.standin_cmd().to_vec();
    args.extend(
        [
            "--listen",
            &listen,
            "--name",
            &name,
            "--cert",
            &path(&cert),
            "--key",
            &path(&key),
            "--ready-file",
            &path(&ready),
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let pid = tb
        .spawn_other(Host::Node(i), &args, &format!("ingress-{name}.log"))
        .unwrap();
    testbed::wait_for(LONG, Duration::from_millis(20), || {
        std::fs::read_to_string(&ready)
            .ok()
            .filter(|s| s.ends_with('\n'))
    })
    .unwrap_or_else(|| panic!("ingress on {name} never listened"));
    pid
}

/// `kubectl get --raw /version` through the router's :443, verified with the testbed CA;
/// returns the answering node.
fn kubectl_version(tb: &Testbed, extra: &[&str]) -> String {
    let kubeconfig = tb.dir.join("empty-kubeconfig");
    std::fs::write(&kubeconfig, "").unwrap();
    let server = format!("https://{}:{PORT}", tb.addrs.router());
    let mut args = vec![
        "kubectl".to_string(),
        "--kubeconfig".into(),
        path(&kubeconfig),
        "--server".into(),
        server,
        "--certificate-authority".into(),
        path(&tb.ca_path),
        "--token".into(),
        "testbed-dummy-token".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["get", "--raw", "/version"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tb.exec(Host::Client, LONG, &args).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl {extra:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let version: Value = serde_json::from_str(&stdout).expect("kubectl printed JSON");
    version["node"].as_str().unwrap().to_string()
}

/// `curl https://HOST:443/version` with HOST resolved to the router; (success, output).
fn curl(tb: &Testbed, host: &str, extra: &[&str]) -> (bool, String) {
    let resolve = format!("{host}:{PORT}:{}", tb.addrs.router());
    let url = format!("https://{host}:{PORT}/version");
    let mut args = vec!["curl", "-sS", "--max-time", "20", "--resolve", &resolve];
    args.extend_from_slice(extra);
    args.push(&url);
    let out = tb.exec(Host::Client, LONG, &args).unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The node that answered `curl … /version` for `host` (which must succeed).
fn curl_version(tb: &Testbed, host: &str, extra: &[&str]) -> String {
    let (ok, text) = curl(tb, host, extra);
    assert!(ok, "curl {host} failed: {text}");
    let version: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{host}: {e}: {text}"));
    version["node"].as_str().unwrap().to_string()
}

/// One stats field (`status`, `check_status`, …) of server `server` in proxy `backend`.
fn server_field(sock: &Path, backend: &str, server: &str, field: &str) -> Option<String> {
    stats::show_stat(sock)
        .ok()?
        .into_iter()
        .find(|row| {
            row.get("pxname").map(String::as_str) == Some(backend)
                && row.get("svname").map(String::as_str) == Some(server)
        })?
        .get(field)
        .cloned()
}

/// Sessions open on the API frontend now (`scur`).
fn frontend_sessions(sock: &Path) -> u64 {
    stats::show_stat(sock)
        .ok()
        .and_then(|rows| {
            rows.into_iter().find(|row| {
                row.get("pxname").map(String::as_str) == Some("k8s-api.default")
                    && row.get("svname").map(String::as_str) == Some("FRONTEND")
            })
        })
        .and_then(|row| row.get("scur")?.parse().ok())
        .unwrap_or(0)
}
