//! Issue 4 scenarios a–h (and i, issue 2: hostname nodes follow DNS): real HAProxy with the generated config and the generated nftables
//! rules in a router namespace, apiserver stand-ins on three nodes, a client and an outsider.
//!
//! Needs root, `ip`, `haproxy`, `nft` (and `kubectl`, `curl` for some); otherwise every
//! scenario prints a loud SKIPPED line. Scenarios run one at a time (global lock).

use std::time::{Duration, Instant};

use apiserver_standin::client::Proto;
use serde_json::Value;
use testbed::configs::{generate, ours_json};
use testbed::load::{Load, WatchHolder, WatchLog};
use testbed::{Host, NodeOpts, Testbed};

const STANDIN: &str = env!("CARGO_BIN_EXE_testbed-standin");
const REQ_TIMEOUT: Duration = Duration::from_secs(10);

struct Bed {
    tb: Testbed,
    input: Value,
    _lock: std::sync::MutexGuard<'static, ()>,
}

fn node_list(tb: &Testbed, n: usize) -> Vec<(String, std::net::Ipv4Addr)> {
    (1..=n)
        .map(|i| (format!("n{i}"), tb.addrs.node(i)))
        .collect()
}

/// Builds the topology, starts 3 nodes, generates our config from `tweak`ed JSON, starts
/// HAProxy and loads the generated firewall. None (after a loud skip) if not possible here.
fn setup(
    test: &str,
    namespaces_for_nodes: usize,
    node_opts: NodeOpts,
    tweak: impl FnOnce(&mut Value),
) -> Option<Bed> {
    let lock = testbed::serial();
    if testbed::skip_unless_ready(test, false) {
        return None;
    }
    let mut tb = Testbed::new(namespaces_for_nodes, &[STANDIN.to_string()]).expect("testbed");
    for i in 1..=3 {
        tb.start_node(i, &node_opts).expect("start node");
    }
    let mut input = ours_json(
        tb.addrs.router(),
        &node_list(&tb, 3),
        &tb.addrs.lan_cidr(),
        &tb.admin_socket(),
    );
    tweak(&mut input);
    let out = generate(&input).expect("generate");
    tb.start_haproxy(&out.haproxy_cfg).expect("start haproxy");
    tb.load_firewall(&out.firewall_nft).expect("load firewall");
    for i in 1..=3 {
        assert!(
            tb.wait_state(&format!("n{i}"), "UP", Duration::from_secs(20))
                .is_some(),
            "n{i} never UP: {:?}",
            tb.server_states()
        );
    }
    Some(Bed {
        tb,
        input,
        _lock: lock,
    })
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 100.0).round() / 100.0
}

fn load(tb: &Testbed, period_ms: u64) -> Load {
    tb.version_load(Duration::from_millis(period_ms))
}

fn hold_watch(tb: &Testbed, pick: Option<&str>, read_timeout: Duration) -> WatchHolder {
    WatchHolder::start(
        &tb.ns(Host::Client),
        tb.client(),
        tb.frontend(),
        Proto::H2,
        pick.map(str::to_string),
        read_timeout,
    )
}

fn wait_watch_opened(w: &WatchHolder) -> String {
    let (node, _) = testbed::wait_for(Duration::from_secs(20), Duration::from_millis(50), || {
        w.first_node()
    })
    .expect("watch never opened");
    node
}

// ---------------------------------------------------------------------------------------

