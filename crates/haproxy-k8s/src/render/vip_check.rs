//! The HAProxy side of the VIP: an HTTP answer on loopback that keepalived's track script
//! reads. 200 while this HAProxy runs and every API backend has a server UP; 503 (or no
//! answer at all) otherwise, and keepalived then puts this machine's instance in FAULT.

use super::haproxy_cfg::{backend_name, line, section};
use crate::plan::{Plan, HEALTH_URI};

const FRONTEND: &str = "k8s-vip-check";

pub(super) fn frontend(out: &mut String, plan: &Plan) {
    let Some(vip) = &plan.vip else {
        return;
    };
    section(out, format!("frontend {FRONTEND}"));
    line(out, "mode http");
    line(out, format!("bind {}", vip.check_listener));
    // keepalived asks every second: that is no news for the log.
    line(out, "no log");
    line(out, format!("monitor-uri {HEALTH_URI}"));
    let no_server_up: Vec<String> = plan
        .clusters
        .iter()
        .map(|cluster| format!("{{ nbsrv({}) lt 1 }}", backend_name(&cluster.name)))
        .collect();
    line(
        out,
        format!("monitor fail if {}", no_server_up.join(" || ")),
    );
}
