//! TLS clients that exercise SNI routing the hard way: a ClientHello that arrives in two TCP
//! segments, and clients that connect and send nothing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rustls::pki_types::ServerName;

use crate::process::{in_netns, wait_for};

/// From namespace `ns`: a TLS connection to `addr` for `host`, verified against `ca_pem`,
/// whose ClientHello is sent in two TCP segments cut in the middle of the SNI; then
/// `GET /version`. Returns the answering stand-in's node name.
///
/// The first segment is sent alone (TCP_NODELAY) and the rest only once the peer has
/// acknowledged it (TCP_INFO: nothing unacknowledged), so the router has certainly received
/// an incomplete hello before the rest exists.
pub fn split_hello_version(ns: &str, addr: SocketAddr, ca_pem: &str, host: &str) -> Result<String> {
    let ca_pem = ca_pem.to_string();
    let host = host.to_string();
    in_netns(ns, move || async move {
        let config = client_config(&ca_pem)?;
        let name = ServerName::try_from(host.clone()).context("server name")?;
        let mut tls = rustls::ClientConnection::new(Arc::new(config), name)?;
        let mut hello = Vec::new();
        while tls.wants_write() {
            tls.write_tls(&mut hello)?;
        }
        let sni_at = hello
            .windows(host.len())
            .position(|w| w == host.as_bytes())
            .ok_or_else(|| anyhow!("the ClientHello does not carry the SNI {host}"))?;
        let cut = sni_at + host.len() / 2;
        let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        tcp.write_all(&hello[..cut])?;
        wait_for(Duration::from_secs(30), Duration::from_millis(5), || {
            (unacknowledged(&tcp) == Some(0)).then_some(())
        })
        .ok_or_else(|| anyhow!("the first segment was never acknowledged"))?;
        tcp.write_all(&hello[cut..])?;
        let mut stream = rustls::Stream::new(&mut tls, &mut tcp);
        write!(
            stream,
            "GET /version HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = Vec::new();
        // The stand-in may close without close_notify after `Connection: close`.
        if let Err(error) = stream.read_to_end(&mut response) {
            if response.is_empty() {
                return Err(error).context("reading the answer");
            }
        }
        let text = String::from_utf8_lossy(&response);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, body)| body)
            .ok_or_else(|| anyhow!("no HTTP answer: {text}"))?;
        let json_start = body.find('{').ok_or_else(|| anyhow!("no JSON: {text}"))?;
        let json_end = body.rfind('}').ok_or_else(|| anyhow!("no JSON: {text}"))?;
        let version: serde_json::Value = serde_json::from_str(&body[json_start..=json_end])?;
        version["node"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| anyhow!("no node in {body}"))
    })
}

/// Opens `count` TCP connections from namespace `ns` to `addr` that send nothing; they stay
/// open while the returned streams live.
pub fn silent_connections(ns: &str, addr: SocketAddr, count: usize) -> Result<Vec<TcpStream>> {
    in_netns(ns, move || async move {
        (0..count)
            .map(|_| Ok(TcpStream::connect_timeout(&addr, Duration::from_secs(10))?))
            .collect()
    })
}

fn client_config(ca_pem: &str) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        roots.add(cert?)?;
    }
    if roots.is_empty() {
        bail!("no CA certificate in the PEM");
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

/// Segments sent and not yet acknowledged (`tcpi_unacked`).
fn unacknowledged(tcp: &TcpStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    // SAFETY: a zeroed tcp_info is valid, and getsockopt writes at most `len` bytes into it.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            tcp.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(info.tcpi_unacked)
}

/// From namespace `ns`: `n` sequential `GET /version`, each on a fresh TLS connection (so each
/// sends a ClientHello HAProxy inspects), through `client` (whose server name is the SNI).
/// Returns each request's latency and the wall time of the whole run (a benchmark figure, not
/// an assertion).
pub fn fresh_connection_run(
    ns: &str,
    client: apiserver_standin::client::Client,
    addr: SocketAddr,
    n: usize,
) -> Result<(Vec<Duration>, Duration)> {
    in_netns(ns, move || async move {
        let mut latencies = Vec::with_capacity(n);
        let start = std::time::Instant::now();
        for _ in 0..n {
            let began = std::time::Instant::now();
            let reply = client
                .get(
                    addr,
                    "/version",
                    apiserver_standin::client::Proto::H1,
                    Duration::from_secs(10),
                )
                .await?;
            if reply.status != 200 {
                bail!("status {}", reply.status);
            }
            latencies.push(began.elapsed());
        }
        Ok((latencies, start.elapsed()))
    })
}
