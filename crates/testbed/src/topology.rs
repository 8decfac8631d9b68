//! Topology: the network namespaces, veth links, bridge, addresses (IPv4 and IPv6) and routes
//! of one testbed. Dropping a [`Topology`] kills whatever still runs in its namespaces and
//! deletes them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use anyhow::{anyhow, Result};

use crate::process::{kill_netns_pids, run_limited, run_ok, wait_for};

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
/// IPv6 mirrors it in unique-local space: LAN fd6b:A:B::/64 (router ::1, node i ::1i, client
/// ::100), outside fd6b:A:B+1::/64 (router ::1, outsider ::2).
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
    /// Load balancer `i` (1 or 2) of a pair: 10.A.B.(1+i).
    pub fn lb(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, self.a, self.b, 1 + i as u8)
    }
    /// The pair's virtual IP: 10.A.B.50.
    pub fn vip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.a, self.b, 50)
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

    fn v6(&self, subnet: u8, host: u16) -> Ipv6Addr {
        Ipv6Addr::new(
            0xfd6b,
            u16::from(self.a),
            u16::from(self.b + subnet),
            0,
            0,
            0,
            0,
            host,
        )
    }
    pub fn router6(&self) -> Ipv6Addr {
        self.v6(0, 1)
    }
    pub fn router_outside6(&self) -> Ipv6Addr {
        self.v6(1, 1)
    }
    pub fn node6(&self, i: usize) -> Ipv6Addr {
        self.v6(0, 0x10 + i as u16)
    }
    pub fn client6(&self) -> Ipv6Addr {
        self.v6(0, 0x100)
    }
    pub fn outsider6(&self) -> Ipv6Addr {
        self.v6(1, 2)
    }
    pub fn lan6_cidr(&self) -> String {
        format!("{}/64", self.v6(0, 0))
    }
}

/// The namespaces of one testbed: a router with a bridge (`br0`) for the LAN hosts and a
/// routed link (`vout`) to the outsider.
pub struct Topology {
    pub prefix: String,
    pub addrs: Addrs,
    pub n_nodes: usize,
    /// Created so far, in creation order (deleted in reverse).
    namespaces: Vec<String>,
}

impl Topology {
    /// Creates the namespaces and links for `n_nodes` node hosts. On error, whatever was
    /// created is removed again (by `Drop`).
    pub fn build(prefix: String, addrs: Addrs, n_nodes: usize) -> Result<Topology> {
        let mut t = Topology {
            prefix,
            addrs,
            n_nodes,
            namespaces: Vec::new(),
        };
        t.build_links()?;
        Ok(t)
    }

    pub fn ns(&self, h: Host) -> String {
        match h {
            Host::Router => format!("{}-router", self.prefix),
            Host::Node(i) => format!("{}-node{}", self.prefix, i),
            Host::Client => format!("{}-client", self.prefix),
            Host::Outsider => format!("{}-outsider", self.prefix),
        }
    }

    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    fn add_ns(&mut self, h: Host) -> Result<String> {
        let name = self.ns(h);
        run_ok(&["ip", "netns", "add", &name])?;
        self.namespaces.push(name.clone());
        run_ok(&["ip", "-n", &name, "link", "set", "lo", "up"])?;
        Ok(name)
    }

    /// Adds `addr/len` to `dev` in `ns`; IPv6 without duplicate address detection, so the
    /// address is usable at once instead of "tentative" for a second or two.
    fn add_addr(ns: &str, addr: IpAddr, len: u8, dev: &str) -> Result<()> {
        let a = format!("{addr}/{len}");
        let mut args = vec!["ip", "-n", ns, "addr", "add", &a, "dev", dev];
        if addr.is_ipv6() {
            args.push("nodad");
        }
        run_ok(&args)?;
        Ok(())
    }

    fn default_routes(ns: &str, gw4: Ipv4Addr, gw6: Ipv6Addr) -> Result<()> {
        let gw4 = gw4.to_string();
        let gw6 = gw6.to_string();
        run_ok(&["ip", "-n", ns, "route", "add", "default", "via", &gw4])?;
        run_ok(&["ip", "-n", ns, "-6", "route", "add", "default", "via", &gw6])?;
        Ok(())
    }

    fn build_links(&mut self) -> Result<()> {
        let a = self.addrs.clone();
        let router = self.add_ns(Host::Router)?;
        run_ok(&["ip", "-n", &router, "link", "add", "br0", "type", "bridge"])?;
        run_ok(&["ip", "-n", &router, "link", "set", "br0", "up"])?;
        Self::add_addr(&router, a.router().into(), 24, "br0")?;
        Self::add_addr(&router, a.router6().into(), 64, "br0")?;
        for sysctl in ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"] {
            run_ok(&["ip", "netns", "exec", &router, "sysctl", "-qw", sysctl])?;
        }
        let mut lan_hosts: Vec<(Host, Ipv4Addr, Ipv6Addr, String)> = (1..=self.n_nodes)
            .map(|i| (Host::Node(i), a.node(i), a.node6(i), format!("vn{i}")))
            .collect();
        lan_hosts.push((Host::Client, a.client(), a.client6(), "vcl".into()));
        for (h, ip, ip6, port) in lan_hosts {
            let ns = self.add_ns(h)?;
            // Both ends are created inside namespaces: nothing appears in the root namespace.
            run_ok(&[
                "ip", "-n", &router, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ])?;
            run_ok(&["ip", "-n", &router, "link", "set", &port, "master", "br0"])?;
            run_ok(&["ip", "-n", &router, "link", "set", &port, "up"])?;
            Self::add_addr(&ns, ip.into(), 24, "eth0")?;
            Self::add_addr(&ns, ip6.into(), 64, "eth0")?;
            run_ok(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
            Self::default_routes(&ns, a.router(), a.router6())?;
        }
        let out = self.add_ns(Host::Outsider)?;
        run_ok(&[
            "ip", "-n", &router, "link", "add", "vout", "type", "veth", "peer", "name", "eth0",
            "netns", &out,
        ])?;
        Self::add_addr(&router, a.router_outside().into(), 24, "vout")?;
        Self::add_addr(&router, a.router_outside6().into(), 64, "vout")?;
        run_ok(&["ip", "-n", &router, "link", "set", "vout", "up"])?;
        Self::add_addr(&out, a.outsider().into(), 24, "eth0")?;
        Self::add_addr(&out, a.outsider6().into(), 64, "eth0")?;
        run_ok(&["ip", "-n", &out, "link", "set", "eth0", "up"])?;
        Self::default_routes(&out, a.router_outside(), a.router_outside6())?;
        // Wait (bounded) until every veth reports carrier: the bridge has no STP, so its
        // ports forward as soon as they are up.
        for h in (1..=self.n_nodes)
            .map(Host::Node)
            .chain([Host::Client, Host::Outsider])
        {
            let ns = self.ns(h);
            wait_for(Duration::from_secs(30), Duration::from_millis(20), || {
                let out = run_limited(
                    Duration::from_secs(10),
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
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Anything still running in our namespaces (haproxy workers, helpers).
        for ns in &self.namespaces {
            kill_netns_pids(ns);
        }
        for ns in self.namespaces.drain(..).rev() {
            let _ = run_limited(Duration::from_secs(10), &["ip", "netns", "del", &ns]);
        }
    }
}
