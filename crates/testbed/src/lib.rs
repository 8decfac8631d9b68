//! A network testbed in Linux network namespaces: a router running the real HAProxy with a
//! generated config and the generated nftables rules, three (or more) control-plane nodes
//! running the apiserver stand-in, a client and an outsider on another subnet.
//!
//! Everything it creates carries a per-run prefix (`hk<pid>x<n>`); [`Testbed`]'s `Drop` kills
//! its processes and deletes its namespaces, also when a test panics. A guardian process
//! (in its own session, so Ctrl-C does not reach it) removes the namespaces when the test
//! process dies without unwinding (SIGINT, SIGKILL). At start, namespaces left by dead runs
//! are swept.

pub mod configs;
pub mod dns;
pub mod load;
pub mod stats;

use std::collections::HashMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use apiserver_standin::ca::TestCa;
use apiserver_standin::client::Client;

/// Serialises scenarios inside one test process (2 cores; timing-sensitive assertions).
pub static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the global scenario lock, ignoring poisoning from an earlier failed scenario.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Why the testbed cannot run here, if it cannot (not root, a tool missing, no netns).
pub fn preflight(need_kubectl: bool) -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    let mut tools = vec!["ip", "haproxy", "nft"];
    if need_kubectl {
        tools.push("kubectl");
    }
    for tool in tools {
        if which(tool).is_none() {
            return Some(format!("`{tool}` is not installed / not on PATH"));
        }
    }
    None
}

/// Prints the loud skip message and returns true when the testbed cannot run.
pub fn skip_unless_ready(test: &str, need_kubectl: bool) -> bool {
    if let Some(why) = preflight(need_kubectl) {
        loud(&format!("SKIPPED: testbed scenario `{test}` because {why}"));
        return true;
    }
    false
}

/// Writes to the process's real stderr, past the test harness's output capture (which only
/// catches `print!`/`eprint!`), so a skip is visible even for a passing test.
pub fn loud(msg: &str) {
    use std::io::Write;
    let bar = "*".repeat(72);
    let _ = writeln!(std::io::stderr(), "\n{bar}\n{msg}\n{bar}");
}

pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].iter().map(PathBuf::from))
    {
        let p = dir.join(tool);
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

/// Runs a command with a hard time limit (via coreutils `timeout`), returns its output.
pub fn run_limited(limit: Duration, args: &[&str]) -> Result<Output> {
    let secs = format!("{}", limit.as_secs().max(1));
    let out = Command::new("timeout")
        .arg("-s")
        .arg("KILL")
        .arg(&secs)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {args:?}"))?;
    Ok(out)
}

/// Like [`run_limited`] but fails unless the command exits 0.
pub fn run_ok(args: &[&str]) -> Result<String> {
    let out = run_limited(Duration::from_secs(30), args)?;
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}{}",
            args,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls `f` every `every` until it returns `Some`, at most until `limit` (and at most
/// `limit / every + 1` times). Returns the value and the time it took.
pub fn wait_for<T>(
    limit: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<(T, Duration)> {
    let start = Instant::now();
    let max = (limit.as_millis() / every.as_millis().max(1)) as u64 + 1;
    for _ in 0..max {
        if let Some(v) = f() {
            return Some((v, start.elapsed()));
        }
        if start.elapsed() >= limit {
            break;
        }
        std::thread::sleep(every);
    }
    None
}

/// The hosts of the topology.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    Router,
    Node(usize),
    Client,
    Outsider,
}

/// Addresses: the LAN 10.A.B.0/24 (router .1, node i .10+i, client .100) and the outside net
/// 10.A.B+1.0/24 (router .1, outsider .2), A in 200..=249, derived from pid and a counter.
#[derive(Clone, Debug)]
pub struct Addrs {
    pub a: u8,
    pub b: u8,
}

impl Addrs {
    pub fn router(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.a, self.b, 1)
    }
    pub fn router_outside(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.a, self.b + 1, 1)
    }
    pub fn node(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, self.a, self.b, 10 + i as u8)
    }
    pub fn client(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.a, self.b, 100)
    }
    pub fn outsider(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.a, self.b + 1, 2)
    }
    pub fn lan_cidr(&self) -> String {
        format!("10.{}.{}.0/24", self.a, self.b)
    }
}