#[test]
fn a_requests_reach_all_nodes_and_kubectl_works() {
    let Some(bed) = setup("a", 3, NodeOpts::default(), |_| {}) else {
        return;
    };
    let tb = &bed.tb;
    let client = tb.client();
    let addr = tb.frontend();
    let per_node = testbed::in_netns(&tb.ns(Host::Client), move || async move {
        let mut seen = std::collections::BTreeMap::new();
        for proto in [Proto::H1, Proto::H2] {
            for _ in 0..30 {
                let r = client.get(addr, "/version", proto, REQ_TIMEOUT).await?;
                assert_eq!(r.status, 200);
                *seen.entry(r.node.unwrap_or_default()).or_insert(0) += 1;
            }
        }
        Ok(seen)
    })
    .expect("requests");
    eprintln!("a: 60 requests (30 h1, 30 h2) per node: {per_node:?}");
    for n in ["n1", "n2", "n3"] {
        assert!(
            per_node.get(n).copied().unwrap_or(0) > 0,
            "{n} got nothing: {per_node:?}"
        );
    }

    if testbed::which("kubectl").is_none() {
        testbed::loud("SKIPPED: scenario a's kubectl part because kubectl is not installed");
        return;
    }
    let kubeconfig = tb.dir.join("empty-kubeconfig");
    std::fs::write(&kubeconfig, "").unwrap();
    let server = format!("https://{}:6443", tb.addrs.router());
    let out = tb
        .exec(
            Host::Client,
            Duration::from_secs(30),
            &[
                "kubectl",
                "--kubeconfig",
                &kubeconfig.to_string_lossy(),
                "--server",
                &server,
                "--certificate-authority",
                &tb.ca_path.to_string_lossy(),
                "--token",
                "testbed-dummy-token",
                "get",
                "--raw",
                "/version",
            ],
        )
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout).expect("kubectl printed JSON");
    assert_eq!(v["gitVersion"], "v1.32.0-standin");
    assert!(v["node"].as_str().unwrap().starts_with('n'));
    eprintln!(
        "a: kubectl get --raw /version through the router answered by {}",
        v["node"]
    );
}

#[test]
fn b_sigkill_node_under_load() {
    let Some(mut bed) = setup("b", 3, NodeOpts::default(), |_| {}) else {
        return;
    };
    let tb = &mut bed.tb;
    let l = load(tb, 20);
    std::thread::sleep(Duration::from_secs(2));
    tb.signal_node(2, libc::SIGKILL).unwrap();
    let kill_instant = Instant::now();
    let t_kill = l.now();
    let down = tb
        .wait_state("n2", "DOWN", Duration::from_secs(30))
        .expect("n2 never marked DOWN");
    let to_down = kill_instant.elapsed().min(down);
    std::thread::sleep(Duration::from_secs(3));
    let rep = l.stop().unwrap();
    eprintln!(
        "b: SIGKILL n2 at {:.2}s, DOWN after {:.2}s; {}",
        secs(t_kill),
        secs(to_down),
        rep.summary()
    );
    let late = rep.failures_started_after(t_kill);
    assert!(
        late.is_empty(),
        "requests started after the kill failed: {}",
        rep.summary()
    );
    assert!(
        rep.failures().len() <= 2,
        "more failures than requests in flight at the kill: {}",
        rep.summary()
    );
    // Budget: fall (3) x inter (2s) + one check timeout + 1s slack for polling.
    assert!(
        to_down <= Duration::from_secs(3 * 2 + 2 + 1),
        "DOWN took {to_down:?}"
    );
    assert!(rep.total() > 200);
}

