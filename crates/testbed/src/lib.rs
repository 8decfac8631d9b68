//! A network testbed in Linux network namespaces: a router running the real HAProxy (2.6 or
//! 3.0) with a generated config and the generated nftables rules, three (or more)
//! control-plane nodes running the apiserver stand-in, a client and an outsider on another
//! subnet, over IPv4 and IPv6.
//!
//! Modules, one job each: [`topology`] (namespaces, links, addresses), [`process`] (bounded
//! commands and waits, children, guardian, cleanup), [`haproxy`] (which HAProxy, start,
//! reload, server states), [`nodes`] (the stand-ins), [`firewall`] (nft in the namespaces),
//! [`probe`] (TCP reachability), [`stats`] (admin socket and CSV), [`load`], [`dns`],
//! [`configs`].
//!
//! Everything it creates carries a per-run prefix (`hk<pid>x<n>`); [`Testbed`]'s `Drop` kills
//! its processes and deletes its namespaces, also when a test panics. A guardian process
//! (in its own session, so Ctrl-C does not reach it) removes the namespaces when the test
//! process dies without unwinding (SIGINT, SIGKILL). At start, namespaces left by dead runs
//! are swept.

pub mod configs;
pub mod dns;
pub mod firewall;
pub mod haproxy;
pub mod load;
pub mod nodes;
pub mod pair;
pub mod probe;
pub mod process;
pub mod sni;
pub mod stats;
pub mod tcplog;
pub mod topology;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use apiserver_standin::ca::TestCa;
use apiserver_standin::client::Client;

pub use haproxy::HaproxyVersion;
pub use nodes::NodeOpts;
pub use process::{in_netns, run_limited, run_ok, spawn_in_netns, sweep_stale, wait_for, which};
pub use topology::{Addrs, Host};

use haproxy::Haproxy;
use process::{Children, Guardian};
use topology::Topology;