/// Settings for one stand-in node.
#[derive(Clone, Debug)]
pub struct NodeOpts {
    pub shutdown_delay: Duration,
    pub watch_interval: Duration,
}

impl Default for NodeOpts {
    fn default() -> Self {
        NodeOpts {
            shutdown_delay: Duration::from_secs(5),
            watch_interval: Duration::from_millis(1000),
        }
    }
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
    standin_cmd: Vec<String>,
    nodes: HashMap<usize, Child>,
    haproxy: Option<Child>,
    others: Vec<Child>,
    guardian: Option<Child>,
    namespaces: Vec<String>,
    pub keep_dir: bool,
}

impl Testbed {
    /// Creates namespaces and links for `n_nodes` node hosts (none started yet).
    /// `standin_cmd` runs the apiserver stand-in (program and leading arguments; the
    /// stand-in's own flags follow).
    pub fn new(n_nodes: usize, standin_cmd: &[String]) -> Result<Testbed> {
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
        let mut tb = Testbed {
            prefix,
            addrs,
            dir,
            ca,
            ca_path,
            n_nodes,
            standin_cmd: standin_cmd.to_vec(),
            nodes: HashMap::new(),
            haproxy: None,
            others: Vec::new(),
            guardian: None,
            namespaces: Vec::new(),
            keep_dir: false,
        };
        tb.spawn_guardian()?;
        tb.build_topology()
            .context("building the namespace topology")?;
        Ok(tb)
    }

    pub fn ns(&self, h: Host) -> String {
        match h {
            Host::Router => format!("{}-router", self.prefix),
            Host::Node(i) => format!("{}-node{}", self.prefix, i),
            Host::Client => format!("{}-client", self.prefix),
            Host::Outsider => format!("{}-outsider", self.prefix),
        }
    }

