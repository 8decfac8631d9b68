//! A test-only stand-in for kube-apiserver.
//!
//! It serves HTTPS (ALPN `h2` and `http/1.1`, or protocol sniffing without ALPN as HAProxy's
//! health checks send none) with the endpoints a load balancer in front of a control plane
//! cares about: `/readyz`, `/livez`, `/healthz`, `/version`, and a watch that streams one JSON
//! event line per interval, forever. Its SIGTERM behaviour copies kube-apiserver's graceful
//! shutdown: `/readyz` fails at once, every endpoint is still served for the shutdown delay,
//! then the listener closes, open watches end cleanly, in-flight requests finish and the
//! process exits 0.
//!
//! The crate also has a test CA ([`ca::TestCa`]) and a small HTTPS client ([`client`]) that the
//! network testbed uses as its load generator and watch holder.

pub mod ca;
pub mod cli;
pub mod client;
pub mod server;

/// Installs nothing globally; returns the ring crypto provider used everywhere in this crate,
/// so that no process-wide default provider is needed.
pub fn crypto_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
