//! A load-balancer pair on the testbed's LAN: two namespaces (`<prefix>-lb1`, `-lb2`) on the
//! router's bridge, each running the real HAProxy with its own generated config (peers,
//! synced stick tables), the generated nftables rules behind a policy-drop input chain, and
//! the real keepalived with the generated keepalived.conf (unicast VRRP between the two). The
//! router namespace is only the switch here; clients reach the API at the VIP.
//!
//! Dropping an [`Lb`] kills keepalived and HAProxy and deletes its namespace (the testbed's
//! guardian and sweep cover a run that dies without unwinding: the names carry its prefix).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde_json::{json, Value};

use crate::haproxy::Haproxy;
use crate::process::{kill_and_reap, kill_netns_pids, run_limited, run_ok, spawn_in_ns, wait_for};
use crate::topology::Host;
use crate::Testbed;

/// The interface of each LB namespace on the LAN (named in the generated keepalived.conf).
pub const LB_INTERFACE: &str = "eth0";

/// One load balancer of the pair.
pub struct Lb {
    /// `lb1` or `lb2` (the peer name).
    pub name: String,
    pub ns: String,
    pub address: Ipv4Addr,
    pub dir: PathBuf,
    pub haproxy: Haproxy,
    keepalived: Option<Child>,
}

impl Testbed {
    /// Creates LB namespace `index` (1 or 2) on the router's bridge at 10.A.B.(1+index), with
    /// `ip_nonlocal_bind` so its HAProxy can bind the VIP while the other machine holds it.
    pub fn add_lb(&self, index: usize) -> Result<Lb> {
        let name = format!("lb{index}");
        let ns = format!("{}-{name}", self.prefix);
        let address = self.addrs.lb(index);
        let dir = self.dir.join(&name);
        std::fs::create_dir_all(&dir)?;
        run_ok(&["ip", "netns", "add", &ns])?;
        let lb = Lb {
            name,
            ns: ns.clone(),
            address,
            haproxy: Haproxy::new(self.haproxy_version(), &dir),
            dir,
            keepalived: None,
        };
        let router = self.ns(Host::Router);
        let port = format!("vlb{index}");
        let cidr = format!("{address}/24");
        let gateway = self.addrs.router().to_string();
        let steps: [&[&str]; 8] = [
            &["ip", "-n", &ns, "link", "set", "lo", "up"],
            &[
                "ip",
                "-n",
                &router,
                "link",
                "add",
                &port,
                "type",
                "veth",
                "peer",
                "name",
                LB_INTERFACE,
                "netns",
                &ns,
            ],
            &["ip", "-n", &router, "link", "set", &port, "master", "br0"],
            &["ip", "-n", &router, "link", "set", &port, "up"],
            &["ip", "-n", &ns, "addr", "add", &cidr, "dev", LB_INTERFACE],
            &["ip", "-n", &ns, "link", "set", LB_INTERFACE, "up"],
            &["ip", "-n", &ns, "route", "add", "default", "via", &gateway],
            &[
                "ip",
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-qw",
                "net.ipv4.ip_nonlocal_bind=1",
            ],
        ];
        for step in steps {
            run_ok(step)?;
        }
        wait_for(Duration::from_secs(30), Duration::from_millis(20), || {
            let out = run_limited(
                Duration::from_secs(10),
                &["ip", "-n", &ns, "-o", "link", "show", LB_INTERFACE],
            )
            .ok()?;
            String::from_utf8_lossy(&out.stdout)
                .contains("LOWER_UP")
                .then_some(())
        })
        .ok_or_else(|| anyhow!("{LB_INTERFACE} in {ns} never came up"))?;
        Ok(lb)
    }

    /// The generator's input for LB `index` of the pair in front of the first `nodes` nodes:
    /// API on the VIP, stats on the LB's own address, peers between the two LBs, the VIP
    /// with unicast VRRP to the other LB (lb1 preferred).
    pub fn pair_json(
        &self,
        index: usize,
        nodes: usize,
        api_sticky: bool,
        dir: &std::path::Path,
    ) -> Value {
        let other = 3 - index;
        let lan = self.addrs.lan_cidr();
        json!({
            "bindAddress": self.addrs.vip().to_string(),
            "controlPlaneNodes": (1..=nodes).map(|i| json!({"name": format!("n{i}"), "address": self.addrs.node(i).to_string()})).collect::<Vec<_>>(),
            "stats": { "bindAddress": self.addrs.lb(index).to_string(), "allowedSources": [lan, "127.0.0.0/8"] },
            "adminSocket": dir.join("admin.sock").to_string_lossy(),
            "log": { "target": "stdout" },
            "peers": {
                "localName": format!("lb{index}"),
                "apiSticky": api_sticky,
                "members": [
                    { "name": "lb1", "address": self.addrs.lb(1).to_string() },
                    { "name": "lb2", "address": self.addrs.lb(2).to_string() }
                ]
            },
            "vip": {
                "address": self.addrs.vip().to_string(),
                "prefixLength": 24,
                "interface": LB_INTERFACE,
                "virtualRouterId": 51,
                "priority": if index == 1 { 150 } else { 100 },
                "unicastPeers": [self.addrs.lb(other).to_string()]
            }
        })
    }
}

