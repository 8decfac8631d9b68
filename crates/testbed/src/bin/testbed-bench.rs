//! Testbed benchmarks (issue 4 §5): side by side in one run, printed as Markdown tables.
//!
//! `cargo run -p testbed --release --bin testbed-bench [-- SECTION...]` with SECTION among
//! `data failover cuts connect drain balance reload addnode sni` (default: all; `cuts` runs
//! `HAPROXY_K8S_BENCH_RUNS` SIGKILL runs per config, default 20). Needs root, ip, haproxy, nft, h2load.
//! Never a timed assertion: it only measures and prints.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use apiserver_standin::client::{Proto, WatchEvent};
use serde_json::{json, Value};
use testbed::configs::{generate, ours_json, HandCfg};
use testbed::load::{Load, WatchHolder, WatchLog};
use testbed::tcplog::TcpLog;
use testbed::{Host, NodeOpts, Testbed};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("standin") {
        // This binary doubles as the apiserver stand-in, so the bench needs no other build.
        return apiserver_standin::cli::main_from(args[1..].iter().cloned());
    }
    // HAPROXY_K8S_TESTBED_HAPROXY picks the HAProxy (2.6 default, or 3.0).
    let version = testbed::HaproxyVersion::from_env()?;
    if let Some(why) = testbed::preflight_with(version, false) {
        bail!(
            "cannot run the testbed benchmarks with HAProxy {}: {why}",
            version.label()
        );
    }
    let me = std::env::current_exe()?.to_string_lossy().into_owned();
    let standin = vec![me, "standin".to_string()];
    let wanted: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    let all = wanted.is_empty();
    let want = |s: &str| all || wanted.contains(&s);

    println!("# testbed-bench\n");
    println!("{}\n", machine());
    if want("data") {
        data_path(&standin)?;
    }
    if want("failover") {
        failover(&standin)?;
    }
    if want("cuts") {
        kill_cuts(&standin)?;
    }
    if want("cuts-blackhole") {
        cuts_blackhole(&standin)?;
    }
    if want("connect") {
        connect_timeout(&standin)?;
    }
    if want("drain") {
        drain(&standin)?;
    }
    if want("balance") {
        balance(&standin)?;
    }
    if want("reload") {
        reload(&standin)?;
    }
    if want("addnode") {
        add_node(&standin)?;
    }
    if want("sni") {
        sni_inspection(&standin)?;
    }
    Ok(())
}

fn sh(cmd: &str) -> String {
    std::process::Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    format!(
        "- machine: {} ({} cores), kernel {}\n- {}\n- {}\n- {}",
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs"),
        sh("nproc"),
        sh("uname -r"),
        sh("haproxy -v | head -1"),
        sh("nft --version"),
        sh("h2load --version 2>/dev/null | head -1"),
    )
}

/// Our generated config for a testbed, with JSON tweaks.
fn ours(tb: &Testbed, n: usize, tweak: impl FnOnce(&mut Value)) -> Result<(String, String)> {
    let mut input = ours_json(
        tb.addrs.router(),
        &tb.node_list(n),
        &tb.addrs.lan_cidr(),
        &tb.admin_socket(),
    );
    tweak(&mut input);
    let out = generate(&input)?;
    Ok((out.haproxy_cfg, out.firewall_nft))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Ours,
    /// Ours with `onMarkedDown: shutdown-sessions` (the default before issue 12).
    OursShutdownSessions,
    /// Ours without server-side TCP keepalive (`no option srvtcpka` through `extraConfig`).
    OursNoKeepalive,
    OursConnect5s,
    Kubeadm,
    Seed004,
    /// Ours with roundrobin and this connect timeout (isolates the connect timeout).
    RoundRobinConnect(&'static str),
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::Ours => "ours (defaults)",
            Variant::OursShutdownSessions => {
                "ours, onMarkedDown=shutdown-sessions (before issue 12)"
            }
            Variant::OursNoKeepalive => "ours, without srvtcpka",
            Variant::OursConnect5s => "ours, timeouts.connect=5s",
            Variant::Kubeadm => "kubeadm HA guide",
            Variant::Seed004 => "seed-004 TCP check",
            Variant::RoundRobinConnect(t) => match t {
                "2s" => "ours, roundrobin, connect 2s",
                "5s" => "ours, roundrobin, connect 5s",
                _ => "ours, roundrobin, connect 10s",
            },
        }
    }
    fn config(self, tb: &Testbed, n: usize) -> Result<String> {
        let sock = tb.admin_socket().to_string_lossy().into_owned();
        Ok(match self {
            Variant::Ours => ours(tb, n, |_| {})?.0,
            Variant::OursShutdownSessions => {
                ours(tb, n, |j| j["onMarkedDown"] = json!("shutdown-sessions"))?.0
            }
            Variant::OursNoKeepalive => {
                ours(tb, n, |j| {
                    j["extraConfig"] = json!({"defaults": "no option srvtcpka"});
                })?
                .0
            }
            Variant::OursConnect5s => ours(tb, n, |j| j["timeouts"] = json!({"connect": "5s"}))?.0,
            Variant::Kubeadm => {
                HandCfg::kubeadm_guide(tb.addrs.router(), tb.node_list(n), sock).render()
            }
            Variant::Seed004 => {
                HandCfg::seed004_tcp(tb.addrs.router(), tb.node_list(n), sock).render()
            }
            Variant::RoundRobinConnect(t) => {
                ours(tb, n, |j| {
                    j["balance"] = json!("roundrobin");
                    j["timeouts"] = json!({ "connect": t });
                })?
                .0
            }
        })
    }
}

