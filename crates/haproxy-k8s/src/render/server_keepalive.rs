//! Server-side TCP keepalive (issue 12): with `onMarkedDown: none` (the default), nothing
//! closes a watch held by a node that went silent (black-holed, powered off) until the
//! 1 h tunnel timeout; keepalive probes find it instead. Probes start after 5 s without a
//! byte from the node and 3 unanswered ones, 1 s apart, close the connection, so the client
//! re-watches through a healthy node about 8 s after the node's last byte (testbed
//! `testbed-bench cuts-blackhole`: docs/benchmarks.md). A live node answers the probes from
//! its kernel, so idle healthy watches stay open; the cost is one small packet per idle
//! connection every 5 s.

use super::haproxy_cfg::line;

pub(crate) fn render(out: &mut String) {
    line(out, "option srvtcpka");
    line(out, "srvtcpka-idle 5s");
    line(out, "srvtcpka-intvl 1s");
    line(out, "srvtcpka-cnt 3");
}
