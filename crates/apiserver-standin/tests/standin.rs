//! Real HTTPS requests against the stand-in on 127.0.0.1.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apiserver_standin::ca::TestCa;
use apiserver_standin::client::{Client, Proto, WatchEvent};
use hyper::Method;

/// Per-request timeout: generous, so a loaded machine (`stress-ng --cpu 2` beside the suite)
/// only makes a request slower, never a failure.
const T: Duration = Duration::from_secs(20);

/// Bound of every wait for an event (a ready file, a status change, an exit).
const LONG: Duration = Duration::from_secs(60);

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_file(path: &Path, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if s.ends_with('\n') {
                return s;
            }
        }
        assert!(start.elapsed() < limit, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts the binary on an ephemeral port with a CA-issued certificate.
fn start(dir: &Path, name: &str, extra: &[&str]) -> (Proc, SocketAddr, Client) {
    let ca = TestCa::new("standin-test-ca").unwrap();
    let issued = ca
        .issue(name, &["localhost".into(), "127.0.0.1".into()])
        .unwrap();
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, &issued.cert_pem).unwrap();
    std::fs::write(&key, &issued.key_pem).unwrap();
    let ready = dir.join(format!("{name}.ready"));
    let child = Command::new(env!("CARGO_BIN_EXE_apiserver-standin"))
        .args(["--listen", "127.0.0.1:0", "--name", name])
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg("--ready-file")
        .arg(&ready)
        .args(extra)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let proc = Proc(child);
    let addr: SocketAddr = wait_for_file(&ready, LONG).trim().parse().unwrap();
    let client = Client::new(&ca.cert_pem(), "localhost").unwrap();
    (proc, addr, client)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn endpoints_over_h1_and_h2() {
    let dir = tempfile::tempdir().unwrap();
    let (_p, addr, client) = start(dir.path(), "node-a", &[]);
    rt().block_on(async {
        for proto in [Proto::H1, Proto::H2] {
            for path in ["/readyz", "/livez", "/healthz"] {
                let r = client.get(addr, path, proto, T).await.unwrap();
                assert_eq!(r.status, 200, "{path} {proto:?}");
                assert_eq!(r.body, "ok");
                assert_eq!(r.node.as_deref(), Some("node-a"));
            }
            let r = client.get(addr, "/version", proto, T).await.unwrap();
            assert_eq!(r.status, 200);
            let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(v["node"], "node-a");
            assert_eq!(v["major"], "1");
            let want = if proto == Proto::H2 { "h2" } else { "http/1.1" };
            assert_eq!(r.alpn.as_deref(), Some(want));
            let r = client.get(addr, "/nope", proto, T).await.unwrap();
            assert_eq!(r.status, 404);
        }
    });
}

#[test]
fn self_signed_default_cert_works() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("r");
    let child = Command::new(env!("CARGO_BIN_EXE_apiserver-standin"))
        .args(["--listen", "127.0.0.1:0", "--name", "selfie"])
        .arg("--ready-file")
        .arg(&ready)
        .spawn()
        .unwrap();
    let _p = Proc(child);
    let addr: SocketAddr = wait_for_file(&ready, LONG).trim().parse().unwrap();
    let client = Client::insecure().unwrap();
    rt().block_on(async {
        let r = client.get(addr, "/healthz", Proto::H2, T).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.node.as_deref(), Some("selfie"));
    });
}

#[test]
fn readyz_toggles_by_http_and_signals() {
    let dir = tempfile::tempdir().unwrap();
    let (p, addr, client) = start(dir.path(), "node-b", &[]);
    let pid = p.0.id() as i32;
    rt().block_on(async {
        let st = |path: &'static str| {
            let client = client.clone();
            async move { client.get(addr, path, Proto::H1, T).await.unwrap().status }
        };
        assert_eq!(st("/readyz").await, 200);
        let r = client
            .request(addr, Method::POST, "/standin/readyz/fail", Proto::H2, T)
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(st("/readyz").await, 500);
        assert_eq!(st("/healthz").await, 200, "healthz stays ok");
        assert_eq!(st("/version").await, 200);
        client
            .request(addr, Method::POST, "/standin/readyz/ok", Proto::H1, T)
            .await
            .unwrap();
        assert_eq!(st("/readyz").await, 200);

        // Signals: USR1 fails, USR2 restores.
        unsafe_kill(pid, "USR1");
        assert!(
            poll_status(&client, addr, 500).await,
            "SIGUSR1 did not fail /readyz"
        );
        unsafe_kill(pid, "USR2");
        assert!(
            poll_status(&client, addr, 200).await,
            "SIGUSR2 did not restore /readyz"
        );
    });
}

