//! A tiny authoritative DNS responder for tests: UDP, answers `A` queries for the names in a
//! mutable map (TTL 1 s), an empty NOERROR answer for other types of a known name, NXDOMAIN
//! for unknown names. The wire format is `simple-dns`'s. It runs on a thread of the test
//! process that has entered a network namespace (so its socket lives there), and stops when
//! the [`DnsServer`] is dropped, also while a test panics.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use simple_dns::rdata::{RData, A};
use simple_dns::{Packet, PacketFlag, ResourceRecord, CLASS, QTYPE, RCODE, TYPE};

type Records = Arc<Mutex<HashMap<String, Ipv4Addr>>>;

/// A running responder. Dropping it stops the thread and closes the socket.
pub struct DnsServer {
    addr: SocketAddr,
    records: Records,
    queries: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl DnsServer {
    /// Binds `127.0.0.1:<free port>` inside network namespace `ns` (`/run/netns/<ns>`).
    pub fn start_in_netns(ns: &str) -> Result<DnsServer> {
        let path = format!("/run/netns/{ns}");
        let records: Records = Arc::default();
        let queries = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<Result<SocketAddr>>();
        let (r, q, s) = (records.clone(), queries.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let bound = (|| -> Result<UdpSocket> {
                let file = std::fs::File::open(&path).with_context(|| format!("open {path}"))?;
                use std::os::fd::AsRawFd;
                // SAFETY: setns on this thread only, with a valid namespace fd.
                if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    bail!("setns {path}: {}", std::io::Error::last_os_error());
                }
                let sock = UdpSocket::bind("127.0.0.1:0")?;
                sock.set_read_timeout(Some(Duration::from_millis(100)))?;
                Ok(sock)
            })();
            let sock = match bound.and_then(|s| Ok((s.local_addr()?, s))) {
                Ok((addr, sock)) => {
                    let _ = tx.send(Ok(addr));
                    sock
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::SeqCst) {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    continue; // read timeout: look at the stop flag again
                };
                q.fetch_add(1, Ordering::SeqCst);
                if let Some(reply) = answer(&buf[..n], &r) {
                    let _ = sock.send_to(&reply, peer);
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| anyhow!("DNS responder thread did not start"))??;
        Ok(DnsServer {
            addr,
            records,
            queries,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on (inside its namespace).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Points `name` at `ip` (replacing any earlier address).
    pub fn set(&self, name: &str, ip: Ipv4Addr) {
        self.records.lock().unwrap().insert(key(name), ip);
    }

    /// Removes `name` (it then gets NXDOMAIN).
    pub fn remove(&self, name: &str) {
        self.records.lock().unwrap().remove(&key(name));
    }

    /// Number of queries received so far.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The reply to one query, or None for something that is not a parsable query.
fn answer(query: &[u8], records: &Records) -> Option<Vec<u8>> {
    let q = Packet::parse(query).ok()?;
    if q.has_flags(PacketFlag::RESPONSE) {
        return None;
    }
    let mut reply = Packet::new_reply(q.id());
    reply.set_flags(PacketFlag::AUTHORITATIVE_ANSWER);
    if q.has_flags(PacketFlag::RECURSION_DESIRED) {
        reply.set_flags(PacketFlag::RECURSION_DESIRED);
    }
    let Some(question) = q.questions.first() else {
        *reply.rcode_mut() = RCODE::FormatError;
        return reply.build_bytes_vec().ok();
    };
    let found = records
        .lock()
        .unwrap()
        .get(&key(&question.qname.to_string()))
        .copied();
    match found {
        None => *reply.rcode_mut() = RCODE::NameError,
        Some(ip) => {
            if question.qtype == QTYPE::TYPE(TYPE::A) {
                reply.answers.push(ResourceRecord::new(
                    question.qname.clone(),
                    CLASS::IN,
                    1,
                    RData::A(A::from(ip)),
                ));
            }
        }
    }
    reply.questions.push(question.clone());
    reply.build_bytes_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::{Name, Question, QCLASS};

    fn query(name: &str, qtype: TYPE) -> Vec<u8> {
        let mut p = Packet::new_query(0x1234);
        p.set_flags(PacketFlag::RECURSION_DESIRED);
        p.questions.push(Question::new(
            Name::new_unchecked(name),
            QTYPE::TYPE(qtype),
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
        p.build_bytes_vec().unwrap()
    }

    #[test]
    fn answers_a_nxdomain_and_empty() {
        let records: Records = Arc::default();
        records
            .lock()
            .unwrap()
            .insert("api-1.k8s.test".into(), Ipv4Addr::new(10, 1, 2, 3));
        let bytes = answer(&query("API-1.k8s.test", TYPE::A), &records).unwrap();
        let r = Packet::parse(&bytes).unwrap();
        assert_eq!(r.id(), 0x1234);
        assert!(r.has_flags(PacketFlag::RESPONSE | PacketFlag::AUTHORITATIVE_ANSWER));
        assert_eq!(r.rcode(), RCODE::NoError);
        assert_eq!(r.questions.len(), 1);
        assert_eq!(r.questions[0].qname.to_string(), "API-1.k8s.test");
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.answers[0].ttl, 1);
        assert_eq!(
            r.answers[0].rdata,
            RData::A(A::from(Ipv4Addr::new(10, 1, 2, 3)))
        );

        let r = answer(&query("api-1.k8s.test", TYPE::AAAA), &records).unwrap();
        let r = Packet::parse(&r).unwrap();
        assert_eq!(r.rcode(), RCODE::NoError);
        assert!(r.answers.is_empty());

        let r = answer(&query("other.k8s.test", TYPE::A), &records).unwrap();
        let r = Packet::parse(&r).unwrap();
        assert_eq!(r.rcode(), RCODE::NameError);
        assert_eq!(r.questions.len(), 1);
    }
}