    fn spawn_guardian(&mut self) -> Result<()> {
        // Polls our pid; once we are gone, kills what runs in our namespaces and deletes them.
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             for n in $(ip netns list | awk '{{print $1}}' | grep '^{prefix}-'); do \
               ip netns pids $n | xargs -r kill -9; ip netns del $n; done; rm -rf /tmp/{prefix}",
            pid = std::process::id(),
            prefix = self.prefix
        );
        let child = Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning guardian")?;
        self.guardian = Some(child);
        Ok(())
    }

    fn add_ns(&mut self, h: Host) -> Result<String> {
        let name = self.ns(h);
        run_ok(&["ip", "netns", "add", &name])?;
        self.namespaces.push(name.clone());
        run_ok(&["ip", "-n", &name, "link", "set", "lo", "up"])?;
        Ok(name)
    }

    fn build_topology(&mut self) -> Result<()> {
        let router = self.add_ns(Host::Router)?;
        run_ok(&["ip", "-n", &router, "link", "add", "br0", "type", "bridge"])?;
        run_ok(&["ip", "-n", &router, "link", "set", "br0", "up"])?;
        let r = format!("{}/24", self.addrs.router());
        run_ok(&["ip", "-n", &router, "addr", "add", &r, "dev", "br0"])?;
        run_ok(&[
            "ip",
            "netns",
            "exec",
            &router,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ])?;
        let mut lan_hosts: Vec<(Host, Ipv4Addr, String)> = (1..=self.n_nodes)
            .map(|i| (Host::Node(i), self.addrs.node(i), format!("vn{i}")))
            .collect();
        lan_hosts.push((Host::Client, self.addrs.client(), "vcl".into()));
        for (h, ip, port) in lan_hosts {
            let ns = self.add_ns(h)?;
            // Both ends are created inside namespaces: nothing appears in the root namespace.
            run_ok(&[
                "ip", "-n", &router, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ])?;
            run_ok(&["ip", "-n", &router, "link", "set", &port, "master", "br0"])?;
            run_ok(&["ip", "-n", &router, "link", "set", &port, "up"])?;
            let a = format!("{ip}/24");
            run_ok(&["ip", "-n", &ns, "addr", "add", &a, "dev", "eth0"])?;
            run_ok(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
            let gw = self.addrs.router().to_string();
            run_ok(&["ip", "-n", &ns, "route", "add", "default", "via", &gw])?;
        }
        let out = self.add_ns(Host::Outsider)?;
        run_ok(&[
            "ip", "-n", &router, "link", "add", "vout", "type", "veth", "peer", "name", "eth0",
            "netns", &out,
        ])?;
        let ro = format!("{}/24", self.addrs.router_outside());
        run_ok(&["ip", "-n", &router, "addr", "add", &ro, "dev", "vout"])?;
        run_ok(&["ip", "-n", &router, "link", "set", "vout", "up"])?;
        let o = format!("{}/24", self.addrs.outsider());
        run_ok(&["ip", "-n", &out, "addr", "add", &o, "dev", "eth0"])?;
        run_ok(&["ip", "-n", &out, "link", "set", "eth0", "up"])?;
        let gw = self.addrs.router_outside().to_string();
        run_ok(&["ip", "-n", &out, "route", "add", "default", "via", &gw])?;
        // Wait (bounded) until every veth reports carrier: the bridge has no STP, so its
        // ports forward as soon as they are up.
        for h in (1..=self.n_nodes)
            .map(Host::Node)
            .chain([Host::Client, Host::Outsider])
        {
            let ns = self.ns(h);
            wait_for(Duration::from_secs(10), Duration::from_millis(20), || {
                let out = run_limited(
                    Duration::from_secs(2),
                    &["ip", "-n", &ns, "-o", "link", "show", "eth0"],
                )
                .ok()?;
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                (text.contains("state UP") || text.contains(",LOWER_UP")).then_some(())
            })
            .ok_or_else(|| anyhow!("eth0 in {ns} never came up"))?;
        }
        Ok(())
    }

    /// Spawns a long-running process inside a namespace (stdout/stderr to `log`).
    pub fn spawn_in(&self, h: Host, args: &[&str], log: &str) -> Result<Child> {
        let logf = std::fs::File::create(self.dir.join(log))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(h)])
            .args(args)
            .stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf)
            .spawn()
            .with_context(|| format!("spawning {args:?} in {h:?}"))?;
        Ok(child)
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

    /// The certificate SANs of a node: its own IP, the router's (TLS passes through the
    /// router, so clients check the router's address), and the usual apiserver names.
    fn node_sans(&self, i: usize) -> Vec<String> {
        vec![
            self.addrs.node(i).to_string(),
            self.addrs.router().to_string(),
            "kubernetes".into(),
            "kubernetes.default".into(),
            "localhost".into(),
        ]
    }

    /// Starts (or restarts) node `i`'s stand-in and waits until it listens.
    pub fn start_node(&mut self, i: usize, opts: &NodeOpts) -> Result<()> {
        if let Some(mut old) = self.nodes.remove(&i) {
            let _ = old.kill();
            let _ = old.wait();
        }
        let name = format!("n{i}");
        let cert = self.dir.join(format!("{name}.crt"));
        let key = self.dir.join(format!("{name}.key"));
        if !cert.exists() {
            let issued = self.ca.issue(&name, &self.node_sans(i))?;
            std::fs::write(&cert, issued.cert_pem)?;
            std::fs::write(&key, issued.key_pem)?;
        }
        let ready = self.dir.join(format!("{name}.ready"));
        let _ = std::fs::remove_file(&ready);
        let listen = format!("{}:6443", self.addrs.node(i));
        let delay = format!("{}", opts.shutdown_delay.as_secs_f64());
        let wi = format!("{}", opts.watch_interval.as_millis());
        let mut args: Vec<&str> = self.standin_cmd.iter().map(String::as_str).collect();
        let cert_s = cert.to_string_lossy().into_owned();
        let key_s = key.to_string_lossy().into_owned();
        let ready_s = ready.to_string_lossy().into_owned();
        args.extend_from_slice(&[
            "--listen",
            &listen,
            "--name",
            &name,
            "--cert",
            &cert_s,
            "--key",
            &key_s,
            "--shutdown-delay",
            &delay,
            "--watch-interval-ms",
            &wi,
            "--ready-file",
            &ready_s,
        ]);
        let child = self.spawn_in(Host::Node(i), &args, &format!("{name}.log"))?;
        self.nodes.insert(i, child);
        wait_for(Duration::from_secs(20), Duration::from_millis(20), || {
            std::fs::read_to_string(&ready)
                .ok()
                .filter(|s| s.ends_with('\n'))
        })
        .ok_or_else(|| anyhow!("node {i} did not become ready"))?;
        Ok(())
    }

    pub fn node_pid(&self, i: usize) -> Option<u32> {
        self.nodes.get(&i).map(|c| c.id())
    }

    /// Sends a signal to node `i`'s stand-in.
    pub fn signal_node(&self, i: usize, sig: i32) -> Result<()> {
        let pid = self
            .node_pid(i)
            .ok_or_else(|| anyhow!("node {i} not running"))?;
        // SAFETY: plain kill(2) on a child we own.
        if unsafe { libc::kill(pid as i32, sig) } != 0 {
            bail!("kill({pid}, {sig}): {}", std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits (bounded) for node `i`'s process to exit; returns its exit status.
    pub fn wait_node_exit(
        &mut self,
        i: usize,
        limit: Duration,
    ) -> Result<std::process::ExitStatus> {
        let child = self
            .nodes
            .get_mut(&i)
            .ok_or_else(|| anyhow!("node {i} not running"))?;
        let (st, _) = wait_for(limit, Duration::from_millis(20), || {
            child.try_wait().ok().flatten()
        })
        .ok_or_else(|| anyhow!("node {i} did not exit within {limit:?}"))?;
        self.nodes.remove(&i);
        Ok(st)
    }

    pub fn haproxy_cfg_path(&self) -> PathBuf {
        self.dir.join("haproxy.cfg")
    }
    pub fn admin_socket(&self) -> PathBuf {
        self.dir.join("admin.sock")
    }

    /// Writes `cfg`, checks it with `haproxy -c`, and starts `haproxy -Ws` in the router.
    pub fn start_haproxy(&mut self, cfg: &str) -> Result<()> {
        let path = self.haproxy_cfg_path();
        std::fs::write(&path, cfg)?;
        let p = path.to_string_lossy().into_owned();
        let check = run_limited(Duration::from_secs(30), &["haproxy", "-c", "-f", &p])?;
        if !check.status.success() {
            bail!(
                "haproxy -c rejected the config: {}{}\n{cfg}",
                String::from_utf8_lossy(&check.stdout),
                String::from_utf8_lossy(&check.stderr)
            );
        }
        let child = self.spawn_in(Host::Router, &["haproxy", "-Ws", "-f", &p], "haproxy.log")?;
        self.haproxy = Some(child);
        let sock = self.admin_socket();
        wait_for(Duration::from_secs(20), Duration::from_millis(20), || {
            stats::admin_command(&sock, "show info").ok()
        })
        .ok_or_else(|| {
            anyhow!(
                "haproxy did not open its admin socket; log:\n{}",
                self.log("haproxy.log")
            )
        })?;
        Ok(())
    }

    /// Rewrites the config and reloads the master with SIGUSR2 (what `systemctl reload` does
    /// for `-Ws`). Returns once the admin socket answers with the new worker's process
    /// (bounded).
    pub fn reload_haproxy(&mut self, cfg: &str) -> Result<()> {
        let path = self.haproxy_cfg_path();
        let tmp = self.dir.join("haproxy.cfg.new");
        std::fs::write(&tmp, cfg)?;
        let t = tmp.to_string_lossy().into_owned();
        let check = run_limited(Duration::from_secs(30), &["haproxy", "-c", "-f", &t])?;
        if !check.status.success() {
            bail!(
                "haproxy -c rejected the new config: {}",
                String::from_utf8_lossy(&check.stdout)
            );
        }
        std::fs::rename(&tmp, &path)?;
        let sock = self.admin_socket();
        let old_pid = stats::info_field(&sock, "Pid").unwrap_or_default();
        let master = self
            .haproxy
            .as_ref()
            .ok_or_else(|| anyhow!("haproxy not running"))?
            .id();
        // SAFETY: kill(2) on our child.
        unsafe { libc::kill(master as i32, libc::SIGUSR2) };
        wait_for(Duration::from_secs(20), Duration::from_millis(20), || {
            stats::info_field(&sock, "Pid").filter(|p| *p != old_pid)
        })
        .ok_or_else(|| {
            anyhow!(
                "no new haproxy worker after reload; log:\n{}",
                self.log("haproxy.log")
            )
        })?;
        Ok(())
    }

    pub fn haproxy_master_pid(&self) -> Option<u32> {
        self.haproxy.as_ref().map(|c| c.id())
    }

    /// Loads the generated nft rules into the router, wrapped in an input chain with policy
    /// drop like NixOS's `nixos-fw` / `input-allow`.
    pub fn load_firewall(&self, rules_nft: &str) -> Result<()> {
        let rules = self.dir.join("firewall.nft");
        std::fs::write(&rules, rules_nft)?;
        let table = format!(
            "table inet hk-fw {{\n\
             \tchain input {{\n\
             \t\ttype filter hook input priority 0; policy drop;\n\
             \t\tct state established,related accept\n\
             \t\tiifname \"lo\" accept\n\
             \t\tjump input-allow\n\
             \t}}\n\
             \tchain input-allow {{\n\
             \t\tinclude \"{}\"\n\
             \t}}\n\
             }}\n",
            rules.display()
        );
        let file = self.dir.join("ruleset.nft");
        std::fs::write(&file, table)?;
        self.exec_ok(Host::Router, &["nft", "-f", &file.to_string_lossy()])?;
        Ok(())
    }

    /// Drops every packet entering node `i` (a black hole: no RST, no ICMP).
    pub fn blackhole_node(&self, i: usize) -> Result<()> {
        let file = self.dir.join(format!("blackhole{i}.nft"));
        std::fs::write(
            &file,
            "table inet blackhole {\n\tchain input { type filter hook input priority -10; policy drop; iifname \"lo\" accept; }\n\tchain output { type filter hook output priority -10; policy drop; oifname \"lo\" accept; }\n}\n",
        )?;
        self.exec_ok(Host::Node(i), &["nft", "-f", &file.to_string_lossy()])?;
        Ok(())
    }

    pub fn unblackhole_node(&self, i: usize) -> Result<()> {
        self.exec_ok(
            Host::Node(i),
            &["nft", "delete", "table", "inet", "blackhole"],
        )?;
        Ok(())
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
            self.wait_state(&name, "UP", Duration::from_secs(30))
                .ok_or_else(|| anyhow!("{name} never UP: {:?}", self.server_states()))?;
        }
        Ok(())
    }

    /// Node names and addresses n1..=n.
    pub fn node_list(&self, n: usize) -> Vec<(String, Ipv4Addr)> {
        (1..=n)
            .map(|i| (format!("n{i}"), self.addrs.node(i)))
            .collect()
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

    /// The command that runs the stand-in (for extra listeners in tests).
    pub fn standin_cmd(&self) -> &[String] {
        &self.standin_cmd
    }

    /// A long-running helper process in a namespace, killed on drop.
    pub fn spawn_other(&mut self, h: Host, args: &[&str], log: &str) -> Result<u32> {
        let c = self.spawn_in(h, args, log)?;
        let id = c.id();
        self.others.push(c);
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
        Client::new(&self.ca.cert_pem(), &self.addrs.router().to_string())
            .expect("client TLS config")
    }

    /// Current server state from the admin socket: node name -> status (UP, DOWN, ...).
    pub fn server_states(&self) -> Result<HashMap<String, String>> {
        let rows = stats::show_stat(&self.admin_socket())?;
        Ok(rows
            .into_iter()
            .filter(|r| r.get("type").map(String::as_str) == Some("2"))
            .filter(|r| r.get("svname").is_some_and(|s| s.starts_with('n')))
            .map(|r| (r["svname"].clone(), r["status"].clone()))
            .collect())
    }

    /// Waits until node `name`'s status starts with `want` ("UP"/"DOWN"), bounded.
    pub fn wait_state(&self, name: &str, want: &str, limit: Duration) -> Option<Duration> {
        wait_for(limit, Duration::from_millis(50), || {
            self.server_states()
                .ok()
                .and_then(|m| m.get(name).cloned())
                .filter(|s| s.starts_with(want))
        })
        .map(|(_, d)| d)
    }

    fn kill_all(&mut self) {
        let mut children: Vec<Child> = self.nodes.drain().map(|(_, c)| c).collect();
        children.extend(self.haproxy.take());
        children.append(&mut self.others);
        for c in &mut children {
            let _ = c.kill();
        }
        for c in &mut children {
            let _ = c.wait();
        }
        // Anything else still running in our namespaces (haproxy workers, helpers).
        for ns in &self.namespaces {
            if let Ok(out) = run_limited(Duration::from_secs(5), &["ip", "netns", "pids", ns]) {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    if let Ok(pid) = pid.parse::<i32>() {
                        // SAFETY: kill(2) on a pid inside our own namespace.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
        }
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        self.kill_all();
        for ns in self.namespaces.drain(..).rev() {
            let _ = run_limited(Duration::from_secs(10), &["ip", "netns", "del", &ns]);
        }
        if let Some(mut g) = self.guardian.take() {
            let _ = g.kill();
            let _ = g.wait();
        }
        if !self.keep_dir && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("testbed: logs kept in {}", self.dir.display());
        }
    }
}

/// Deletes namespaces `hk<pid>x*` whose pid is no longer alive (left by a killed run).
pub fn sweep_stale() {
    let Ok(out) = run_limited(Duration::from_secs(5), &["ip", "netns", "list"]) else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("hk") else {
            continue;
        };
        let Some(pid) = rest.split('x').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if let Ok(o) = run_limited(Duration::from_secs(5), &["ip", "netns", "pids", name]) {
            for p in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                if let Ok(p) = p.parse::<i32>() {
                    // SAFETY: kill(2) on a pid inside a stale namespace of ours.
                    unsafe { libc::kill(p, libc::SIGKILL) };
                }
            }
        }
        let _ = run_limited(Duration::from_secs(5), &["ip", "netns", "del", name]);
        eprintln!("testbed: removed stale namespace {name}");
    }
}

/// Runs `f` on a new thread whose network namespace is `ns` (so every socket it opens lives
/// there), on a single-threaded tokio runtime.
pub fn spawn_in_netns<F, Fut, T>(ns: &str, f: F) -> std::thread::JoinHandle<Result<T>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
    T: Send + 'static,
{
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
        use std::os::fd::AsRawFd;
        // SAFETY: setns on this thread only, with a valid namespace fd.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            bail!("setns {path}: {}", std::io::Error::last_os_error());
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(f())
    })
}

/// [`spawn_in_netns`] and wait for it.
pub fn in_netns<F, Fut, T>(ns: &str, f: F) -> Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
    T: Send + 'static,
{
    spawn_in_netns(ns, f)
        .join()
        .map_err(|_| anyhow!("netns thread panicked"))?
}
