//! A small HTTPS client for tests: one TLS connection per request (so every request goes
//! through the load balancer's server selection), HTTP/1.1 or HTTP/2, and watch streams.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::{Method, Request};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// HTTP version to speak (also the only ALPN protocol offered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    H1,
    H2,
}

/// A finished response.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    /// The `x-standin-node` header: which node answered.
    pub node: Option<String>,
    pub body: String,
    /// The ALPN protocol negotiated, if any.
    pub alpn: Option<String>,
}

/// TLS settings shared by many requests.
#[derive(Clone)]
pub struct Client {
    h1: TlsConnector,
    h2: TlsConnector,
    /// Name sent as SNI and checked against the certificate.
    pub server_name: String,
}

impl Client {
    /// `server_name` as a URI authority: an IPv6 address needs brackets.
    fn authority(&self) -> String {
        match self.server_name.parse::<std::net::Ipv6Addr>() {
            Ok(ip) => format!("[{ip}]"),
            Err(_) => self.server_name.clone(),
        }
    }

    /// A client that trusts `ca_pem` and checks the certificate against `server_name`.
    pub fn new(ca_pem: &str, server_name: &str) -> Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
            roots.add(c?)?;
        }
        let make = |alpn: &[u8]| -> Result<TlsConnector> {
            let mut cfg = rustls::ClientConfig::builder_with_provider(crate::crypto_provider())
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            cfg.alpn_protocols = vec![alpn.to_vec()];
            Ok(TlsConnector::from(Arc::new(cfg)))
        };
        Ok(Client {
            h1: make(b"http/1.1")?,
            h2: make(b"h2")?,
            server_name: server_name.to_string(),
        })
    }

    /// A client that accepts any certificate (for self-signed stand-ins).
    pub fn insecure() -> Result<Self> {
        let make = |alpn: &[u8]| -> Result<TlsConnector> {
            let mut cfg = rustls::ClientConfig::builder_with_provider(crate::crypto_provider())
                .with_safe_default_protocol_versions()?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(crate::crypto_provider())))
                .with_no_client_auth();
            cfg.alpn_protocols = vec![alpn.to_vec()];
            Ok(TlsConnector::from(Arc::new(cfg)))
        };
        Ok(Client {
            h1: make(b"http/1.1")?,
            h2: make(b"h2")?,
            server_name: "localhost".into(),
        })
    }

    async fn send(
        &self,
        addr: SocketAddr,
        method: Method,
        path: &str,
        proto: Proto,
    ) -> Result<(
        hyper::Response<Incoming>,
        Option<String>,
        Option<tokio::task::JoinHandle<()>>,
    )> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from(self.server_name.clone())?;
        let connector = match proto {
            Proto::H1 => &self.h1,
            Proto::H2 => &self.h2,
        };
        let tls = connector
            .connect(name, tcp)
            .await
            .context("TLS handshake")?;
        let alpn = tls
            .get_ref()
            .1
            .alpn_protocol()
            .map(|a| String::from_utf8_lossy(a).into_owned());
        let io = TokioIo::new(tls);
        match proto {
            Proto::H1 => {
                let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
                let task = tokio::spawn(async move {
                    let _ = conn.await;
                });
                let req = Request::builder()
                    .method(method)
                    .uri(path)
                    .header("host", self.authority())
                    .header("user-agent", "standin-client")
                    .body(Empty::<Bytes>::new())?;
                let resp = sender.send_request(req).await.context("HTTP/1.1 request")?;
                Ok((resp, alpn, Some(task)))
            }
            Proto::H2 => {
                let (mut sender, conn) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
                let task = tokio::spawn(async move {
                    let _ = conn.await;
                });
                let uri = format!("https://{}{}", self.authority(), path);
                let req = Request::builder()
                    .method(method)
                    .uri(uri)
                    .header("user-agent", "standin-client")
                    .body(Empty::<Bytes>::new())?;
                let resp = sender.send_request(req).await.context("HTTP/2 request")?;
                Ok((resp, alpn, Some(task)))
            }
        }
    }

    /// One request on a fresh connection, with an overall timeout.
    pub async fn request(
        &self,
        addr: SocketAddr,
        method: Method,
        path: &str,
        proto: Proto,
        timeout: Duration,
    ) -> Result<Reply> {
        let fut = async {
            let (resp, alpn, task) = self.send(addr, method, path, proto).await?;
            let status = resp.status().as_u16();
            let node = node_of(&resp);
            let body = resp.into_body().collect().await.context("reading body")?;
            if let Some(t) = task {
                t.abort();
            }
            Ok::<_, anyhow::Error>(Reply {
                status,
                node,
                body: String::from_utf8_lossy(&body.to_bytes()).into_owned(),
                alpn,
            })
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| anyhow!("timed out after {timeout:?}"))?
    }

    /// GET on a fresh connection.
    pub async fn get(
        &self,
        addr: SocketAddr,
        path: &str,
        proto: Proto,
        timeout: Duration,
    ) -> Result<Reply> {
        self.request(addr, Method::GET, path, proto, timeout).await
    }

    /// Opens a watch (any streaming GET) and returns once headers arrived.
    pub async fn watch(
        &self,
        addr: SocketAddr,
        path: &str,
        proto: Proto,
        timeout: Duration,
    ) -> Result<Watch> {
        let (resp, _alpn, task) =
            tokio::time::timeout(timeout, self.send(addr, Method::GET, path, proto))
                .await
                .map_err(|_| anyhow!("watch open timed out"))??;
        if resp.status() != 200 {
            bail!("watch answered {}", resp.status());
        }
        let node = node_of(&resp);
        Ok(Watch {
            node,
            body: resp.into_body(),
            buf: Vec::new(),
            _conn: task.map(AbortOnDrop),
        })
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn node_of(resp: &hyper::Response<Incoming>) -> Option<String> {
    resp.headers()
        .get("x-standin-node")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// How a watch read ended.
#[derive(Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// One event line.
    Line(String),
    /// The server ended the stream cleanly (last chunk / END_STREAM).
    End,
}

/// An open watch stream.
pub struct Watch {
    /// Node that serves the watch.
    pub node: Option<String>,
    body: Incoming,
    buf: Vec<u8>,
    _conn: Option<AbortOnDrop>,
}

impl Watch {
    /// Next line, a clean end, or an error (reset, abort, timeout).
    pub async fn next(&mut self, timeout: Duration) -> Result<WatchEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return Ok(WatchEvent::Line(
                    String::from_utf8_lossy(&line[..line.len() - 1]).into_owned(),
                ));
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .map_err(|_| anyhow!("no watch event within {timeout:?}"))?;
            match frame {
                None => return Ok(WatchEvent::End),
                Some(Err(e)) => return Err(anyhow!("watch stream error: {e}")),
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        self.buf.extend_from_slice(&d);
                    }
                }
            }
        }
    }
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
