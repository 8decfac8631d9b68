//! Load generation and watch holding from inside a namespace.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use apiserver_standin::client::{Client, Proto, WatchEvent};

/// One request's outcome, times relative to the load's start.
#[derive(Clone, Debug)]
pub struct Record {
    pub start: Duration,
    pub end: Duration,
    /// Ok(node that answered) or Err(why).
    pub result: std::result::Result<String, String>,
}

/// A steady stream of requests, each on a new TLS connection through the router.
pub struct Load {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Result<Vec<Record>>>,
    /// Finished requests so far (tests wait on these instead of sleeping).
    records: Arc<Mutex<Vec<Record>>>,
    pub started: Instant,
}

/// What a load run saw.
#[derive(Debug)]
pub struct LoadReport {
    pub records: Vec<Record>,
    pub started: Instant,
}

impl LoadReport {
    pub fn total(&self) -> usize {
        self.records.len()
    }
    pub fn failures(&self) -> Vec<&Record> {
        self.records.iter().filter(|r| r.result.is_err()).collect()
    }
    /// Requests per answering node.
    pub fn per_node(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for r in &self.records {
            if let Ok(n) = &r.result {
                *m.entry(n.clone()).or_insert(0) += 1;
            }
        }
        m
    }
    /// From the first failed request's start to the last failed request's end.
    pub fn failure_window(&self) -> Option<Duration> {
        let f = self.failures();
        let first = f.iter().map(|r| r.start).min()?;
        let last = f.iter().map(|r| r.end).max()?;
        Some(last.saturating_sub(first))
    }
    /// Latency percentile (successful requests), e.g. 0.99.
    pub fn latency(&self, q: f64) -> Option<Duration> {
        let mut v: Vec<Duration> = self
            .records
            .iter()
            .filter(|r| r.result.is_ok())
            .map(|r| r.end - r.start)
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort();
        let idx = ((v.len() as f64 - 1.0) * q).round() as usize;
        Some(v[idx.min(v.len() - 1)])
    }
    /// Failures of requests that started after `t` (relative to the load start).
    pub fn failures_started_after(&self, t: Duration) -> Vec<&Record> {
        self.failures()
            .into_iter()
            .filter(|r| r.start >= t)
            .collect()
    }
    pub fn summary(&self) -> String {
        let f = self.failures();
        let mut s = format!(
            "{} requests, {} failed, per node {:?}",
            self.total(),
            f.len(),
            self.per_node()
        );
        if let Some(w) = self.failure_window() {
            s.push_str(&format!(", failure window {:.2}s", w.as_secs_f64()));
        }
        for r in f.iter().take(5) {
            s.push_str(&format!(
                "\n   failed at {:.2}s..{:.2}s: {}",
                r.start.as_secs_f64(),
                r.end.as_secs_f64(),
                r.result.as_ref().unwrap_err()
            ));
        }
        s
    }
}

impl Load {
    /// Starts sending `GET path` every `period` (each request concurrent, with `timeout`).
    pub fn start(
        ns: &str,
        client: Client,
        addr: SocketAddr,
        path: &str,
        proto: Proto,
        period: Duration,
        timeout: Duration,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let stop2 = stop.clone();
        let path = path.to_string();
        let records = Arc::new(Mutex::new(Vec::new()));
        let records2 = records.clone();
        let handle = crate::spawn_in_netns(ns, move || async move {
            let records = records2;
            let mut tasks = Vec::new();
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Bounded: at most one hour of requests.
            let max = (3_600_000 / period.as_millis().max(1)) as usize;
            for _ in 0..max {
                tick.tick().await;
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let client = client.clone();
                let path = path.clone();
                let records = records.clone();
                tasks.push(tokio::spawn(async move {
                    let s = started.elapsed();
                    let res = client.get(addr, &path, proto, timeout).await;
                    let e = started.elapsed();
                    let result = match res {
                        Ok(r) if r.status == 200 => Ok(r.node.unwrap_or_default()),
                        Ok(r) => Err(format!("status {}", r.status)),
                        Err(err) => Err(format!("{err:#}")),
                    };
                    records.lock().unwrap().push(Record {
                        start: s,
                        end: e,
                        result,
                    });
                }));
                tasks.retain(|t| !t.is_finished());
            }
            for t in tasks {
                let _ = t.await;
            }
            let mut v = records.lock().unwrap().clone();
            v.sort_by_key(|r| r.start);
            Ok(v)
        });
        Load {
            stop,
            handle,
            records,
            started,
        }
    }