#[test]
fn c_blackholed_node_bounded_failures_and_watch_reopens() {
    let opts = NodeOpts {
        watch_interval: Duration::from_millis(500),
        ..NodeOpts::default()
    };
    let Some(bed) = setup("c", 3, opts, |_| {}) else {
        return;
    };
    let tb = &bed.tb;
    let w = hold_watch(tb, Some("n2"), Duration::from_secs(60));
    assert_eq!(wait_watch_opened(&w), "n2");
    // One watch on each other node too, so leastconn keeps sending requests to n2.
    let w1 = hold_watch(tb, Some("n1"), Duration::from_secs(60));
    let w3 = hold_watch(tb, Some("n3"), Duration::from_secs(60));
    assert_eq!(wait_watch_opened(&w1), "n1");
    assert_eq!(wait_watch_opened(&w3), "n3");
    let l = load(tb, 20);
    std::thread::sleep(Duration::from_secs(2));
    let t0 = l.now();
    let w_t0 = w.started.elapsed();
    tb.blackhole_node(2).unwrap();
    let start = Instant::now();
    let down = tb
        .wait_state("n2", "DOWN", Duration::from_secs(40))
        .expect("n2 never marked DOWN");
    let to_down = start.elapsed().min(down);
    let t_down = l.now();
    std::thread::sleep(Duration::from_secs(4));
    let rep = l.stop().unwrap();
    let log = w.stop().unwrap();
    w1.stop().unwrap();
    w3.stop().unwrap();
    eprintln!(
        "c: black-holed n2 at {:.2}s, DOWN after {:.2}s; {}",
        secs(t0),
        secs(to_down),
        rep.summary()
    );
    // Detection budget: fall x (inter + connect-part of check <= inter) + inter, + slack.
    assert!(
        to_down <= Duration::from_secs(3 * (2 + 2) + 2 + 2),
        "DOWN took {to_down:?}"
    );
    // Failures are bounded to the detection window (+ request timeout): nothing that
    // started half a second after DOWN fails.
    let late = rep.failures_started_after(t_down + Duration::from_millis(500));
    assert!(late.is_empty(), "failures after DOWN: {}", rep.summary());
    if let Some(win) = rep.failure_window() {
        assert!(
            win <= to_down + REQ_TIMEOUT + Duration::from_secs(1),
            "failure window {win:?} beyond detection + request timeout"
        );
    }
    // The watch held through n2 was closed (on-marked-down shutdown-sessions) and re-opened
    // on another node, which streams again.
    eprintln!("c: watch log: {:?}", summarize_watch(&log));
    let closed = log.iter().find_map(|l| match l {
        WatchLog::Closed { at, node, .. } if node == "n2" => Some(*at),
        _ => None,
    });
    let closed = closed.expect("watch through n2 never closed");
    assert!(closed >= w_t0, "watch closed before the black hole");
    let w_down = w_t0 + to_down;
    assert!(
        closed <= w_down + Duration::from_secs(2),
        "watch closed at {closed:?}, DOWN at {w_down:?}"
    );
    let reopened = log
        .iter()
        .any(|l| matches!(l, WatchLog::Line { at, node } if *at > closed && node != "n2"));
    assert!(reopened, "watch not re-established on a healthy node");
    eprintln!(
        "c: watch through n2 closed {:.2}s after the black hole (DOWN after {:.2}s)",
        secs(closed - w_t0),
        secs(to_down)
    );
}

fn summarize_watch(log: &[WatchLog]) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = 0;
    for l in log {
        match l {
            WatchLog::Line { .. } => lines += 1,
            other => {
                if lines > 0 {
                    out.push(format!("{lines} events"));
                    lines = 0;
                }
                out.push(format!("{other:?}"));
            }
        }
    }
    if lines > 0 {
        out.push(format!("{lines} events"));
    }
    out
}

