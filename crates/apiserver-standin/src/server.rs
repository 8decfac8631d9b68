//! The HTTPS server: endpoints, readiness switch, watches, graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

/// Everything the server needs; the CLI fills it from its flags.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub name: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub shutdown_delay: Duration,
    pub watch_interval: Duration,
    pub ready_file: Option<PathBuf>,
}

/// Shared state of one server.
pub struct State {
    name: String,
    ready: AtomicBool,
    shutting_down: AtomicBool,
    requests: AtomicU64,
    /// Flips to true when open watches must end (after the shutdown delay).
    end_watches: watch::Sender<bool>,
    watch_interval: Duration,
}

impl State {
    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && !self.shutting_down.load(Ordering::SeqCst)
    }
}

/// Control handle returned by [`spawn`]: flip readiness, start a graceful shutdown.
#[derive(Clone)]
pub struct Handle {
    state: Arc<State>,
    shutdown: Arc<tokio::sync::Notify>,
    pub local_addr: SocketAddr,
}

impl Handle {
    pub fn set_ready(&self, ready: bool) {
        self.state.ready.store(ready, Ordering::SeqCst);
    }
    /// Starts kube-apiserver-like graceful termination (what SIGTERM does).
    pub fn terminate(&self) {
        self.shutdown.notify_one();
    }
    pub fn requests_served(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }
}

