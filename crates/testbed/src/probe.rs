//! TCP reachability from inside a namespace, telling apart the three answers a firewall test
//! needs: connected, refused (a RST: the host answered, nothing listens or HAProxy closed),
//! and no answer at all (a firewall dropped the SYN).

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::process::spawn_in_netns;

/// What a TCP connect got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    Connected,
    /// RST to the SYN: the packet reached a host that answered, nothing listens.
    Refused,
    /// Accepted and at once reset (HAProxy's `tcp-request connection reject` can beat
    /// connect()'s return on a loaded machine): answered by the listener.
    Reset,
    /// Nothing came back within the probe's time: dropped on the way (e.g. by nft).
    NoAnswer,
    /// Anything else (unreachable network, ...), with the error.
    Other(String),
}

/// Connects from namespace `ns` to `addr` with `timeout`. In-process (no `curl`/`bash`
/// started per probe), so a loaded machine delays it by scheduling only.
pub fn tcp(ns: &str, addr: SocketAddr, timeout: Duration) -> Reach {
    let handle = spawn_in_netns(ns, move || async move {
        // Blocking connect on this dedicated thread: the runtime has nothing else to do.
        Ok(match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => Reach::Connected,
            Err(e) => match e.kind() {
                std::io::ErrorKind::ConnectionRefused => Reach::Refused,
                std::io::ErrorKind::ConnectionReset => Reach::Reset,
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => Reach::NoAnswer,
                _ => Reach::Other(e.to_string()),
            },
        })
    });
    match handle.join() {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Reach::Other(format!("{e:#}")),
        Err(_) => Reach::Other("probe thread panicked".into()),
    }
}