/// Rolling graceful restart of all three nodes under load, as kube-apiserver restarts: on
/// SIGTERM `/readyz` fails at once (HAProxy drains the node: NOLB), requests are served for
/// the shutdown delay, then the process exits (HAProxy marks it DOWN) and comes back UP.
/// Not one request may fail: the check's `error-status L7OKC` drains a node that answers
/// "not ready" instead of marking it DOWN, so `on-marked-down shutdown-sessions` never cuts
/// a request that a draining node would still have answered.
#[test]
fn d_rolling_graceful_restart() {
    // kube-apiserver's --shutdown-delay-duration must exceed the LB's detection time.
    let opts = NodeOpts {
        shutdown_delay: Duration::from_secs(5),
        ..NodeOpts::default()
    };
    let Some(mut bed) = setup("d", 3, opts.clone(), |j| {
        j["healthCheck"] = serde_json::json!({ "interval": "1s" });
    }) else {
        return;
    };
    let tb = &mut bed.tb;
    let l = load(tb, 20);
    std::thread::sleep(Duration::from_secs(1));
    let mut timings = Vec::new();
    for i in 1..=3 {
        let name = format!("n{i}");
        let t = Instant::now();
        tb.signal_node(i, libc::SIGTERM).unwrap();
        let drained = tb
            .wait_state(&name, "NOLB", Duration::from_secs(20))
            .expect("never drained (NOLB) after SIGTERM");
        let st = tb.wait_node_exit(i, Duration::from_secs(30)).unwrap();
        assert!(st.success(), "{name} exited with {st:?}");
        let exited = t.elapsed();
        let down = tb
            .wait_state(&name, "DOWN", Duration::from_secs(20))
            .expect("never DOWN after exit");
        tb.start_node(i, &opts).unwrap();
        let up = tb
            .wait_state(&name, "UP", Duration::from_secs(20))
            .expect("never UP again");
        timings.push(format!(
            "{name}: NOLB {:.2}s after SIGTERM, exit {:.2}s, DOWN {:.2}s later, UP {:.2}s after restart",
            secs(drained),
            secs(exited),
            secs(down),
            secs(up)
        ));
    }
    std::thread::sleep(Duration::from_secs(1));
    let rep = l.stop().unwrap();
    eprintln!("d: {timings:?}; {}", rep.summary());
    assert_eq!(rep.per_node().len(), 3);
    assert!(
        rep.failures().is_empty(),
        "failed requests: {}",
        rep.summary()
    );
}

#[test]
fn e_idle_watch_outlives_client_timeout() {
    let opts = NodeOpts {
        watch_interval: Duration::from_secs(7),
        ..NodeOpts::default()
    };
    let Some(bed) = setup("e", 3, opts, |j| {
        j["timeouts"] = serde_json::json!({ "client": "3s", "server": "3s", "tunnel": "1h" });
    }) else {
        return;
    };
    let tb = &bed.tb;
    let w = hold_watch(tb, None, Duration::from_secs(20));
    wait_watch_opened(&w);
    // Events at 0s, 7s, 14s: gaps of more than twice timeout client/server.
    let got3 = testbed::wait_for(Duration::from_secs(25), Duration::from_millis(200), || {
        let lines = w
            .log()
            .iter()
            .filter(|l| matches!(l, WatchLog::Line { .. }))
            .count();
        (lines >= 3).then_some(())
    });
    let log = w.stop().unwrap();
    eprintln!("e: watch log: {:?}", summarize_watch(&log));
    assert!(got3.is_some(), "watch did not deliver 3 events 7s apart");
    assert!(
        !log.iter().any(|l| matches!(l, WatchLog::Closed { .. })),
        "idle watch was cut: {log:?}"
    );

    // Control: the same watch with a tunnel timeout below the event gap is cut, so the
    // assertion above is about `timeouts.tunnel`, not about a watch that cannot be cut.
    let mut bed = bed;
    let mut input = bed.input.clone();
    input["timeouts"]["tunnel"] = serde_json::json!("2s");
    let out = generate(&input).unwrap();
    bed.tb.reload_haproxy(&out.haproxy_cfg).unwrap();
    let w = hold_watch(&bed.tb, None, Duration::from_secs(20));
    wait_watch_opened(&w);
    let cut = testbed::wait_for(Duration::from_secs(12), Duration::from_millis(100), || {
        w.log().iter().find_map(|l| match l {
            WatchLog::Closed { at, .. } => Some(*at),
            _ => None,
        })
    });
    let log = w.stop().unwrap();
    eprintln!("e: control with tunnel 2s: {:?}", summarize_watch(&log));
    let (at, _) = cut.expect("with timeout tunnel 2s the idle watch should have been cut");
    assert!(at < Duration::from_secs(7), "cut only after {at:?}");
}