    /// Successful requests so far that started at or after `since` (load-relative), per
    /// answering node.
    pub fn ok_since(&self, since: Duration) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for r in self.records.lock().unwrap().iter() {
            if let (true, Ok(node)) = (r.start >= since, &r.result) {
                *m.entry(node.clone()).or_insert(0) += 1;
            }
        }
        m
    }

    /// Waits (bounded by `limit`) until `want` holds for [`ok_since`](Self::ok_since)`(since)`:
    /// an event to wait for instead of a fixed sleep. Returns whether it did.
    pub fn wait_ok(
        &self,
        since: Duration,
        limit: Duration,
        want: impl Fn(&BTreeMap<String, usize>) -> bool,
    ) -> bool {
        crate::wait_for(limit, Duration::from_millis(50), || {
            want(&self.ok_since(since)).then_some(())
        })
        .is_some()
    }

    /// Seconds since the load started.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn stop(self) -> Result<LoadReport> {
        self.stop.store(true, Ordering::SeqCst);
        let records = self
            .handle
            .join()
            .map_err(|_| anyhow!("load thread panicked"))??;
        Ok(LoadReport {
            records,
            started: self.started,
        })
    }
}

/// What happened to a held watch.
#[derive(Clone, Debug)]
pub enum WatchLog {
    Opened {
        at: Duration,
        node: String,
    },
    Line {
        at: Duration,
        node: String,
    },
    /// Stream ended: `clean` = orderly end of stream, else the error.
    Closed {
        at: Duration,
        node: String,
        clean: bool,
        why: String,
    },
    OpenFailed {
        at: Duration,
        why: String,
    },
}

/// Holds a watch through the router, re-opening it when it ends (like client-go's reflector).
pub struct WatchHolder {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<WatchLog>>>,
    handle: std::thread::JoinHandle<Result<()>>,
    pub started: Instant,
}

impl WatchHolder {
    /// `pick`: if set, re-opens until the watch lands on that node first (bounded).
    pub fn start(
        ns: &str,
        client: Client,
        addr: SocketAddr,
        proto: Proto,
        pick: Option<String>,
        read_timeout: Duration,
    ) -> WatchHolder {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let (stop2, log2) = (stop.clone(), log.clone());
        let handle = crate::spawn_in_netns(ns, move || async move {
            let path = "/api/v1/namespaces/default/configmaps?watch=1";
            let push = |l: WatchLog| log2.lock().unwrap().push(l);
            let mut first = true;
            for _ in 0..10_000 {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let mut w = match client
                    .watch(addr, path, proto, Duration::from_secs(10))
                    .await
                {
                    Ok(w) => w,
                    Err(e) => {
                        push(WatchLog::OpenFailed {
                            at: started.elapsed(),
                            why: format!("{e:#}"),
                        });
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let node = w.node.clone().unwrap_or_default();
                if first {
                    if let Some(p) = &pick {
                        if &node != p {
                            // Hold it a little so leastconn moves the next one elsewhere.
                            tokio::spawn(async move {
                                tokio::time::sleep(Duration::from_secs(3)).await;
                                drop(w);
                            });
                            continue;
                        }
                    }
                    first = false;
                }
                push(WatchLog::Opened {
                    at: started.elapsed(),
                    node: node.clone(),
                });
                loop {
                    if stop2.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                    let step = Duration::from_millis(250);
                    let mut waited = Duration::ZERO;
                    let ev = loop {
                        match tokio::time::timeout(step, w.next(read_timeout)).await {
                            Ok(ev) => break Some(ev),
                            Err(_) => {
                                waited += step;
                                if stop2.load(Ordering::SeqCst) {
                                    return Ok(());
                                }
                                if waited >= read_timeout {
                                    break None;
                                }
                            }
                        }
                    };
                    match ev {
                        Some(Ok(WatchEvent::Line(_))) => push(WatchLog::Line {
                            at: started.elapsed(),
                            node: node.clone(),
                        }),
                        Some(Ok(WatchEvent::End)) => {
                            push(WatchLog::Closed {
                                at: started.elapsed(),
                                node: node.clone(),
                                clean: true,
                                why: "end of stream".into(),
                            });
                            break;
                        }
                        Some(Err(e)) => {
                            push(WatchLog::Closed {
                                at: started.elapsed(),
                                node: node.clone(),
                                clean: false,
                                why: format!("{e:#}"),
                            });
                            break;
                        }
                        None => {
                            push(WatchLog::Closed {
                                at: started.elapsed(),
                                node: node.clone(),
                                clean: false,
                                why: format!("no event for {read_timeout:?}"),
                            });
                            break;
                        }
                    }
                }
            }
            Ok(())
        });
        WatchHolder {
            stop,
            log,
            handle,
            started,
        }
    }

    pub fn log(&self) -> Vec<WatchLog> {
        self.log.lock().unwrap().clone()
    }

    /// The node the first opened watch landed on.
    pub fn first_node(&self) -> Option<String> {
        self.log().iter().find_map(|l| match l {
            WatchLog::Opened { node, .. } => Some(node.clone()),
            _ => None,
        })
    }

    pub fn stop(self) -> Result<Vec<WatchLog>> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .join()
            .map_err(|_| anyhow!("watch thread panicked"))??;
        Ok(self.log.lock().unwrap().clone())
    }
}