impl Lb {
    /// Writes the generated files, loads the firewall, starts HAProxy and keepalived.
    pub fn start(&mut self, outputs: &haproxy_k8s::Outputs) -> Result<()> {
        self.load_firewall(&outputs.firewall_nft)?;
        self.haproxy
            .start(&self.ns, &outputs.haproxy_cfg)
            .with_context(|| format!("{}: starting haproxy", self.name))?;
        let conf = self.dir.join("keepalived.conf");
        let keepalived = outputs
            .keepalived_conf
            .as_ref()
            .ok_or_else(|| anyhow!("no keepalived.conf generated"))?;
        std::fs::write(&conf, keepalived)?;
        let path = |name: &str| self.dir.join(name).to_string_lossy().into_owned();
        let (conf, pid, vrrp_pid) = (
            path("keepalived.conf"),
            path("keepalived.pid"),
            path("vrrp.pid"),
        );
        // Foreground, log to the console, VRRP only, own pid files (one keepalived per LB).
        let args = [
            "keepalived",
            "-n",
            "-l",
            "-D",
            "-G",
            "-P",
            "-f",
            &conf,
            "-p",
            &pid,
            "-r",
            &vrrp_pid,
        ];
        self.keepalived = Some(spawn_in_ns(
            &self.ns,
            &args,
            &self.dir.join("keepalived.log"),
        )?);
        Ok(())
    }

    /// The generated rules behind a policy-drop input chain, like NixOS's firewall.
    fn load_firewall(&self, rules_nft: &str) -> Result<()> {
        let rules = self.dir.join("firewall.nft");
        std::fs::write(&rules, rules_nft)?;
        let table = format!(
            "table inet hk-fw {{\n\tchain input {{\n\t\ttype filter hook input priority 0; policy drop;\n\
             \t\tct state established,related accept\n\t\tiifname \"lo\" accept\n\t\tjump input-allow\n\t}}\n\
             \tchain input-allow {{\n\t\tinclude \"{}\"\n\t}}\n}}\n",
            rules.display()
        );
        let file = self.dir.join("ruleset.nft");
        std::fs::write(&file, table)?;
        run_ok(&[
            "ip",
            "netns",
            "exec",
            &self.ns,
            "nft",
            "-f",
            &file.to_string_lossy(),
        ])?;
        Ok(())
    }

    /// Whether `ip` is on the LB's LAN interface.
    pub fn holds(&self, ip: Ipv4Addr) -> bool {
        run_limited(
            Duration::from_secs(10),
            &[
                "ip",
                "-n",
                &self.ns,
                "-o",
                "-4",
                "addr",
                "show",
                "dev",
                LB_INTERFACE,
            ],
        )
        .map(|out| String::from_utf8_lossy(&out.stdout).contains(&format!("inet {ip}/")))
        .unwrap_or(false)
    }

    /// SIGKILLs every HAProxy process (master and workers) of this LB.
    pub fn kill_haproxy(&self) -> Result<usize> {
        let out = run_limited(Duration::from_secs(5), &["ip", "netns", "pids", &self.ns])?;
        let mut killed = 0;
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "haproxy" {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: kill(2) on a process inside a namespace of ours.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    killed += 1;
                }
            }
        }
        Ok(killed)
    }

    /// Stick-table entries of `table` on this LB's admin socket: key -> server_id.
    pub fn stick_entries(&self, table: &str) -> Result<Vec<(String, String)>> {
        let text = crate::stats::admin_command(
            &self.haproxy.admin_socket(),
            &format!("show table {table}"),
        )?;
        Ok(text
            .lines()
            .filter_map(|line| {
                let field = |name: &str| {
                    line.split_whitespace()
                        .find_map(|word| word.strip_prefix(name).map(str::to_string))
                };
                Some((field("key=")?, field("server_id=")?))
            })
            .collect())
    }

    pub fn keepalived_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("keepalived.log")).unwrap_or_default()
    }
}

impl Drop for Lb {
    fn drop(&mut self) {
        kill_and_reap(&mut self.keepalived.take().into_iter().collect::<Vec<_>>());
        kill_netns_pids(&self.ns);
        let _ = run_limited(Duration::from_secs(10), &["ip", "netns", "del", &self.ns]);
    }
}