#[test]
fn f_reload_adds_node_under_load() {
    let Some(mut bed) = setup("f", 4, NodeOpts::default(), |_| {}) else {
        return;
    };
    let w = hold_watch(&bed.tb, None, Duration::from_secs(10));
    wait_watch_opened(&w);
    let l = load(&bed.tb, 20);
    std::thread::sleep(Duration::from_secs(2));
    bed.tb.start_node(4, &NodeOpts::default()).unwrap();
    let mut input = bed.input.clone();
    input["controlPlaneNodes"] = serde_json::json!(node_list(&bed.tb, 4)
        .iter()
        .map(|(n, ip)| serde_json::json!({"name": n, "address": ip.to_string(), "port": 6443}))
        .collect::<Vec<_>>());
    let out = generate(&input).unwrap();
    let t_reload = l.now();
    let w_reload = w.started.elapsed();
    bed.tb.reload_haproxy(&out.haproxy_cfg).unwrap();
    let up = bed
        .tb
        .wait_state("n4", "UP", Duration::from_secs(20))
        .expect("n4 never UP after reload");
    std::thread::sleep(Duration::from_secs(3));
    let rep = l.stop().unwrap();
    let log = w.stop().unwrap();
    eprintln!(
        "f: reload at {:.2}s, n4 UP {:.2}s later; {}; watch: {:?}",
        secs(t_reload),
        secs(up),
        rep.summary(),
        summarize_watch(&log)
    );
    assert!(
        rep.failures().is_empty(),
        "failed requests: {}",
        rep.summary()
    );
    assert!(
        rep.per_node().get("n4").copied().unwrap_or(0) > 0,
        "n4 got no requests"
    );
    assert!(
        !log.iter().any(|l| matches!(l, WatchLog::Closed { .. })),
        "the watch did not survive the reload"
    );
    let after = log
        .iter()
        .filter(
            |l| matches!(l, WatchLog::Line { at, .. } if *at > w_reload + Duration::from_secs(1)),
        )
        .count();
    assert!(after >= 2, "watch stopped streaming after the reload");
}

fn curl(tb: &Testbed, from: Host, url: &str) -> (bool, String) {
    let out = tb
        .exec(
            from,
            Duration::from_secs(10),
            &[
                "curl",
                "-sS",
                "--max-time",
                "2",
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                url,
            ],
        )
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn tcp_reaches(tb: &Testbed, from: Host, ip: &str, port: u16) -> bool {
    let out = tb
        .exec(
            from,
            Duration::from_secs(3),
            &["bash", "-c", &format!("exec 3<>/dev/tcp/{ip}/{port}")],
        )
        .unwrap();
    // bash's /dev/tcp has no timeout of its own: the 3s limit kills it (drop = hang).
    out.status.success()
}

#[test]
fn g_firewall() {
    if testbed::which("curl").is_none() {
        testbed::loud("SKIPPED: scenario g because curl is not installed");
        return;
    }
    let Some(mut bed) = setup("g", 3, NodeOpts::default(), |_| {}) else {
        return;
    };
    let tb = &mut bed.tb;
    let rip = tb.addrs.router().to_string();
    // A listener on the router on a port that is in no rule.
    let extra = format!("{rip}:9999");
    let bin = STANDIN.to_string();
    tb.spawn_other(
        Host::Router,
        &[&bin, "--listen", &extra, "--name", "stray"],
        "stray.log",
    )
    .unwrap();
    testbed::wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
        tcp_reaches(tb, Host::Router, &rip, 9999).then_some(())
    })
    .expect("stray listener up (seen from the router itself)");

    let stats = format!("http://{rip}:8404/stats");
    let metrics = format!("http://{rip}:8404/metrics");
    // Client: frontend and stats allowed.
    let c = tb.client();
    let fe = tb.frontend();
    let r = testbed::in_netns(&tb.ns(Host::Client), move || async move {
        c.get(fe, "/readyz", Proto::H2, REQ_TIMEOUT).await
    })
    .expect("client reaches the frontend");
    assert_eq!(r.status, 200);
    let (ok, body) = curl(tb, Host::Client, &stats);
    assert!(
        ok && body.ends_with("200") && body.contains("n1"),
        "client /stats: {body}"
    );
    let (ok, body) = curl(tb, Host::Client, &metrics);
    assert!(
        ok && body.ends_with("200") && body.contains("haproxy_server_status"),
        "client /metrics: {}",
        &body[..body.len().min(300)]
    );
    assert!(
        !tcp_reaches(tb, Host::Client, &rip, 9999),
        "client reached unlisted port 9999"
    );

    // Outsider: nothing.
    let (ok, body) = curl(tb, Host::Outsider, &stats);
    assert!(!ok, "outsider read /stats: {body}");
    let (ok, _) = curl(tb, Host::Outsider, &metrics);
    assert!(!ok, "outsider read /metrics");
    assert!(
        !tcp_reaches(tb, Host::Outsider, &rip, 9999),
        "outsider reached port 9999"
    );
    assert!(
        !tcp_reaches(tb, Host::Outsider, &rip, 6443),
        "outsider reached 6443 (allowedSources = LAN)"
    );
    assert!(
        !tcp_reaches(tb, Host::Outsider, &rip, 22),
        "outsider reached port 22"
    );

    // Control: without the firewall the outsider does get through (so the firewall was what
    // blocked it), and HAProxy's own ACLs still refuse it (defence in depth).
    tb.exec_ok(Host::Router, &["nft", "delete", "table", "inet", "hk-fw"])
        .unwrap();
    assert!(
        tcp_reaches(tb, Host::Outsider, &rip, 9999),
        "routing to the router is broken"
    );
    let (_, body) = curl(tb, Host::Outsider, &stats);
    assert!(
        !body.ends_with("200"),
        "HAProxy's stats ACL let the outsider in: {body}"
    );
    eprintln!(
        "g: outsider blocked by nft on 8404/6443/9999/22; HAProxy ACL alone answers: {:?}",
        body.lines().last()
    );
}

