//! HAProxy's `option tcplog` lines (issue 12): which server a stream ended on, how it ended
//! (`%ts`), whether it ever connected (`%Tc`) and whether it was redispatched (`%rc`), so a
//! test can tell a stream cut by `on-marked-down shutdown-sessions` (`D…`) from one that was
//! on a SIGKILLed process (`S…` after it connected there).
//!
//! Format (`log … format raw`, so no syslog header):
//! `CLIENT:PORT [ACCEPT_DATE] FRONTEND BACKEND/SERVER Tw/Tc/Tt BYTES TS ac/fc/bc/sc/rc sq/bq`.

/// One stream's log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpLog {
    pub client: String,
    pub frontend: String,
    pub backend: String,
    /// `<NOSRV>` when no server was ever assigned.
    pub server: String,
    /// Time to connect to the (last) server, ms; None when it never connected (`-1`).
    pub connect_ms: Option<u64>,
    /// Two-character termination state (`--` for a clean end).
    pub termination: String,
    /// Connection retries (`%rc` without the `+` that marks a redispatch).
    pub retries: u32,
    /// `%rc` had a `+`: the stream was redispatched to another server.
    pub redispatched: bool,
}

impl TcpLog {
    /// Parses one tcplog line; None for anything else (warnings, server state changes).
    pub fn parse(line: &str) -> Option<TcpLog> {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [client, date, frontend, be_srv, timers, _bytes, ts, conns, _queues] = f[..] else {
            return None;
        };
        if !date.starts_with('[') || ts.len() != 2 {
            return None;
        }
        let (backend, server) = be_srv.split_once('/')?;
        let tc: i64 = timers.split('/').nth(1)?.parse().ok()?;
        let rc = conns.split('/').nth(4)?;
        let (redispatched, rc) = match rc.strip_prefix('+') {
            Some(n) => (true, n),
            None => (false, rc),
        };
        Some(TcpLog {
            client: client.to_string(),
            frontend: frontend.to_string(),
            backend: backend.to_string(),
            server: server.to_string(),
            connect_ms: u64::try_from(tc).ok(),
            termination: ts.to_string(),
            retries: rc.parse().ok()?,
            redispatched,
        })
    }

    /// Every tcplog line in `text` (a HAProxy log with other lines mixed in).
    pub fn parse_all(text: &str) -> Vec<TcpLog> {
        text.lines().filter_map(TcpLog::parse).collect()
    }

    /// The stream ended normally.
    pub fn clean(&self) -> bool {
        self.termination == "--"
    }

    /// Ended with an error on the proxy or server side: neither clean nor closed by the
    /// client (`C…`: a client that closes its connection after its answer is logged `CD`).
    pub fn failed(&self) -> bool {
        !self.clean() && !self.termination.starts_with('C')
    }

    /// Shut because its server was marked DOWN (`on-marked-down shutdown-sessions`) or
    /// entered maintenance: `D` is the only termination cause that is not a timeout, an
    /// abort by either side or a resource limit.
    pub fn cut_by_down(&self) -> bool {
        self.termination.starts_with('D')
    }

    /// The stream was connected to `server` and never moved: it was on that server's
    /// process (so a SIGKILL of that process may take it down with it).
    pub fn was_on(&self, server: &str) -> bool {
        self.server == server && self.connect_ms.is_some() && !self.redispatched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_redispatched_stream_cut_at_down() {
        // HAProxy 2.6.12, reproducer R1 (tests/redispatch_cut.rs).
        let l = TcpLog::parse(
            "127.0.0.1:52246 [25/Nov/2026:14:41:19.070] fe be/B 5002/0/5001 0 D- 1/1/0/0/+1 0/0",
        )
        .unwrap();
        assert_eq!(l.server, "B");
        assert_eq!(l.connect_ms, Some(0));
        assert!(l.cut_by_down() && l.redispatched && l.retries == 1);
        assert!(!l.was_on("A") && !l.clean() && l.failed());
    }

    #[test]
    fn never_connected_and_other_lines() {
        let l = TcpLog::parse("10.1.2.100:40000 [25/Nov/2026:14:41:19.070] k8s-api.default k8s-nodes.default/n2 0/-1/3 0 SC 3/3/2/0/3 0/0").unwrap();
        assert_eq!(l.connect_ms, None);
        assert!(l.failed());
        assert!(!l.was_on("n2") && !l.redispatched && l.retries == 3);
        assert!(TcpLog::parse(
            "[WARNING]  (1) : Server be/A is DOWN, changed from CLI. 1 active and 0 backup"
        )
        .is_none());
        assert!(TcpLog::parse("Server k8s-nodes.default/n2 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms. 2 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.").is_none());
    }
}