/// Serialises scenarios inside one test process (2 cores; timing-sensitive assertions).
pub static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the global scenario lock, ignoring poisoning from an earlier failed scenario.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Why the testbed cannot run here with `version`, if it cannot (not root, a tool missing,
/// no Debian 13 tree). Every reason is one tests/install-deps.sh (run as root) fixes.
pub fn preflight_with(version: HaproxyVersion, need_kubectl: bool) -> Option<String> {
    if !test_skip::is_root() {
        return Some("not running as root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    let mut tools = vec!["ip", "nft"];
    if need_kubectl {
        tools.push("kubectl");
    }
    for tool in tools {
        if which(tool).is_none() {
            return Some(format!("`{tool}` is not installed / not on PATH"));
        }
    }
    version.unavailable()
}

/// Records a visible skip (see the `test-skip` crate: loud, in run-all's summary, a failure
/// on CI) and returns true when the testbed cannot run with `version`.
pub fn skip_unless_ready_with(test: &str, version: HaproxyVersion, need_kubectl: bool) -> bool {
    if let Some(why) = preflight_with(version, need_kubectl) {
        test_skip::skip(
            &format!("testbed scenario `{test}`"),
            &why,
            test_skip::Cause::Fixable,
        );
        return true;
    }
    false
}

/// Records a skip of (part of) a test because `tool` is missing; see `test_skip::skip`.
pub fn skip_missing_tool(test: &str, tool: &str) {
    test_skip::skip(
        test,
        &format!("`{tool}` is not installed (tests/install-deps.sh installs it)"),
        test_skip::Cause::Fixable,
    );
}

/// One running testbed. Dropping it removes everything it made.
pub struct Testbed {
    pub prefix: String,
    pub addrs: Addrs,
    /// Working directory (configs, certificates, logs, admin socket), removed on drop.
    pub dir: PathBuf,
    pub ca: TestCa,
    pub ca_path: PathBuf,
    pub n_nodes: usize,
    pub keep_dir: bool,
    standin_cmd: Vec<String>,
    // Dropped in this order: processes first, then the namespaces they ran in, then the
    // guardian (which would otherwise race the namespace removal).
    pub(crate) children: Children,
    haproxy: Haproxy,
    topology: Topology,
    _guardian: Guardian,
}

impl Testbed {
    /// Creates namespaces and links for `n_nodes` node hosts (none started yet), with the
    /// HAProxy picked by `HAPROXY_K8S_TESTBED_HAPROXY` (default 2.6). `standin_cmd` runs
    /// the apiserver stand-in (program and leading arguments; the stand-in's own flags follow).
    pub fn new(n_nodes: usize, standin_cmd: &[String]) -> Result<Testbed> {
        Self::with_haproxy(n_nodes, standin_cmd, HaproxyVersion::from_env()?)
    }

    /// [`Testbed::new`] with an explicit HAProxy.
    pub fn with_haproxy(
        n_nodes: usize,
        standin_cmd: &[String],
        version: HaproxyVersion,
    ) -> Result<Testbed> {
        sweep_stale();
        let pid = std::process::id();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("hk{pid}x{n}");
        let seed = pid.wrapping_mul(31).wrapping_add(n * 7);
        let addrs = Addrs {
            a: 200 + (seed % 50) as u8,
            b: ((seed / 50 + n * 2) % 127) as u8 * 2,
        };
        let dir = PathBuf::from(format!("/tmp/{prefix}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let ca = TestCa::new("haproxy-k8s testbed CA")?;
        let ca_path = dir.join("ca.crt");
        std::fs::write(&ca_path, ca.cert_pem())?;
        let guardian = Guardian::spawn(&prefix)?;
        let topology = Topology::build(prefix.clone(), addrs.clone(), n_nodes)
            .context("building the namespace topology")?;
        Ok(Testbed {
            prefix,
            addrs,
            haproxy: Haproxy::new(version, &dir),
            dir,
            ca,
            ca_path,
            n_nodes,
            keep_dir: false,
            standin_cmd: standin_cmd.to_vec(),
            children: Children::default(),
            topology,
            _guardian: guardian,
        })
    }

    pub fn ns(&self, h: Host) -> String {
        self.topology.ns(h)
    }

    /// Which HAProxy this testbed runs.
    pub fn haproxy_version(&self) -> HaproxyVersion {
        self.haproxy.version
    }

    /// Spawns a long-running process inside a namespace (stdout/stderr to `log`).
    pub fn spawn_in(&self, h: Host, args: &[&str], log: &str) -> Result<Child> {
        process::spawn_in_ns(&self.ns(h), args, &self.dir.join(log))
    }

    /// Runs a command in a namespace with a time limit.
    pub fn exec(&self, h: Host, limit: Duration, args: &[&str]) -> Result<Output> {
        let ns = self.ns(h);
        let mut full = vec!["ip", "netns", "exec", ns.as_str()];
        full.extend_from_slice(args);
        run_limited(limit, &full)
    }

    /// Like [`exec`](Self::exec) but fails unless the command exits 0; returns stdout.
    pub fn exec_ok(&self, h: Host, args: &[&str]) -> Result<String> {
        let out = self.exec(h, Duration::from_secs(30), args)?;
        if !out.status.success() {
            bail!(
                "{args:?} in {h:?} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn haproxy_cfg_path(&self) -> PathBuf {
        self.haproxy.cfg_path()
    }
    pub fn admin_socket(&self) -> PathBuf {
        self.haproxy.admin_socket()
    }

    /// Writes `cfg`, checks it with `haproxy -c`, and starts `haproxy -Ws` in the router.
    pub fn start_haproxy(&mut self, cfg: &str) -> Result<()> {
        let ns = self.ns(Host::Router);
        self.haproxy.start(&ns, cfg)
    }

    /// Rewrites the config and reloads the master with SIGUSR2 (what `systemctl reload` does
    /// for `-Ws`). Returns once the admin socket answers with the new worker's process
    /// (bounded).
    pub fn reload_haproxy(&mut self, cfg: &str) -> Result<()> {
        self.haproxy.reload(cfg)
    }

    pub fn haproxy_master_pid(&self) -> Option<u32> {
        self.haproxy.master_pid()
    }

    /// Starts nodes 1..=n with `opts`, HAProxy with `cfg`, optionally the firewall, and waits
    /// (bounded) until every started node is UP.
    pub fn bring_up(
        &mut self,
        n: usize,
        opts: &NodeOpts,
        cfg: &str,
        firewall_nft: Option<&str>,
    ) -> Result<()> {
        for i in 1..=n {
            self.start_node(i, opts)?;
        }
        self.start_haproxy(cfg)?;
        if let Some(fw) = firewall_nft {
            self.load_firewall(fw)?;
        }
        for i in 1..=n {
            let name = format!("n{i}");
            self.wait_state(&name, "UP", Duration::from_secs(60))
                .ok_or_else(|| anyhow!("{name} never UP: {:?}", self.server_states()))?;
        }
        Ok(())
    }

    /// Processes running in the router namespace: (pid, command name, RSS in KiB).
    pub fn router_processes(&self) -> Vec<(u32, String, u64)> {
        let Ok(out) = run_limited(
            Duration::from_secs(5),
            &["ip", "netns", "pids", &self.ns(Host::Router)],
        ) else {
            return Vec::new();
        };
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .filter_map(|pid| {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
                let field = |k: &str| {
                    status
                        .lines()
                        .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
                };
                let name = field("Name:")?;
                let rss = field("VmRSS:")
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                    .unwrap_or(0);
                Some((pid, name, rss))
            })
            .collect()
    }

    /// A long-running helper process in a namespace, killed on drop.
    pub fn spawn_other(&mut self, h: Host, args: &[&str], log: &str) -> Result<u32> {
        let c = self.spawn_in(h, args, log)?;
        let id = c.id();
        self.children.others.push(c);
        Ok(id)
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// The router's API frontend address.
    pub fn frontend(&self) -> SocketAddr {
        SocketAddr::new(self.addrs.router().into(), 6443)
    }

    /// A steady stream of HTTP/2 `GET /version` from the client namespace through the
    /// router, one new TLS connection per request every `period`, each with a 10 s timeout
    /// (like client-go's TLS handshake timeout).
    pub fn version_load(&self, period: Duration) -> load::Load {
        load::Load::start(
            &self.ns(Host::Client),
            self.client(),
            self.frontend(),
            "/version",
            apiserver_standin::client::Proto::H2,
            period,
            Duration::from_secs(10),
        )
    }

    /// An HTTPS client trusting the testbed CA, checking the router's IP.
    pub fn client(&self) -> Client {
        self.client_for(&self.addrs.router().to_string())
    }

    /// An HTTPS client trusting the testbed CA, checking `server_name` (e.g. the router's
    /// IPv6 address).
    pub fn client_for(&self, server_name: &str) -> Client {
        Client::new(&self.ca.cert_pem(), server_name).expect("client TLS config")
    }

    /// Current server state from the admin socket: node name -> status (UP, DOWN, ...).
    pub fn server_states(&self) -> Result<HashMap<String, String>> {
        self.haproxy.server_states()
    }

    /// Waits until node `name`'s status starts with `want` ("UP"/"DOWN"), bounded.
    pub fn wait_state(&self, name: &str, want: &str, limit: Duration) -> Option<Duration> {
        self.haproxy.wait_state(name, want, limit)
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        // The fields' own Drops kill the processes and delete the namespaces afterwards.
        self.children.kill_all();
        if !self.keep_dir && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("testbed: logs kept in {}", self.dir.display());
        }
    }
}