#[test]
fn h_stats_and_metrics_match_reality() {
    if testbed::which("curl").is_none() {
        testbed::loud("SKIPPED: scenario h because curl is not installed");
        return;
    }
    let Some(mut bed) = setup("h", 3, NodeOpts::default(), |_| {}) else {
        return;
    };
    let tb = &mut bed.tb;
    let rip = tb.addrs.router().to_string();
    let check = |tb: &Testbed, want: &[(&str, &str)]| {
        let (ok, csv) = curl(tb, Host::Client, &format!("http://{rip}:8404/stats;csv"));
        assert!(ok, "stats csv: {csv}");
        let rows = testbed::stats::parse_csv(csv.rsplit_once('\n').map(|x| x.0).unwrap_or(&csv));
        let servers = testbed::stats::servers(&rows);
        let (ok, prom) = curl(tb, Host::Client, &format!("http://{rip}:8404/metrics"));
        assert!(ok);
        let prom_states = testbed::stats::prometheus_server_states(&prom);
        for (name, state) in want {
            let csv_state = servers
                .get(*name)
                .map(|r| r["status"].clone())
                .unwrap_or_default();
            assert!(
                csv_state.starts_with(state),
                "{name}: csv {csv_state}, want {state}"
            );
            let p = prom_states.get(*name).cloned().unwrap_or_default();
            assert!(
                p.starts_with(state),
                "{name}: /metrics {p}, want {state}: {prom_states:?}"
            );
        }
        eprintln!("h: stats CSV and /metrics agree: {want:?}");
    };
    check(tb, &[("n1", "UP"), ("n2", "UP"), ("n3", "UP")]);
    tb.signal_node(2, libc::SIGKILL).unwrap();
    tb.signal_node(3, libc::SIGUSR1).unwrap(); // /readyz fails, process keeps running
    tb.wait_state("n2", "DOWN", Duration::from_secs(20))
        .expect("n2 DOWN");
    // Answering but not ready: drained (no new connections), not DOWN.
    tb.wait_state("n3", "NOLB", Duration::from_secs(20))
        .expect("n3 NOLB");
    check(tb, &[("n1", "UP"), ("n2", "DOWN"), ("n3", "NOLB")]);
    tb.signal_node(3, libc::SIGUSR2).unwrap();
    tb.wait_node_exit(2, Duration::from_secs(5)).unwrap();
    tb.start_node(2, &NodeOpts::default()).unwrap();
    tb.wait_state("n2", "UP", Duration::from_secs(20))
        .expect("n2 UP");
    tb.wait_state("n3", "UP", Duration::from_secs(20))
        .expect("n3 UP");
    check(tb, &[("n1", "UP"), ("n2", "UP"), ("n3", "UP")]);
}

