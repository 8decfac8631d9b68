//! The control-plane nodes: apiserver stand-ins started, signalled and restarted inside the
//! node namespaces, with certificates from the testbed's CA.

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{anyhow, Result};

use crate::process::{signal, wait_exit, wait_for};
use crate::topology::Host;
use crate::Testbed;

/// Settings for one stand-in node.
#[derive(Clone, Debug)]
pub struct NodeOpts {
    pub shutdown_delay: Duration,
    pub watch_interval: Duration,
    /// Listen on `[::]:6443` (IPv4 and IPv6) instead of the node's IPv4 address only.
    pub dual_stack: bool,
}

impl Default for NodeOpts {
    fn default() -> Self {
        NodeOpts {
            shutdown_delay: Duration::from_secs(5),
            watch_interval: Duration::from_millis(1000),
            dual_stack: false,
        }
    }
}

impl Testbed {
    /// The certificate SANs of a node: its own IPs, the router's and the LB pair's VIP (TLS
    /// passes through, so clients check the address they dialled), and the usual apiserver
    /// names.
    fn node_sans(&self, i: usize) -> Vec<String> {
        vec![
            self.addrs.node(i).to_string(),
            self.addrs.node6(i).to_string(),
            self.addrs.router().to_string(),
            self.addrs.router6().to_string(),
            self.addrs.vip().to_string(),
            "kubernetes".into(),
            "kubernetes.default".into(),
            "localhost".into(),
        ]
    }

    /// Starts (or restarts) node `i`'s stand-in and waits until it listens.
    pub fn start_node(&mut self, i: usize, opts: &NodeOpts) -> Result<()> {
        if let Some(mut old) = self.children.nodes.remove(&i) {
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
        let listen = if opts.dual_stack {
            "[::]:6443".to_string()
        } else {
            format!("{}:6443", self.addrs.node(i))
        };
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
        self.children.nodes.insert(i, child);
        wait_for(Duration::from_secs(30), Duration::from_millis(20), || {
            std::fs::read_to_string(&ready)
                .ok()
                .filter(|s| s.ends_with('\n'))
        })
        .ok_or_else(|| anyhow!("node {i} did not become ready"))?;
        Ok(())
    }

    pub fn node_pid(&self, i: usize) -> Option<u32> {
        self.children.nodes.get(&i).map(|c| c.id())
    }

    /// Sends a signal to node `i`'s stand-in.
    pub fn signal_node(&self, i: usize, sig: i32) -> Result<()> {
        let pid = self
            .node_pid(i)
            .ok_or_else(|| anyhow!("node {i} not running"))?;
        signal(pid, sig)
    }

    /// Waits (bounded) for node `i`'s process to exit; returns its exit status.
    pub fn wait_node_exit(
        &mut self,
        i: usize,
        limit: Duration,
    ) -> Result<std::process::ExitStatus> {
        let child = self
            .children
            .nodes
            .get_mut(&i)
            .ok_or_else(|| anyhow!("node {i} not running"))?;
        let st = wait_exit(child, limit)
            .ok_or_else(|| anyhow!("node {i} did not exit within {limit:?}"))?;
        self.children.nodes.remove(&i);
        Ok(st)
    }

    /// Node names and addresses n1..=n.
    pub fn node_list(&self, n: usize) -> Vec<(String, Ipv4Addr)> {
        (1..=n)
            .map(|i| (format!("n{i}"), self.addrs.node(i)))
            .collect()
    }

    /// The command that runs the stand-in (for extra listeners in tests).
    pub fn standin_cmd(&self) -> &[String] {
        &self.standin_cmd
    }
}
