//! The `apiserver-standin` command line (shared by every binary that wraps the stand-in).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

/// A kube-apiserver stand-in for load-balancer tests.
#[derive(Parser, Debug)]
#[command(name = "apiserver-standin", version)]
struct Args {
    /// Address to listen on, ADDR:PORT.
    #[arg(long)]
    listen: SocketAddr,
    /// Node name, returned in `x-standin-node` and `/version`.
    #[arg(long)]
    name: String,
    /// Server certificate (PEM); without it a self-signed one is generated at start.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Private key (PEM) for --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Subject alternative names for the generated certificate (repeatable).
    #[arg(long)]
    san: Vec<String>,
    /// Seconds to keep serving after SIGTERM, with /readyz failing
    /// (kube-apiserver --shutdown-delay-duration).
    #[arg(long, default_value_t = 5.0)]
    shutdown_delay: f64,
    /// Milliseconds between watch events.
    #[arg(long, default_value_t = 1000)]
    watch_interval_ms: u64,
    /// File written (atomically) once the server listens.
    #[arg(long)]
    ready_file: Option<PathBuf>,
}

/// Parses the command line and runs the stand-in until it has shut down.
pub fn main() -> Result<()> {
    main_from(std::env::args_os())
}

/// Like [`main`] with explicit arguments (the first is the program name).
pub fn main_from<I, T>(argv: I) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args = Args::parse_from(argv);
    let (cert_pem, key_pem) = match (&args.cert, &args.key) {
        (Some(c), Some(k)) => (
            std::fs::read_to_string(c).with_context(|| format!("reading {}", c.display()))?,
            std::fs::read_to_string(k).with_context(|| format!("reading {}", k.display()))?,
        ),
        _ => {
            let mut sans = args.san.clone();
            if sans.is_empty() {
                sans = vec!["localhost".into(), "127.0.0.1".into()];
                let ip = args.listen.ip();
                if !ip.is_unspecified() && !ip.is_loopback() {
                    sans.push(ip.to_string());
                }
            }
            let issued = crate::ca::self_signed(&args.name, &sans)?;
            (issued.cert_pem, issued.key_pem)
        }
    };
    let config = crate::server::Config {
        listen: args.listen,
        name: args.name,
        cert_pem,
        key_pem,
        shutdown_delay: Duration::from_secs_f64(args.shutdown_delay.max(0.0)),
        watch_interval: Duration::from_millis(args.watch_interval_ms.max(1)),
        ready_file: args.ready_file,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(crate::server::run_with_signals(config))
}