fn bed(
    standin: &[String],
    n_ns: usize,
    n: usize,
    opts: &NodeOpts,
    cfg: impl FnOnce(&Testbed) -> Result<String>,
) -> Result<Testbed> {
    let mut tb = Testbed::new(n_ns, standin)?;
    let c = cfg(&tb)?;
    tb.bring_up(n, opts, &c, None)?;
    Ok(tb)
}

fn load(tb: &Testbed, period_ms: u64) -> Load {
    tb.version_load(Duration::from_millis(period_ms))
}

fn s2(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

// ---------------------------------------------------------------------------------------
// Data path: h2load direct to one node vs through the router.

struct H2Result {
    rps: f64,
    ok: u64,
    failed: u64,
    p50_ms: f64,
    p99_ms: f64,
}

fn h2load(tb: &Testbed, url: &str, n: u64, c: u32, m: u32) -> Result<H2Result> {
    let log = tb.dir.join("h2load.log");
    let _ = std::fs::remove_file(&log);
    let n_s = n.to_string();
    let c_s = c.to_string();
    let m_s = m.to_string();
    let log_s = log.to_string_lossy().into_owned();
    let out = tb.exec(
        Host::Client,
        Duration::from_secs(120),
        &[
            "h2load",
            "-n",
            &n_s,
            "-c",
            &c_s,
            "-m",
            &m_s,
            "--log-file",
            &log_s,
            url,
        ],
    )?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rps = text
        .lines()
        .find(|l| l.starts_with("finished in"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|x| x.split_whitespace().next())
        .and_then(|x| x.parse::<f64>().ok())
        .ok_or_else(|| anyhow!("h2load output not understood:\n{text}"))?;
    let mut lat: Vec<u64> = Vec::new();
    let (mut ok, mut failed) = (0, 0);
    for line in std::fs::read_to_string(&log)?.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 {
            continue;
        }
        if cols[1] == "200" {
            ok += 1;
            lat.push(cols[2].parse().unwrap_or(0));
        } else {
            failed += 1;
        }
    }
    lat.sort_unstable();
    let pct = |q: f64| {
        if lat.is_empty() {
            return f64::NAN;
        }
        lat[((lat.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0
    };
    Ok(H2Result {
        rps,
        ok,
        failed,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    })
}

fn data_path(standin: &[String]) -> Result<()> {
    if testbed::which("h2load").is_none() {
        println!("## Data path\n\nSKIPPED: h2load is not installed\n");
        return Ok(());
    }
    let tb = bed(standin, 3, 3, &NodeOpts::default(), |tb| {
        Ok(ours(tb, 3, |_| {})?.0)
    })?;
    println!("## Data path: HTTP/2 over TLS, h2load -n 20000 -c 8 -m 8, GET /version\n");
    println!("| target | req/s | p50 ms | p99 ms | ok | failed |");
    println!("|---|---:|---:|---:|---:|---:|");
    let direct = format!("https://{}:6443/version", tb.addrs.node(1));
    let via = format!("https://{}:6443/version", tb.addrs.router());
    // Warm-up, then alternate so both see the same machine state.
    let _ = h2load(&tb, &via, 2000, 8, 8)?;
    for round in 0..2 {
        for (label, url) in [
            ("direct to node n1", &direct),
            ("through the router (ours)", &via),
        ] {
            let r = h2load(&tb, url, 20000, 8, 8)?;
            println!(
                "| {label} (run {}) | {:.0} | {:.2} | {:.2} | {} | {} |",
                round + 1,
                r.rps,
                r.p50_ms,
                r.p99_ms,
                r.ok,
                r.failed
            );
        }
    }
    println!();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Failover: SIGKILL, black hole, rolling graceful restart.

fn failover(standin: &[String]) -> Result<()> {
    println!("## Failover under a steady stream (50 req/s, one new TLS connection per request, 10 s client timeout)\n");
    println!("| config | scenario | requests | failed | time to DOWN s | failure window s | watch on the node closed after s |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let variants = [
        Variant::Ours,
        Variant::OursShutdownSessions,
        Variant::OursNoKeepalive,
        Variant::OursConnect5s,
        Variant::Kubeadm,
        Variant::Seed004,
    ];
    for v in variants {
        if matches!(v, Variant::Ours | Variant::Kubeadm | Variant::Seed004) {
            let row = kill_run(standin, v).context("kill")?;
            println!("| {} | b. SIGKILL | {row}", v.label());
        }
        let row = blackhole_run(standin, v).context("blackhole")?;
        println!("| {} | c. black hole | {row}", v.label());
        if matches!(v, Variant::Ours | Variant::Kubeadm | Variant::Seed004) {
            let row = rolling_run(standin, v).context("rolling")?;
            println!(
                "| {} | d. rolling SIGTERM (shutdown delay 5 s) | {row}",
                v.label()
            );
        }
    }
    println!();
    Ok(())
}

fn kill_run(standin: &[String], v: Variant) -> Result<String> {
    let tb = bed(standin, 3, 3, &NodeOpts::default(), |tb| v.config(tb, 3))?;
    let l = load(&tb, 20);
    std::thread::sleep(Duration::from_secs(2));
    tb.signal_node(2, libc::SIGKILL)?;
    let t = Instant::now();
    let down = tb.wait_state("n2", "DOWN", Duration::from_secs(40));
    let to_down = down.map(|d| t.elapsed().min(d));
    std::thread::sleep(Duration::from_secs(3));
    let rep = l.stop()?;
    Ok(format!(
        "{} | {} | {} | {} | – |",
        rep.total(),
        rep.failures().len(),
        to_down.map(s2).unwrap_or("never".into()),
        rep.failure_window().map(s2).unwrap_or("–".into())
    ))
}

// ---------------------------------------------------------------------------------------
// Issue 12: streams cut at DOWN although they were not on the SIGKILLed process.

/// What one SIGKILL run left in HAProxy's log and the client's records.
#[derive(Default)]
struct CutCount {
    runs: usize,
    requests: usize,
    logged: usize,
    /// `D…` streams that were not on the killed process (redispatched, never connected, or
    /// on another server): the cut of issue 12.
    cuts: usize,
    /// Client requests that failed (those in flight on the killed process at the kill are
    /// unavoidable; the signal lands a few ms after the client's `t_kill`).
    failed: usize,
    /// Of them, started at least 1 s after the kill: not on the killed process.
    failed_late: usize,
    /// Frontend streams still open once the load has stopped (HAProxy 3.0.11 can freeze a
    /// stream shut at DOWN instead of closing it, so it never logs).
    stuck: usize,
}

fn kill_cuts(standin: &[String]) -> Result<()> {
    let runs: usize = std::env::var("HAPROXY_K8S_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let version = testbed::HaproxyVersion::from_env()?;
    println!(
        "## Issue 12: streams cut at DOWN that were not on the SIGKILLed process ({runs} SIGKILL runs per config, HAProxy {})\n",
        version.label()
    );
    println!("| config | runs | requests | streams logged | `D` cuts not on the killed process | failed requests (client) | of them started ≥ 1 s after the kill | streams stuck after the run |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let variants = [Variant::OursShutdownSessions, Variant::Ours];
    let mut counts: Vec<CutCount> = variants.iter().map(|_| CutCount::default()).collect();
    // Interleaved, so both configs see the same machine state.
    for run in 0..runs {
        for (v, c) in variants.iter().zip(counts.iter_mut()) {
            kill_cut_run(standin, *v, c).with_context(|| format!("{} run {run}", v.label()))?;
        }
    }
    for (v, c) in variants.iter().zip(&counts) {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            v.label(),
            c.runs,
            c.requests,
            c.logged,
            c.cuts,
            c.failed,
            c.failed_late,
            c.stuck
        );
    }
    println!();
    Ok(())
}

/// Waits (bounded) until server `name`'s check health is at its maximum (`rise + fall - 1`).
fn wait_full_health(tb: &Testbed, name: &str) -> Result<()> {
    testbed::wait_for(Duration::from_secs(60), Duration::from_millis(100), || {
        let rows = testbed::stats::show_stat(&tb.admin_socket()).ok()?;
        let row = testbed::stats::servers(&rows).remove(name)?;
        let num = |k: &str| row.get(k)?.parse::<u64>().ok();
        (num("check_health")? + 1 == num("check_rise")? + num("check_fall")?).then_some(())
    })
    .map(|_| ())
    .ok_or_else(|| anyhow!("{name} never reached full health"))
}

/// Issue 12's candidates under a black hole: how long the watch through the dead node hangs.
fn cuts_blackhole(standin: &[String]) -> Result<()> {
    println!(
        "## Issue 12: black hole, watch through the dead node (HAProxy {})\n",
        testbed::HaproxyVersion::from_env()?.label()
    );
    println!("| config | scenario | requests | failed | time to DOWN s | failure window s | watch on the node closed after s |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for v in [
        Variant::OursShutdownSessions,
        Variant::OursNoKeepalive,
        Variant::Ours,
    ] {
        let row = blackhole_run(standin, v).context("blackhole")?;
        println!("| {} | c. black hole | {row}", v.label());
    }
    println!();
    Ok(())
}

fn kill_cut_run(standin: &[String], v: Variant, c: &mut CutCount) -> Result<()> {
    let tb = bed(standin, 3, 3, &NodeOpts::default(), |tb| v.config(tb, 3))?;
    let l = load(&tb, 20);
    if !l.wait_ok(Duration::ZERO, Duration::from_secs(60), |m| m.len() == 3) {
        bail!("not every node answered");
    }
    // A server starts UP at the edge of its health (one failed check marks it DOWN); the
    // issue's case is a node at full health, DOWN after `fall` failed checks.
    wait_full_health(&tb, "n2")?;
    tb.signal_node(2, libc::SIGKILL)?;
    let t_kill = l.now();
    tb.wait_state("n2", "DOWN", Duration::from_secs(60))
        .ok_or_else(|| anyhow!("n2 never DOWN"))?;
    let t_down = l.now();
    // Events, not a sleep: traffic goes on after DOWN.
    if !l.wait_ok(t_down, Duration::from_secs(60), |m| {
        m.values().sum::<usize>() >= 25
    }) {
        bail!("no traffic after DOWN");
    }
    let rep = l.stop()?;
    eprintln!(
        "{} run {}: kill at {:.2}s, DOWN seen at {:.2}s, {}",
        v.label(),
        c.runs,
        t_kill.as_secs_f64(),
        t_down.as_secs_f64(),
        rep.summary()
    );
    // Streams of the frontend still open once every client has finished: the last ones
    // close within a moment (waited for, bounded); a frozen one never does.
    let open = || {
        testbed::stats::admin_command(&tb.admin_socket(), "show sess")
            .map(|s| s.lines().filter(|l| l.contains(" fe=k8s-api.")).count())
            .unwrap_or(0)
    };
    let _ = testbed::wait_for(Duration::from_secs(15), Duration::from_millis(100), || {
        (open() == 0).then_some(())
    });
    let stuck = open();
    let logs = TcpLog::parse_all(&tb.log("haproxy.log"));
    c.runs += 1;
    c.requests += rep.total();
    c.logged += logs.len();
    c.cuts += logs
        .iter()
        .filter(|s| s.cut_by_down() && !s.was_on("n2"))
        .count();
    c.failed += rep.failures().len();
    c.failed_late += rep
        .failures_started_after(t_kill + Duration::from_secs(1))
        .len();
    c.stuck += stuck;
    Ok(())
}

fn blackhole_run(standin: &[String], v: Variant) -> Result<String> {
    let opts = NodeOpts {
        watch_interval: Duration::from_millis(500),
        ..NodeOpts::default()
    };
    let tb = bed(standin, 3, 3, &opts, |tb| v.config(tb, 3))?;
    let hold = |pick: &str| {
        WatchHolder::start(
            &tb.ns(Host::Client),
            tb.client(),
            tb.frontend(),
            Proto::H2,
            Some(pick.to_string()),
            Duration::from_secs(60),
        )
    };
    let w = hold("n2");
    let w1 = hold("n1");
    let w3 = hold("n3");
    for h in [&w, &w1, &w3] {
        testbed::wait_for(Duration::from_secs(30), Duration::from_millis(50), || {
            h.first_node()
        })
        .ok_or_else(|| anyhow!("watch never opened"))?;
    }
    let l = load(&tb, 20);
    std::thread::sleep(Duration::from_secs(2));
    let w_t0 = w.started.elapsed();
    tb.blackhole_node(2)?;
    let t = Instant::now();
    let down = tb.wait_state("n2", "DOWN", Duration::from_secs(60));
    let to_down = down.map(|d| t.elapsed().min(d));
    // Long enough for a held watch to run into timeouts if nothing closes it.
    std::thread::sleep(Duration::from_secs(12));
    let rep = l.stop()?;
    let log = w.stop()?;
    w1.stop()?;
    w3.stop()?;
    let closed = log.iter().find_map(|l| match l {
        WatchLog::Closed { at, node, .. } if node == "n2" => Some(*at - w_t0),
        _ => None,
    });
    Ok(format!(
        "{} | {} | {} | {} | {} |",
        rep.total(),
        rep.failures().len(),
        to_down.map(s2).unwrap_or("never".into()),
        rep.failure_window().map(s2).unwrap_or("–".into()),
        closed.map(s2).unwrap_or("not within 12 s of DOWN".into())
    ))
}

fn rolling_run(standin: &[String], v: Variant) -> Result<String> {
    rolling_run_at(standin, v, 20).map(|(row, _)| row)
}

/// Rolling restart at one request every `period_ms`; the row and the failure messages.
fn rolling_run_at(standin: &[String], v: Variant, period_ms: u64) -> Result<(String, Vec<String>)> {
    let opts = NodeOpts {
        shutdown_delay: Duration::from_secs(5),
        ..NodeOpts::default()
    };
    let mut tb = bed(standin, 3, 3, &opts, |tb| v.config(tb, 3))?;
    let l = load(&tb, period_ms);
    std::thread::sleep(Duration::from_secs(1));
    let mut downs = Vec::new();
    for i in 1..=3 {
        let name = format!("n{i}");
        let t = Instant::now();
        tb.signal_node(i, libc::SIGTERM)?;
        tb.wait_node_exit(i, Duration::from_secs(30))?;
        // A config whose check ignores /readyz sees DOWN only when the listener is gone.
        let down = tb.wait_state(&name, "DOWN", Duration::from_secs(1));
        downs.push(
            down.map(|_| s2(t.elapsed()))
                .unwrap_or_else(|| "not DOWN".into()),
        );
        tb.start_node(i, &opts)?;
        tb.wait_state(&name, "UP", Duration::from_secs(30))
            .ok_or_else(|| anyhow!("{name} never UP again"))?;
    }
    std::thread::sleep(Duration::from_secs(1));
    let rep = l.stop()?;
    let why = rep
        .failures()
        .iter()
        .map(|r| {
            format!(
                "{:.3}s..{:.3}s {}",
                r.start.as_secs_f64(),
                r.end.as_secs_f64(),
                r.result.as_ref().unwrap_err()
            )
        })
        .collect();
    Ok((
        format!(
            "{} | {} | – | {} | – |",
            rep.total(),
            rep.failures().len(),
            rep.failure_window().map(s2).unwrap_or("–".into())
        ),
        why,
    ))
}

/// Black hole with roundrobin (so a third of new connections keep going to the dead node until
/// DOWN): the connect timeout alone decides whether those requests are moved in time.
fn connect_timeout(standin: &[String]) -> Result<()> {
    println!("## Connect timeout under a black hole (roundrobin, retries 3 + redispatch, 50 req/s, 10 s client timeout)\n");
    println!("| config | requests | failed | time to DOWN s | failure window s | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut notes = Vec::new();
    for t in ["2s", "5s", "10s"] {
        let v = Variant::RoundRobinConnect(t);
        let tb = bed(standin, 3, 3, &NodeOpts::default(), |tb| v.config(tb, 3))?;
        let l = load(&tb, 20);
        std::thread::sleep(Duration::from_secs(2));
        tb.blackhole_node(2)?;
        let start = Instant::now();
        let down = tb.wait_state("n2", "DOWN", Duration::from_secs(60));
        let to_down = down.map(|d| start.elapsed().min(d));
        std::thread::sleep(Duration::from_secs(12));
        let rep = l.stop()?;
        let ms = |q: f64| {
            rep.latency(q)
                .map(|d| format!("{:.0}", d.as_secs_f64() * 1000.0))
                .unwrap_or("–".into())
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            v.label(),
            rep.total(),
            rep.failures().len(),
            to_down.map(s2).unwrap_or("never".into()),
            rep.failure_window().map(s2).unwrap_or("–".into()),
            ms(0.5),
            ms(0.99),
            ms(1.0)
        );
        for f in rep.failures().iter().take(2) {
            notes.push(format!(
                "{}: failed {:.3}s..{:.3}s: {}",
                v.label(),
                f.start.as_secs_f64(),
                f.end.as_secs_f64(),
                f.result.as_ref().unwrap_err()
            ));
        }
    }
    println!();
    for n in notes {
        println!("- {n}");
    }
    println!();
    Ok(())
}

/// Rolling graceful restarts at a higher request rate: what `on-marked-down
/// shutdown-sessions` costs when a node drains gracefully.
fn drain(standin: &[String]) -> Result<()> {
    println!("## Graceful drain at 200 req/s: on-marked-down shutdown-sessions vs none (3 rolling restarts each)\n");
    println!("| config | run | requests | failed | time to DOWN s | failure window s | – |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let mut all_why = Vec::new();
    for v in [Variant::OursShutdownSessions, Variant::Ours] {
        for run in 1..=3 {
            let (row, why) = rolling_run_at(standin, v, 5)?;
            println!("| {} | {run} | {row}", v.label());
            all_why.extend(why.into_iter().map(|w| format!("{}: {w}", v.label())));
        }
    }
    println!();
    for w in all_why.iter().take(20) {
        println!("- {w}");
    }
    println!();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Balance after a node restart: where long-lived connections end up.

/// Holds `n` watches from the client namespace, re-opening any that end.
struct WatchPool {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Result<()>>,
}

impl WatchPool {
    fn start(tb: &Testbed, n: usize) -> WatchPool {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let client = tb.client();
        let addr: SocketAddr = tb.frontend();
        let handle = testbed::spawn_in_netns(&tb.ns(Host::Client), move || async move {
            let mut tasks = Vec::new();
            for _ in 0..n {
                let client = client.clone();
                let stop = stop2.clone();
                tasks.push(tokio::spawn(async move {
                    for _ in 0..1000 {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        let Ok(mut w) = client
                            .watch(
                                addr,
                                "/api/v1/pods?watch=1",
                                Proto::H2,
                                Duration::from_secs(10),
                            )
                            .await
                        else {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue;
                        };
                        loop {
                            if stop.load(Ordering::SeqCst) {
                                return;
                            }
                            match tokio::time::timeout(
                                Duration::from_millis(300),
                                w.next(Duration::from_secs(30)),
                            )
                            .await
                            {
                                Err(_) => continue,
                                Ok(Ok(WatchEvent::Line(_))) => continue,
                                Ok(_) => break,
                            }
                        }
                    }
                }));
                // Open one at a time, as clients arriving over time.
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            for t in tasks {
                let _ = t.await;
            }
            Ok(())
        });
        WatchPool { stop, handle }
    }
    fn stop(self) -> Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().map_err(|_| anyhow!("pool panicked"))?
    }
}

fn scur(tb: &Testbed) -> BTreeMap<String, u64> {
    testbed::stats::show_stat(&tb.admin_socket())
        .map(|rows| {
            testbed::stats::servers(&rows)
                .into_iter()
                .filter(|(k, _)| k.starts_with('n'))
                .map(|(k, r)| (k, r.get("scur").and_then(|v| v.parse().ok()).unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

fn fmt_dist(m: &BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn balance(standin: &[String]) -> Result<()> {
    println!("## Balance after a node restart (30 watches, n1 restarted gracefully, then 15 new watches)\n");
    println!("| balance | before restart | after n1 is back | after 15 new watches |");
    println!("|---|---|---|---|");
    for algo in ["leastconn", "roundrobin"] {
        let opts = NodeOpts {
            shutdown_delay: Duration::from_secs(3),
            ..NodeOpts::default()
        };
        let mut tb = bed(standin, 3, 3, &opts, |tb| {
            Ok(ours(tb, 3, |j| j["balance"] = json!(algo))?.0)
        })?;
        let settle = |tb: &Testbed, total: u64| {
            testbed::wait_for(Duration::from_secs(30), Duration::from_millis(100), || {
                (scur(tb).values().sum::<u64>() >= total).then_some(())
            });
            std::thread::sleep(Duration::from_millis(500));
            scur(tb)
        };
        let p1 = WatchPool::start(&tb, 30);
        let before = settle(&tb, 30);
        tb.signal_node(1, libc::SIGTERM)?;
        tb.wait_node_exit(1, Duration::from_secs(30))?;
        tb.start_node(1, &opts)?;
        tb.wait_state("n1", "UP", Duration::from_secs(30))
            .ok_or_else(|| anyhow!("n1 not UP"))?;
        let after = settle(&tb, 30);
        let p2 = WatchPool::start(&tb, 15);
        let more = settle(&tb, 45);
        p1.stop()?;
        p2.stop()?;
        println!(
            "| {algo} | {} | {} | {} |",
            fmt_dist(&before),
            fmt_dist(&after),
            fmt_dist(&more)
        );
    }
    println!();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reload under load.

fn reload(standin: &[String]) -> Result<()> {
    println!("## 10 reloads under load (50 req/s, 3 watches held, one reload per second, weight of n3 toggled)\n");
    let mut tb = bed(standin, 3, 3, &NodeOpts::default(), |tb| {
        Ok(ours(tb, 3, |_| {})?.0)
    })?;
    let w = WatchHolder::start(
        &tb.ns(Host::Client),
        tb.client(),
        tb.frontend(),
        Proto::H2,
        None,
        Duration::from_secs(10),
    );
    testbed::wait_for(Duration::from_secs(20), Duration::from_millis(50), || {
        w.first_node()
    })
    .ok_or_else(|| anyhow!("watch never opened"))?;
    let l = load(&tb, 20);
    std::thread::sleep(Duration::from_secs(1));
    let rss0: u64 = tb.router_processes().iter().map(|p| p.2).sum();
    let mut took = Vec::new();
    for k in 0..10 {
        let weight = if k % 2 == 0 { 2 } else { 1 };
        let (cfg, _) = ours(&tb, 3, |j| {
            j["controlPlaneNodes"][2]["weight"] = json!(weight)
        })?;
        let t = Instant::now();
        tb.reload_haproxy(&cfg)?;
        took.push(t.elapsed());
        std::thread::sleep(Duration::from_secs(1));
    }
    std::thread::sleep(Duration::from_secs(2));
    let rep = l.stop()?;
    let procs = tb.router_processes();
    let log = w.stop()?;
    let closed = log
        .iter()
        .filter(|l| matches!(l, WatchLog::Closed { .. }))
        .count();
    let rss: u64 = procs.iter().map(|p| p.2).sum();
    println!("| measure | value |\n|---|---:|");
    println!(
        "| requests / failed | {} / {} |",
        rep.total(),
        rep.failures().len()
    );
    println!("| watches closed by the reloads | {closed} |");
    println!(
        "| reload to new worker answering, s (max) | {:.2} |",
        took.iter().max().copied().unwrap_or_default().as_secs_f64()
    );
    println!(
        "| haproxy processes before / after (master + workers) | {} / {} |",
        2,
        procs.len()
    );
    println!(
        "| RSS of all haproxy processes before / after, MiB | {:.1} / {:.1} |",
        rss0 as f64 / 1024.0,
        rss as f64 / 1024.0
    );
    let per: Vec<String> = procs
        .iter()
        .map(|p| format!("{}:{:.1}", p.0, p.2 as f64 / 1024.0))
        .collect();
    println!("| per-process RSS (pid:MiB) | {} |", per.join(" "));
    println!();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// A node added by a reload before its apiserver answers.

fn add_node(standin: &[String]) -> Result<()> {
    println!(
        "## A 4th node added by a reload before it is ready (50 req/s, 10 s client timeout)\n"
    );
    println!("| n4 at reload | requests | failed | n4 state right after reload | n4 DOWN after s | requests answered by n4 |");
    println!("|---|---:|---:|---|---:|---:|");
    for case in ["ready", "not listening (RST)", "black-holed"] {
        let mut tb = bed(standin, 4, 3, &NodeOpts::default(), |tb| {
            Ok(ours(tb, 3, |_| {})?.0)
        })?;
        match case {
            "ready" => tb.start_node(4, &NodeOpts::default())?,
            "black-holed" => tb.blackhole_node(4)?,
            _ => {}
        }
        let l = load(&tb, 20);
        std::thread::sleep(Duration::from_secs(2));
        let (cfg, _) = ours(&tb, 4, |_| {})?;
        tb.reload_haproxy(&cfg)?;
        let t = Instant::now();
        let first = tb.server_states()?.get("n4").cloned().unwrap_or_default();
        let down = if case == "ready" {
            None
        } else {
            tb.wait_state("n4", "DOWN", Duration::from_secs(40))
                .map(|d| t.elapsed().min(d))
        };
        std::thread::sleep(Duration::from_secs(12));
        let rep = l.stop()?;
        println!(
            "| {case} | {} | {} | {first} | {} | {} |",
            rep.total(),
            rep.failures().len(),
            down.map(s2).unwrap_or("–".into()),
            rep.per_node().get("n4").copied().unwrap_or(0)
        );
    }
    println!();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// SNI routing (seed 000) vs plain TCP passthrough: the cost of inspecting the ClientHello.

/// Fresh TLS connections one after another (one `GET /version` each), through the same
/// router reloaded between three configs: plain passthrough (no `sniRoutes`), SNI inspection
/// whose name matches no route (the apiservers, as kubectl by name), and a matched route (a
/// workload backend over the same nodes). Rounds alternate so all see the same machine state.
fn sni_inspection(standin: &[String]) -> Result<()> {
    const N: usize = 1500;
    let mut tb = bed(standin, 3, 3, &NodeOpts::default(), |tb| {
        Ok(ours(tb, 3, |_| {})?.0)
    })?;
    let nodes: Vec<Value> = tb
        .node_list(3)
        .into_iter()
        .map(|(name, ip)| json!({"name": name, "address": ip.to_string(), "port": 6443}))
        .collect();
    let routes = |host: &'static str| {
        let nodes = nodes.clone();
        move |j: &mut Value| {
            j["sniRoutes"] = json!([{ "hosts": [host], "backend": "workload" }]);
            j["backends"] =
                json!({ "workload": { "nodes": nodes, "healthCheck": { "type": "tls" } } });
        }
    };
    let plain = ours(&tb, 3, |_| {})?.0;
    let unmatched = ours(&tb, 3, routes("login.example.com"))?.0;
    let matched = ours(&tb, 3, routes("kubernetes"))?.0;
    println!("## SNI routing vs plain TCP passthrough: {N} sequential fresh TLS connections, one GET /version each (HTTP/1.1, SNI `kubernetes`)\n");
    println!("| config | connections/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|");
    let addr = tb.frontend();
    for round in 1..=2 {
        for (label, cfg) in [
            ("plain passthrough (no sniRoutes)", &plain),
            (
                "SNI inspected, no route matches (to the apiservers)",
                &unmatched,
            ),
            ("SNI inspected, route matches (workload backend)", &matched),
        ] {
            tb.reload_haproxy(cfg)?;
            for server in ["n1", "n2", "n3"] {
                tb.wait_state(server, "UP", Duration::from_secs(30))
                    .ok_or_else(|| anyhow!("{server} not UP after the reload"))?;
            }
            let client = tb.client_for("kubernetes");
            let _ = testbed::sni::fresh_connection_run(
                &tb.ns(Host::Client),
                client.clone(),
                addr,
                100,
            )?;
            let (mut lat, total) =
                testbed::sni::fresh_connection_run(&tb.ns(Host::Client), client, addr, N)?;
            lat.sort_unstable();
            let pct =
                |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
            println!(
                "| {label} (round {round}) | {:.0} | {:.2} | {:.2} |",
                N as f64 / total.as_secs_f64(),
                pct(0.5),
                pct(0.99)
            );
        }
    }
    println!();
    Ok(())
}
