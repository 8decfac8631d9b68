//! Issue 12, reproducer R1: `on-marked-down shutdown-sessions` cuts a stream that was still
//! *connecting* to a server when that server was marked DOWN, although `option redispatch`
//! would have saved it on another server. Deterministic, no timing luck:
//!
//! - backend `balance first` with A (node 1, black-holed by nft: the connect hangs) and B
//!   (node 2, a one-line echo server); `retries 3`, `option redispatch 1`;
//! - a client connects and sends a line at once (like a TLS ClientHello);
//! - the test waits until the admin socket's `show sess` shows the stream on A (connecting),
//!   then marks A DOWN with `set server be/A health down` (the path a failed check takes);
//! - with `shutdown-sessions` the client never gets its echo: HAProxy 2.6.12 carries the
//!   pending shutdown over the redispatch and closes the client after the retry (log: `D-` on
//!   **B**, `+1`); HAProxy 3.0.11 leaves the stream frozen (backend side closed, no timer, it
//!   never ends nor logs, even after the client leaves). The control without it gets the
//!   echo from B after the connect timeout (log: `--` on B, `+1`).
//!
//! Why the generated config no longer sets `shutdown-sessions` by default (see
//! docs/benchmarks.md, "Issue 12").

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testbed::stats::admin_command;
use testbed::tcplog::TcpLog;
use testbed::{HaproxyVersion, Host, Testbed};

const STANDIN: &str = env!("CARGO_BIN_EXE_testbed-standin");
/// Bound of every wait (an idle machine needs a fraction of it).
const LONG: Duration = Duration::from_secs(60);
const PORT: u16 = 7000;

mod haproxy_2_6 {
    use testbed::HaproxyVersion::V2_6;
    #[test]
    fn connecting_stream_is_cut_at_down_with_shutdown_sessions() {
        super::cut(V2_6)
    }
    #[test]
    fn connecting_stream_is_redispatched_without_it() {
        super::control(V2_6)
    }
}

mod haproxy_3_0 {
    use testbed::HaproxyVersion::V3_0;
    #[test]
    fn connecting_stream_is_cut_at_down_with_shutdown_sessions() {
        super::cut(V3_0)
    }
    #[test]
    fn connecting_stream_is_redispatched_without_it() {
        super::control(V3_0)
    }
}

/// What happened to the client's stream once A was marked DOWN.
#[derive(Debug)]
enum Outcome {
    /// The client read this (EOF after it).
    Read(Vec<u8>),
    /// The stream is still in `show sess`, its server side closed and no timer armed: it can
    /// never end by itself (HAProxy 3.0.11).
    Frozen(String),
}

fn cut(v: HaproxyVersion) {
    let Some(run) = r1(v, true, "R1 with shutdown-sessions") else {
        return;
    };
    match &run.outcome {
        Outcome::Read(data) => {
            assert!(
                data.is_empty(),
                "HAProxy {}: the client got {data:?}, expected a cut; log: {:?}",
                v.label(),
                run.logs
            );
            // The cut is attributed to the server the stream was redispatched to, which was
            // never marked down: the shutdown walk reached it while it was still A's.
            let line = run.line();
            assert!(
                line.cut_by_down() && line.server == "B" && line.redispatched,
                "HAProxy {}: expected `D` on B with a redispatch: {line:?}",
                v.label()
            );
        }
        Outcome::Frozen(sess) => assert!(
            run.logs.is_empty(),
            "HAProxy {}: a frozen stream logged: {:?} ({sess})",
            v.label(),
            run.logs
        ),
    }
}

fn control(v: HaproxyVersion) {
    let Some(run) = r1(v, false, "R1 control without shutdown-sessions") else {
        return;
    };
    assert!(
        matches!(&run.outcome, Outcome::Read(d) if d == b"ping\n"),
        "HAProxy {}: expected the echo from B: {:?}",
        v.label(),
        run.outcome
    );
    let line = run.line();
    assert!(
        line.clean() && line.server == "B" && line.redispatched && line.retries == 1,
        "HAProxy {}: expected `--` on B after one redispatch: {line:?}",
        v.label()
    );
}

struct Run {
    outcome: Outcome,
    logs: Vec<TcpLog>,
}

impl Run {
    fn line(&self) -> &TcpLog {
        match &self.logs[..] {
            [one] => one,
            other => panic!("expected one log line for the stream: {other:?}"),
        }
    }
}