fn tls_config(cert_pem: &str, key_pem: &str) -> Result<rustls::ServerConfig> {
    let certs = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .context("parsing certificate PEM")?;
    if certs.is_empty() {
        return Err(anyhow!("no certificate in PEM"));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .context("parsing key PEM")?
        .ok_or_else(|| anyhow!("no private key in PEM"))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(crate::crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Binds, writes the ready file, and runs the accept loop in the background. The returned
/// future completes when the server has shut down gracefully.
pub async fn spawn(config: Config) -> Result<(Handle, tokio::task::JoinHandle<()>)> {
    let tls = TlsAcceptor::from(Arc::new(tls_config(&config.cert_pem, &config.key_pem)?));
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let local_addr = listener.local_addr()?;
    let (end_tx, _end_rx) = watch::channel(false);
    let state = Arc::new(State {
        name: config.name.clone(),
        ready: AtomicBool::new(true),
        shutting_down: AtomicBool::new(false),
        requests: AtomicU64::new(0),
        end_watches: end_tx,
        watch_interval: config.watch_interval,
    });
    let shutdown = Arc::new(tokio::sync::Notify::new());
    if let Some(path) = &config.ready_file {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, format!("{local_addr}\n"))?;
        std::fs::rename(&tmp, path)?;
    }
    let handle = Handle {
        state: state.clone(),
        shutdown: shutdown.clone(),
        local_addr,
    };
    let delay = config.shutdown_delay;
    let task = tokio::spawn(async move {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
        let shutdown_started = shutdown.notified();
        tokio::pin!(shutdown_started);
        // Phase 1: serve normally until told to terminate.
        // Phase 2: /readyz fails, still serve for `delay`.
        let mut deadline: Option<Pin<Box<tokio::time::Sleep>>> = None;
        loop {
            tokio::select! {
                _ = &mut shutdown_started, if deadline.is_none() => {
                    state.shutting_down.store(true, Ordering::SeqCst);
                    eprintln!("apiserver-standin {}: terminating, /readyz fails, serving for {:?}", state.name, delay);
                    deadline = Some(Box::pin(tokio::time::sleep(delay)));
                }
                _ = async { deadline.as_mut().unwrap().await }, if deadline.is_some() => {
                    break;
                }
                accepted = listener.accept() => {
                    let (tcp, _peer) = match accepted {
                        Ok(x) => x,
                        Err(e) => {
                            eprintln!("accept: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = tcp.set_nodelay(true);
                    let tls = tls.clone();
                    let state = state.clone();
                    let builder = builder.clone();
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        let stream = match tokio::time::timeout(Duration::from_secs(10), tls.accept(tcp)).await {
                            Ok(Ok(s)) => s,
                            _ => return, // health checks that close early, scanners, timeouts
                        };
                        let svc = hyper::service::service_fn(move |req| {
                            let state = state.clone();
                            async move { Ok::<_, Infallible>(route(&state, req)) }
                        });
                        let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                        let _ = watcher.watch(conn).await;
                    });
                }
            }
        }
        // Phase 3: close the listener, end watches, let in-flight requests finish.
        drop(listener);
        let _ = state.end_watches.send(true);
        eprintln!(
            "apiserver-standin {}: listener closed, draining {} connection(s)",
            state.name,
            graceful.count()
        );
        if tokio::time::timeout(Duration::from_secs(60), graceful.shutdown())
            .await
            .is_err()
        {
            eprintln!("apiserver-standin {}: drain timed out", state.name);
        }
        eprintln!("apiserver-standin {}: exiting", state.name);
    });
    Ok((handle, task))
}

type RespBody = BoxBody<Bytes, Infallible>;

fn text(
    state: &State,
    status: StatusCode,
    body: impl Into<Bytes>,
    ctype: &str,
) -> Response<RespBody> {
    Response::builder()
        .status(status)
        .header("content-type", ctype)
        .header("x-standin-node", state.name.as_str())
        .header("cache-control", "no-cache, private")
        .body(Full::new(body.into()).boxed())
        .expect("static response parts are valid")
}

fn route(state: &Arc<State>, req: Request<Incoming>) -> Response<RespBody> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    let plain = "text/plain; charset=utf-8";
    match (req.method(), path) {
        (&Method::GET, "/readyz") => {
            if state.is_ready() {
                text(state, StatusCode::OK, "ok", plain)
            } else if state.shutting_down.load(Ordering::SeqCst) {
                text(
                    state,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "[-]shutdown failed: reason withheld\nreadyz check failed",
                    plain,
                )
            } else {
                text(
                    state,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "[-]standin failed: readiness switched off\nreadyz check failed",
                    plain,
                )
            }
        }
        (&Method::GET, "/livez") | (&Method::GET, "/healthz") => {
            text(state, StatusCode::OK, "ok", plain)
        }
        (&Method::GET, "/version") => {
            let body = serde_json::json!({
                "major": "1",
                "minor": "32",
                "gitVersion": "v1.32.0-standin",
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "go1.23.0",
                "compiler": "gc",
                "platform": "linux/amd64",
                "node": state.name,
            });
            text(state, StatusCode::OK, body.to_string(), "application/json")
        }
        (&Method::POST, "/standin/readyz/fail") => {
            state.ready.store(false, Ordering::SeqCst);
            text(state, StatusCode::OK, "readyz now fails", plain)
        }
        (&Method::POST, "/standin/readyz/ok") => {
            state.ready.store(true, Ordering::SeqCst);
            text(state, StatusCode::OK, "readyz now ok", plain)
        }
        (&Method::GET, p) if p.starts_with("/api/") && is_watch(query) => watch_response(state, p),
        (&Method::GET, p) if p.starts_with("/api/") => {
            let body = serde_json::json!({
                "kind": "List", "apiVersion": "v1", "items": [],
                "metadata": { "resourceVersion": "1" }, "node": state.name,
            });
            text(state, StatusCode::OK, body.to_string(), "application/json")
        }
        _ => text(state, StatusCode::NOT_FOUND, "404 page not found\n", plain),
    }
}

fn is_watch(query: &str) -> bool {
    query
        .split('&')
        .any(|kv| kv == "watch=1" || kv == "watch=true" || kv == "watch")
}

/// A streaming body fed from a channel.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

fn watch_response(state: &Arc<State>, path: &str) -> Response<RespBody> {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let name = state.name.clone();
    let interval = state.watch_interval;
    let mut end = state.end_watches.subscribe();
    let path = path.to_string();
    tokio::spawn(async move {
        let mut n: u64 = 0;
        let mut tick = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = end.wait_for(|v| *v) => break,
            }
            n += 1;
            let ev = serde_json::json!({
                "type": if n == 1 { "ADDED" } else { "MODIFIED" },
                "object": {
                    "kind": "ConfigMap", "apiVersion": "v1",
                    "metadata": { "name": "standin", "namespace": "default", "resourceVersion": n.to_string() },
                    "data": { "node": name, "seq": n.to_string(), "path": path },
                }
            });
            let mut line = ev.to_string();
            line.push('\n');
            if tx.send(Bytes::from(line)).await.is_err() {
                break; // client went away
            }
        }
        // Dropping tx ends the body: the chunked stream (or h2 stream) ends cleanly.
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("x-standin-node", state.name.as_str())
        .header("cache-control", "no-cache, private")
        .body(ChannelBody(rx).boxed())
        .expect("static response parts are valid")
}

/// Runs a server until it has shut down, wiring SIGTERM/SIGINT (graceful termination),
/// SIGUSR1 (fail `/readyz`) and SIGUSR2 (restore `/readyz`).
pub async fn run_with_signals(config: Config) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    let name = config.name.clone();
    let (handle, task) = spawn(config).await?;
    eprintln!(
        "apiserver-standin {name}: listening on https://{}",
        handle.local_addr
    );
    let h = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => h.terminate(),
                _ = int.recv() => h.terminate(),
                _ = usr1.recv() => { eprintln!("SIGUSR1: /readyz fails"); h.set_ready(false) }
                _ = usr2.recv() => { eprintln!("SIGUSR2: /readyz ok"); h.set_ready(true) }
            }
        }
    });
    task.await?;
    Ok(())
}