fn unsafe_kill(pid: i32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// Polls `/readyz` until it answers `want`, bounded by [`LONG`] (not by a count of polls,
/// which would assume how fast a loaded machine answers).
async fn poll_status(client: &Client, addr: SocketAddr, want: u16) -> bool {
    let start = Instant::now();
    while start.elapsed() < LONG {
        if client
            .get(addr, "/readyz", Proto::H1, T)
            .await
            .unwrap()
            .status
            == want
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[test]
fn watch_streams_events_over_h1_and_h2() {
    let dir = tempfile::tempdir().unwrap();
    let (_p, addr, client) = start(dir.path(), "node-w", &["--watch-interval-ms", "50"]);
    rt().block_on(async {
        for proto in [Proto::H1, Proto::H2] {
            let mut w = client
                .watch(
                    addr,
                    "/api/v1/namespaces/default/configmaps?watch=1",
                    proto,
                    T,
                )
                .await
                .unwrap();
            assert_eq!(w.node.as_deref(), Some("node-w"));
            for i in 1..=5 {
                match w.next(T).await.unwrap() {
                    WatchEvent::Line(l) => {
                        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
                        assert_eq!(v["object"]["data"]["seq"], i.to_string());
                        assert_eq!(v["object"]["data"]["node"], "node-w");
                    }
                    WatchEvent::End => panic!("watch ended early"),
                }
            }
        }
    });
}

#[test]
fn graceful_sigterm_like_kube_apiserver() {
    let dir = tempfile::tempdir().unwrap();
    let (mut p, addr, client) = start(
        dir.path(),
        "node-t",
        &["--shutdown-delay", "2", "--watch-interval-ms", "100"],
    );
    let pid = p.0.id() as i32;
    let rt = rt();
    rt.block_on(async {
        let mut w = client
            .watch(
                addr,
                "/api/v1/namespaces/default/pods?watch=true",
                Proto::H1,
                T,
            )
            .await
            .unwrap();
        let mut w2 = client
            .watch(
                addr,
                "/api/v1/namespaces/default/pods?watch=true",
                Proto::H2,
                T,
            )
            .await
            .unwrap();
        assert!(matches!(w.next(T).await.unwrap(), WatchEvent::Line(_)));
        let t0 = Instant::now();
        unsafe_kill(pid, "TERM");
        // "At once" as an order of events: /readyz fails while the server still answers
        // everything else and the watches still stream (all inside the shutdown delay).
        assert!(
            poll_status(&client, addr, 500).await,
            "/readyz never failed after SIGTERM"
        );
        let r = client.get(addr, "/version", Proto::H2, T).await.unwrap();
        assert_eq!(r.status, 200);
        let r = client.get(addr, "/healthz", Proto::H1, T).await.unwrap();
        assert_eq!(r.status, 200);
        // Watches are still served after /readyz failed: a new one streams an event.
        let mut w3 = client
            .watch(
                addr,
                "/api/v1/namespaces/default/pods?watch=true",
                Proto::H2,
                T,
            )
            .await
            .unwrap();
        assert!(matches!(w3.next(T).await.unwrap(), WatchEvent::Line(_)));
        // All watches end cleanly (bounded by a count far above delay / interval).
        for (i, w) in [&mut w, &mut w2, &mut w3].into_iter().enumerate() {
            let mut lines = 0;
            loop {
                match w.next(T).await.unwrap() {
                    WatchEvent::Line(_) => lines += 1,
                    WatchEvent::End => break,
                }
                assert!(lines < 2000, "watch {i} never ended");
            }
        }
        // A lower bound only (a loaded machine can only make it longer): the watches ended
        // no earlier than the shutdown delay.
        assert!(
            t0.elapsed() >= Duration::from_millis(1900),
            "watches ended before the shutdown delay: {:?}",
            t0.elapsed()
        );
    });
    // Wait inside the runtime: its tasks drive the client's connections, and an HTTP/2
    // graceful shutdown needs the client to answer (GOAWAY + PING), as any live client does.
    let start = Instant::now();
    let status = rt.block_on(async {
        loop {
            if let Some(s) = p.0.try_wait().unwrap() {
                break s;
            }
            assert!(start.elapsed() < LONG, "did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    assert!(status.success(), "exit status {status:?}");
    // And the listener is gone.
    assert!(std::net::TcpStream::connect(addr).is_err());
}