fn r1(v: HaproxyVersion, shutdown_sessions: bool, what: &str) -> Option<Run> {
    let _lock = testbed::serial();
    let name = format!("issue 12 {what} (HAProxy {})", v.label());
    if testbed::skip_unless_ready_with(&name, v, false) {
        return None;
    }
    let mut tb = Testbed::with_haproxy(2, &[STANDIN.to_string()], v).expect("testbed");
    let a = SocketAddr::new(tb.addrs.node(1).into(), PORT);
    let b = SocketAddr::new(tb.addrs.node(2).into(), PORT);
    let fe = SocketAddr::new(tb.addrs.router().into(), PORT);
    tb.blackhole_node(1).expect("black hole A");
    let echo = Echo::start(&tb, b);
    let omd = if shutdown_sessions {
        " on-marked-down shutdown-sessions"
    } else {
        ""
    };
    // `check inter 1h`: A has health checks (so `health down` is the check's DOWN path) but
    // none that could mark it DOWN during the test; `balance first` always picks A first.
    let cfg = format!(
        "global\n    log stdout format raw local0 info\n    stats socket {sock} mode 660 level admin\n\n\
         defaults\n    mode tcp\n    log global\n    option tcplog\n    timeout connect 10s\n    \
         timeout client 60s\n    timeout server 60s\n    retries 3\n    option redispatch 1\n\n\
         frontend fe\n    bind {fe}\n    default_backend be\n\n\
         backend be\n    balance first\n    server A {a} check inter 1h{omd}\n    server B {b}\n",
        sock = tb.admin_socket().display()
    );
    tb.start_haproxy(&cfg).expect("start haproxy");
    let sock = tb.admin_socket();

    let client = Client::connect(&tb, fe);
    // The stream is on A (connecting: A never answers the SYN).
    let on_a = |s: &str| {
        s.lines()
            .find(|l| l.contains(" fe=fe ") && l.contains(" srv=A "))
            .map(str::to_string)
    };
    let (sess, _) = testbed::wait_for(LONG, Duration::from_millis(20), || {
        on_a(&admin_command(&sock, "show sess").ok()?)
    })
    .expect("the stream never showed up on A");
    eprintln!("{name}: before DOWN: {sess}");
    let answer = admin_command(&sock, "set server be/A health down").expect("set server");
    assert!(answer.trim().is_empty(), "set server: {answer}");

    let frozen = |s: &str| {
        on_a(s).filter(|l| {
            // scb state 10 = SC_ST_CLO (3.0) and no expiry date at all.
            l.contains(" scb=[10,") && l.contains(" exp= ")
        })
    };
    let (outcome, _) = testbed::wait_for(LONG, Duration::from_millis(50), || {
        if let Some(data) = client.result() {
            return Some(Outcome::Read(data));
        }
        frozen(&admin_command(&sock, "show sess").ok()?).map(Outcome::Frozen)
    })
    .expect("neither an answer, EOF, nor a frozen stream");
    eprintln!("{name}: {outcome:?}");
    // The client is done either way; closing it ends a stream that B half-closed.
    client.close();
    if matches!(outcome, Outcome::Read(_)) {
        // The log line is written when the stream ends.
        testbed::wait_for(LONG, Duration::from_millis(20), || {
            (!TcpLog::parse_all(&tb.log("haproxy.log")).is_empty()).then_some(())
        })
        .expect("no log line for the stream");
    }
    echo.stop();
    let logs = TcpLog::parse_all(&tb.log("haproxy.log"));
    eprintln!("{name}: log {logs:?}");
    Some(Run { outcome, logs })
}

/// A client in the client namespace: connects, sends `ping\n` at once, reads to EOF on a
/// thread (the result is polled, never waited for blindly).
struct Client {
    stream: TcpStream,
    read: Arc<Mutex<Option<Vec<u8>>>>,
}

impl Client {
    fn connect(tb: &Testbed, to: SocketAddr) -> Client {
        let stream = testbed::in_netns(&tb.ns(Host::Client), move || async move {
            Ok(TcpStream::connect_timeout(&to, Duration::from_secs(10))?)
        })
        .expect("connect to the frontend");
        (&stream).write_all(b"ping\n").expect("send");
        stream.set_read_timeout(Some(LONG)).unwrap();
        let read = Arc::new(Mutex::new(None));
        let (mut r, read2) = (stream.try_clone().unwrap(), read.clone());
        std::thread::spawn(move || {
            let mut data = Vec::new();
            let mut buf = [0u8; 64];
            while let Ok(n @ 1..) = r.read(&mut buf) {
                data.extend_from_slice(&buf[..n]);
                if data.ends_with(b"\n") {
                    break;
                }
            }
            *read2.lock().unwrap() = Some(data);
        });
        Client { stream, read }
    }

    fn result(&self) -> Option<Vec<u8>> {
        self.read.lock().unwrap().clone()
    }

    fn close(self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Echoes one line per connection, in node 2's namespace, until stopped.
struct Echo {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Echo {
    fn start(tb: &Testbed, at: SocketAddr) -> Echo {
        let listener = testbed::in_netns(&tb.ns(Host::Node(2)), move || async move {
            Ok(TcpListener::bind(at)?)
        })
        .expect("echo listener");
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            // Bounded: at most LONG × 2 of 20 ms polls.
            for _ in 0..(LONG.as_millis() * 2 / 20) {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                match listener.accept() {
                    Ok((mut c, _)) => {
                        std::thread::spawn(move || {
                            let _ = c.set_nonblocking(false);
                            let _ = c.set_read_timeout(Some(LONG));
                            let mut buf = [0u8; 64];
                            if let Ok(n @ 1..) = c.read(&mut buf) {
                                let _ = c.write_all(&buf[..n]);
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Echo { stop, thread }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
    }
}
