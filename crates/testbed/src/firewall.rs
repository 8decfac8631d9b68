//! nftables inside the testbed's namespaces: the generated rules on the router (behind a
//! policy-drop input chain, like NixOS's firewall) and black holes on nodes.

use anyhow::Result;

use crate::topology::Host;
use crate::Testbed;

impl Testbed {
    /// Loads the generated nft rules into the router, wrapped in an input chain with policy
    /// drop like NixOS's `nixos-fw` / `input-allow` (which also lets IPv6 neighbour discovery
    /// in: without it no IPv6 packet would reach the router at all).
    pub fn load_firewall(&self, rules_nft: &str) -> Result<()> {
        let rules = self.dir.join("firewall.nft");
        std::fs::write(&rules, rules_nft)?;
        let table = format!(
            "table inet hk-fw {{\n\
             \tchain input {{\n\
             \t\ttype filter hook input priority 0; policy drop;\n\
             \t\tct state established,related accept\n\
             \t\tiifname \"lo\" accept\n\
             \t\ticmpv6 type {{ destination-unreachable, packet-too-big, time-exceeded, \
             parameter-problem, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert }} accept\n\
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

    /// Removes the router's firewall (controls: what gets through without it).
    pub fn unload_firewall(&self) -> Result<()> {
        self.exec_ok(Host::Router, &["nft", "delete", "table", "inet", "hk-fw"])?;
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
}
