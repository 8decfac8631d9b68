//! Traffic inside the container's network namespace, from this process: a thread that
//! `setns`es into it creates its sockets there (a socket stays in the namespace it was
//! created in, whichever thread uses it later).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// Moves the calling thread into the network namespace of process `pid`.
fn enter(pid: u32) -> std::io::Result<()> {
    let ns = File::open(format!("/proc/{pid}/ns/net"))?;
    // SAFETY: setns on a valid namespace fd; it affects only the calling thread.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` on a thread inside the network namespace of `pid`.
pub fn run_in<T: Send + 'static>(pid: u32, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    std::thread::spawn(move || enter(pid).map(|()| f()))
        .join()
        .map_err(|_| anyhow!("thread in the container's namespace panicked"))?
        .context("entering the container's network namespace")
}

pub const RESPONSE_BODY: &str = "ok from the backend\n";

/// An HTTP responder standing in for the apiservers: answers every request with 200 and
/// [`RESPONSE_BODY`], then closes.
pub struct Backend {
    listeners: Vec<TcpListener>,
    threads: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Backend {
    pub fn start(pid: u32, addrs: &[SocketAddr]) -> Result<Self> {
        let addrs = addrs.to_vec();
        let listeners = run_in(pid, move || {
            addrs
                .iter()
                .map(|a| TcpListener::bind(a).with_context(|| format!("binding {a}")))
                .collect::<Result<Vec<_>>>()
        })??;
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for listener in &listeners {
            let listener = listener.try_clone()?;
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        std::thread::spawn(move || serve(conn));
                    }
                }
            }));
        }
        Ok(Backend {
            listeners,
            threads,
            stop,
        })
    }
}

fn serve(mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    // A health check connects and closes: read returns 0 and nothing is written.
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{RESPONSE_BODY}",
        RESPONSE_BODY.len()
    );
    let _ = conn.write_all(response.as_bytes());
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // shutdown() on a listening socket wakes a blocked accept() on Linux.
        for l in &self.listeners {
            // SAFETY: shutdown on a socket fd we own.
            unsafe { libc::shutdown(l.as_raw_fd(), libc::SHUT_RDWR) };
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Clients sending one request per connection through HAProxy, counting every failure.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    ok: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
}

#[derive(Debug)]
pub struct LoadResult {
    pub ok: u64,
    pub failures: Vec<String>,
}

impl Load {
    pub fn start(pid: u32, target: SocketAddr, workers: usize) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for _ in 0..workers {
            let (stop, ok, failures) = (stop.clone(), ok.clone(), failures.clone());
            threads.push(std::thread::spawn(move || {
                if let Err(e) = enter(pid) {
                    failures.lock().unwrap().push(format!("setns: {e}"));
                    return;
                }
                while !stop.load(Ordering::SeqCst) {
                    match request(target) {
                        Ok(()) => {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => failures.lock().unwrap().push(format!("{e:#}")),
                    }
                }
            }));
        }
        Ok(Load {
            stop,
            threads,
            ok,
            failures,
        })
    }

    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::SeqCst)
    }

    /// Waits until `n` more requests have succeeded (at most `deadline`); fails early if a
    /// request failed.
    pub fn wait_for_more(&self, n: u64, deadline: Duration) -> Result<()> {
        let target = self.ok() + n;
        let start = Instant::now();
        while self.ok() < target {
            if let Some(f) = self.failures.lock().unwrap().first() {
                bail!("a request failed: {f}");
            }
            if start.elapsed() > deadline {
                bail!(
                    "only {} of {target} requests succeeded within {deadline:?}",
                    self.ok()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    pub fn finish(mut self) -> LoadResult {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        LoadResult {
            ok: self.ok(),
            failures: std::mem::take(&mut *self.failures.lock().unwrap()),
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One HTTP request on its own connection; anything but the backend's full answer fails.
fn request(target: SocketAddr) -> Result<()> {
    let mut conn =
        TcpStream::connect_timeout(&target, Duration::from_secs(10)).context("connect")?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    conn.write_all(b"GET / HTTP/1.1\r\nHost: unit-test\r\nConnection: close\r\n\r\n")
        .context("write")?;
    let mut response = Vec::new();
    conn.read_to_end(&mut response).context("read")?;
    let response = String::from_utf8_lossy(&response);
    if response.starts_with("HTTP/1.1 200 ") && response.ends_with(RESPONSE_BODY) {
        Ok(())
    } else {
        bail!("unexpected response: {response:?}")
    }
}