/// `show servers state` of the generated backend: server name -> srv_addr.
fn server_addrs(tb: &Testbed) -> std::collections::HashMap<String, String> {
    let out =
        testbed::stats::admin_command(&tb.admin_socket(), "show servers state").unwrap_or_default();
    let mut cols: Vec<&str> = Vec::new();
    let mut addrs = std::collections::HashMap::new();
    for line in out.lines() {
        if let Some(h) = line.strip_prefix("# ") {
            cols = h.split_whitespace().collect();
            continue;
        }
        let vals: Vec<&str> = line.split_whitespace().collect();
        let get = |c: &str| cols.iter().position(|x| *x == c).and_then(|i| vals.get(i));
        if let (Some(name), Some(addr)) = (get("srv_name"), get("srv_addr")) {
            addrs.insert(name.to_string(), addr.to_string());
        }
    }
    addrs
}

/// One `GET /version` from the client through the router: the answering node, or the error.
fn version_node(tb: &Testbed, timeout: Duration) -> Result<String, String> {
    let c = tb.client();
    let fe = tb.frontend();
    testbed::in_netns(&tb.ns(Host::Client), move || async move {
        c.get(fe, "/version", Proto::H2, timeout).await
    })
    .map_err(|e| format!("{e:#}"))
    .and_then(|r| {
        if r.status == 200 {
            Ok(r.node.unwrap_or_default())
        } else {
            Err(format!("status {}", r.status))
        }
    })
}

