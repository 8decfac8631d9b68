//! HAProxy's runtime API (admin socket) and stats CSV.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

/// Sends one command to the admin socket and returns the whole answer.
pub fn admin_command(sock: &Path, cmd: &str) -> Result<String> {
    let mut s = UnixStream::connect(sock).with_context(|| format!("connect {}", sock.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(cmd.as_bytes())?;
    s.write_all(b"\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Parses HAProxy's stats CSV (`show stat`, or `/stats;csv`): one map per row.
pub fn parse_csv(text: &str) -> Vec<HashMap<String, String>> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let cols: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            cols.iter()
                .zip(l.split(','))
                .filter(|(c, _)| !c.is_empty())
                .map(|(c, v)| (c.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// `show stat` as rows.
pub fn show_stat(sock: &Path) -> Result<Vec<HashMap<String, String>>> {
    Ok(parse_csv(&admin_command(sock, "show stat")?))
}

/// One field of `show info` (e.g. "Pid").
pub fn info_field(sock: &Path, field: &str) -> Option<String> {
    let info = admin_command(sock, "show info").ok()?;
    info.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == field).then(|| v.trim().to_string())
    })
}

/// Server rows (type 2) of a CSV: server name -> row.
pub fn servers(rows: &[HashMap<String, String>]) -> HashMap<String, HashMap<String, String>> {
    rows.iter()
        .filter(|r| r.get("type").map(String::as_str) == Some("2"))
        .filter_map(|r| Some((r.get("svname")?.clone(), r.clone())))
        .collect()
}

/// Per-server state from Prometheus text: server -> the state whose
/// `haproxy_server_status{...,state="X"}` sample is 1 (HAProxy 2.4+ form), or "UP"/"DOWN"
/// from a 1/0 sample without a state label.
pub fn prometheus_server_states(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("haproxy_server_status{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once('}') else {
            continue;
        };
        let value = value.trim();
        let label = |name: &str| {
            labels.split(',').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k.trim() == name).then(|| v.trim_matches('"').to_string())
            })
        };
        let Some(server) = label("server") else {
            continue;
        };
        match label("state") {
            Some(state) => {
                if value == "1" {
                    out.insert(server, state);
                }
            }
            None => {
                out.insert(
                    server,
                    if value == "1" {
                        "UP".into()
                    } else {
                        "DOWN".into()
                    },
                );
            }
        }
    }
    out
}
