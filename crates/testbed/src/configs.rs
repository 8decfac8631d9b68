//! Configs under test: the generator's input JSON for the testbed, and hand-written configs
//! of the setups people use today (kubeadm's HA guide, seed 004's TCP-check setup), used by
//! the benchmarks for side-by-side comparisons.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;

use serde_json::{json, Value};

/// The generator's input for a testbed: the seed-004 shape with the router's address, the
/// node addresses, stats restricted to the LAN, and test-friendly log/admin-socket paths.
pub fn ours_json(
    router: Ipv4Addr,
    nodes: &[(String, Ipv4Addr)],
    lan_cidr: &str,
    admin_socket: &Path,
) -> Value {
    json!({
        "frontendPort": 6443,
        "bindAddress": router.to_string(),
        "controlPlaneNodes": nodes.iter().map(|(n, ip)| json!({"name": n, "address": ip.to_string(), "port": 6443})).collect::<Vec<_>>(),
        "allowedSources": [lan_cidr],
        "statsPort": 8404,
        "stats": { "allowedSources": [lan_cidr, "127.0.0.0/8"] },
        "adminSocket": admin_socket.to_string_lossy(),
        "log": { "target": "stdout" },
    })
}

/// Health check flavour of a hand-written config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// TLS + GET path, expect 200.
    Https(&'static str),
    /// TCP connect only.
    Tcp,
}

/// A hand-written TCP-mode config (the shapes of today's guides).
#[derive(Clone, Debug)]
pub struct HandCfg {
    pub label: &'static str,
    pub bind: Ipv4Addr,
    pub nodes: Vec<(String, Ipv4Addr)>,
    pub admin_socket: String,
    pub check: Check,
    pub inter: &'static str,
    pub fall: u32,
    pub rise: u32,
    pub balance: &'static str,
    pub retries: u32,
    pub redispatch: bool,
    pub connect: &'static str,
    pub client: &'static str,
    pub server: &'static str,
    pub tunnel: Option<&'static str>,
    pub check_timeout: &'static str,
    pub shutdown_sessions: bool,
    pub stats_port: u16,
}

impl HandCfg {
    /// kubeadm's HA guide (docs/ha-considerations, after PR #3060): HTTPS check of /healthz,
    /// roundrobin, `retries 1`, client/server 20s, no tunnel timeout.
    pub fn kubeadm_guide(
        bind: Ipv4Addr,
        nodes: Vec<(String, Ipv4Addr)>,
        admin_socket: String,
    ) -> Self {
        HandCfg {
            label: "kubeadm HA guide",
            bind,
            nodes,
            admin_socket,
            check: Check::Https("/healthz"),
            inter: "2s",
            fall: 3,
            rise: 2,
            balance: "roundrobin",
            retries: 1,
            redispatch: true,
            connect: "5s",
            client: "20s",
            server: "20s",
            tunnel: None,
            check_timeout: "10s",
            shutdown_sessions: false,
            stats_port: 8404,
        }
    }

    /// Seed 004: TCP checks, 10 s connect timeout, 3 failures before down.
    pub fn seed004_tcp(
        bind: Ipv4Addr,
        nodes: Vec<(String, Ipv4Addr)>,
        admin_socket: String,
    ) -> Self {
        HandCfg {
            label: "seed-004 TCP check",
            check: Check::Tcp,
            balance: "roundrobin",
            retries: 3,
            connect: "10s",
            client: "1m",
            server: "1m",
            check_timeout: "10s",
            ..Self::kubeadm_guide(bind, nodes, admin_socket)
        }
    }

    /// Our generator's defaults written by hand (used when comparing knobs one by one).
    pub fn ours_like(bind: Ipv4Addr, nodes: Vec<(String, Ipv4Addr)>, admin_socket: String) -> Self {
        HandCfg {
            label: "ours (hand-written twin)",
            check: Check::Https("/readyz"),
            balance: "leastconn",
            retries: 3,
            connect: "5s",
            client: "20s",
            server: "20s",
            tunnel: Some("1h"),
            check_timeout: "5s",
            shutdown_sessions: true,
            ..Self::kubeadm_guide(bind, nodes, admin_socket)
        }
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# {} (testbed hand-written config)", self.label);
        let _ = writeln!(s, "global\n    log stdout format raw local0 info");
        let _ = writeln!(
            s,
            "    stats socket {} mode 660 level admin expose-fd listeners",
            self.admin_socket
        );
        let _ = writeln!(s, "    hard-stop-after 15m\n");
        let _ = writeln!(s, "defaults\n    log global\n    option dontlognull");
        let _ = writeln!(s, "    retries {}", self.retries);
        if self.redispatch {
            let _ = writeln!(s, "    option redispatch");
        }
        let _ = writeln!(s, "    timeout connect {}\n    timeout client {}\n    timeout server {}\n    timeout check {}", self.connect, self.client, self.server, self.check_timeout);
        if let Some(t) = self.tunnel {
            let _ = writeln!(s, "    timeout tunnel {t}");
        }
        let _ = writeln!(s, "\nfrontend fe_api\n    mode tcp\n    option tcplog\n    bind {}:6443\n    default_backend be_api\n", self.bind);
        let _ = writeln!(
            s,
            "backend be_api\n    mode tcp\n    balance {}",
            self.balance
        );
        if let Check::Https(path) = self.check {
            let _ = writeln!(s, "    option httpchk\n    http-check connect ssl\n    http-check send meth GET uri {path}\n    http-check expect status 200");
        }
        let omd = if self.shutdown_sessions {
            " on-marked-down shutdown-sessions"
        } else {
            ""
        };
        let verify = if matches!(self.check, Check::Https(_)) {
            " verify none"
        } else {
            ""
        };
        for (n, ip) in &self.nodes {
            let _ = writeln!(
                s,
                "    server {n} {ip}:6443 check{verify} inter {} fall {} rise {}{omd}",
                self.inter, self.fall, self.rise
            );
        }
        let _ = writeln!(s, "\nfrontend stats\n    mode http\n    bind {}:{}\n    stats enable\n    stats uri /stats\n    http-request use-service prometheus-exporter if {{ path /metrics }}", self.bind, self.stats_port);
        s
    }
}

/// Runs the real generator library on `input` (with the NixOS option prefix).
pub fn generate(input: &Value) -> anyhow::Result<haproxy_k8s::Outputs> {
    haproxy_k8s::generate(&input.to_string(), "services.haproxy-k8s")
        .map_err(|e| anyhow::anyhow!("generator rejected the testbed input:\n{e}"))
}