/// Issue 2: a node given as a DNS hostname follows a DNS change at runtime, without a reload.
/// The only node is `api-1.k8s.test`, served by a test DNS responder inside the router
/// namespace; it first has no record (NXDOMAIN), then points at node1, then at node2.
/// HAProxy 2.6 re-queries every `timeout resolve` (= `timeouts.check`, 5 s by default), so the
/// switch takes about 5 s here; `hold valid 1s` does not make it faster.
#[test]
fn i_hostname_node_follows_dns_change() {
    const HOST: &str = "api-1.k8s.test";
    let _lock = testbed::serial();
    if testbed::skip_unless_ready("i", false) {
        return;
    }
    let mut tb = Testbed::new(2, &[STANDIN.to_string()]).expect("testbed");
    for i in 1..=2 {
        tb.start_node(i, &NodeOpts::default()).expect("start node");
    }
    // Declared after `tb`, so it is dropped (stopped) first, also on panic.
    let dns = testbed::dns::DnsServer::start_in_netns(&tb.ns(Host::Router)).expect("dns");
    let mut input = ours_json(
        tb.addrs.router(),
        &[],
        &tb.addrs.lan_cidr(),
        &tb.admin_socket(),
    );
    input["controlPlaneNodes"] = serde_json::json!([{ "name": "nhost", "address": HOST }]);
    input["resolvers"] = serde_json::json!({
        "nameservers": [dns.addr().to_string()],
        "hold": "1s",
    });
    let out = generate(&input).expect("generate");
    assert!(
        out.haproxy_cfg.contains("resolvers k8s-dns"),
        "{}",
        out.haproxy_cfg
    );
    tb.start_haproxy(&out.haproxy_cfg).expect("start haproxy");
    tb.load_firewall(&out.firewall_nft).expect("load firewall");
    let master = tb.haproxy_master_pid();
    let worker = testbed::stats::info_field(&tb.admin_socket(), "Pid");

    // No record yet: `init-addr none` starts the server without an address.
    std::thread::sleep(Duration::from_secs(2));
    let unresolved = tb.server_states().unwrap_or_default();
    let unresolved_addr = server_addrs(&tb);
    let queries_before = dns.queries();
    eprintln!(
        "i: NXDOMAIN for {HOST}: state {unresolved:?}, addr {unresolved_addr:?}, {queries_before} DNS queries so far"
    );
    assert!(
        queries_before > 0,
        "haproxy never asked the test DNS server"
    );
    assert!(
        !unresolved.get("nhost").is_some_and(|s| s.starts_with("UP")),
        "nhost UP without an address: {unresolved:?}"
    );

    // The record appears, pointing at node1.
    let t = Instant::now();
    dns.set(HOST, tb.addrs.node(1));
    let up = tb
        .wait_state("nhost", "UP", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("nhost never UP: {:?}", tb.server_states()));
    let up_after = t.elapsed().min(up);
    assert_eq!(
        server_addrs(&tb).get("nhost").map(String::as_str),
        Some(tb.addrs.node(1).to_string().as_str())
    );
    for _ in 0..10 {
        assert_eq!(version_node(&tb, REQ_TIMEOUT).as_deref(), Ok("n1"));
    }

    // The record changes to node2's address: no reload, no restart.
    let t = Instant::now();
    dns.set(HOST, tb.addrs.node(2));
    let mut errors = Vec::new();
    let mut addr_after = None;
    let mut first_n2 = None;
    let deadline = Duration::from_secs(15);
    while t.elapsed() < deadline && (addr_after.is_none() || first_n2.is_none()) {
        if addr_after.is_none()
            && server_addrs(&tb).get("nhost") == Some(&tb.addrs.node(2).to_string())
        {
            addr_after = Some(t.elapsed());
        }
        if first_n2.is_none() {
            match version_node(&tb, Duration::from_secs(3)) {
                Ok(n) if n == "n2" => first_n2 = Some(t.elapsed()),
                Ok(_) => {}
                Err(e) => errors.push(format!("{:.2}s: {e}", secs(t.elapsed()))),
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let switch_state = tb.server_states().unwrap_or_default();
    eprintln!(
        "i: UP {:.2}s after the record appeared; after the change to node2: address in \
         `show servers state` after {:?}, first answer from n2 after {:?}; errors during the \
         switch: {errors:?}; state now {switch_state:?}",
        secs(up_after),
        addr_after.map(secs),
        first_n2.map(secs),
    );
    let addr_after = addr_after.expect("server address never changed to node2's");
    let first_n2 = first_n2.expect("no request answered by n2 after the DNS change");
    assert!(addr_after <= deadline && first_n2 <= deadline);
    tb.wait_state("nhost", "UP", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("nhost not UP after the switch: {:?}", tb.server_states()));
    // After the switch: every request succeeds and is answered by node2.
    for _ in 0..20 {
        assert_eq!(version_node(&tb, REQ_TIMEOUT).as_deref(), Ok("n2"));
    }
    let rows = testbed::stats::show_stat(&tb.admin_socket()).unwrap();
    let row = testbed::stats::servers(&rows).remove("nhost").unwrap();
    assert_eq!(
        row.get("addr").cloned(),
        Some(format!("{}:6443", tb.addrs.node(2)))
    );
    assert_eq!(tb.haproxy_master_pid(), master, "haproxy master restarted");
    assert_eq!(
        testbed::stats::info_field(&tb.admin_socket(), "Pid"),
        worker,
        "haproxy reloaded (new worker)"
    );
    let log = tb.log("haproxy.log");
    let events: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("nhost") && !l.contains("k8s-api.default"))
        .collect();
    eprintln!(
        "i: {} DNS queries in total; haproxy log: {events:#?}",
        dns.queries()
    );
}
