//! Stats basic auth: a missing or empty user or password stops HAProxy (2.6 and 3.0) in the
//! config itself, both `haproxy -c` and a real start; set values, whatever their characters,
//! pass, and then only the right password gets the page.

mod common;

use common::{haproxies, haproxy_check, text_of, PASSWORD_VARIABLE, USER_VARIABLE};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "admin";
const PASSWORD: &str = "s3cret";

fn config(api_port: u16, stats_port: u16, admin_socket: &Path) -> String {
    let json = format!(
        r#"{{"bindAddress": "127.0.0.1", "frontendPort": {api_port}, "statsPort": {stats_port},
            "controlPlaneNodes": [{{"name": "a", "address": "127.0.0.1", "port": 9}}],
            "healthCheck": {{"type": "tcp"}},
            "adminSocket": "{}", "log": {{"target": "stderr"}},
            "stats": {{"credentialsFile": "/run/secrets/haproxy-k8s-stats.env"}}}}"#,
        admin_socket.display()
    );
    haproxy_k8s::generate(&json, "").unwrap().haproxy_cfg
}

/// Every way to leave a credential out, and the variable the message must then name.
fn missing_cases() -> Vec<(Vec<(&'static str, &'static str)>, &'static str)> {
    vec![
        (vec![], USER_VARIABLE),
        (vec![(PASSWORD_VARIABLE, PASSWORD)], USER_VARIABLE),
        (
            vec![(USER_VARIABLE, ""), (PASSWORD_VARIABLE, PASSWORD)],
            USER_VARIABLE,
        ),
        (vec![(USER_VARIABLE, USER)], PASSWORD_VARIABLE),
        (
            vec![(USER_VARIABLE, USER), (PASSWORD_VARIABLE, "")],
            PASSWORD_VARIABLE,
        ),
    ]
}

#[test]
fn missing_or_empty_credentials_fail_haproxy_check_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config(16443, 18404, &dir.path().join("admin.sock"))).unwrap();
    for binary in &haproxies() {
        for (env, named) in missing_cases() {
            let output = haproxy_check(binary, &path, &env);
            let text = text_of(&output);
            assert!(
                !output.status.success(),
                "{binary} {env:?} accepted:\n{text}"
            );
            assert!(
                text.contains(&format!(
                    "{named} is missing or empty in the stats credentials file"
                )),
                "{binary} {env:?}:\n{text}"
            );
        }
        // Set values pass, also ones with the characters HAProxy's condition parser treats
        // specially (a password is any string).
        for password in [PASSWORD, r#"a,b)c"d'e\f $g #h"#] {
            let output = haproxy_check(
                binary,
                &path,
                &[(USER_VARIABLE, USER), (PASSWORD_VARIABLE, password)],
            );
            assert!(
                output.status.success(),
                "{binary} {password:?}:\n{}",
                text_of(&output)
            );
        }
    }
}

#[test]
fn empty_password_never_starts_and_a_set_one_guards_the_page() {
    for binary in &haproxies() {
        let dir = tempfile::tempdir().unwrap();
        let (api_port, stats_port) = free_ports();
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(
            &path,
            config(api_port, stats_port, &dir.path().join("admin.sock")),
        )
        .unwrap();

        // Empty password: HAProxy exits with the message, so `curl -u admin:` has nothing to reach.
        let mut haproxy = start(binary, &path, "");
        let status = haproxy.wait_for_exit();
        let stderr = haproxy.stderr();
        assert!(!status.success(), "{binary} started with an empty password");
        assert!(
            stderr.contains(&format!("{PASSWORD_VARIABLE} is missing or empty")),
            "{binary}: {stderr}"
        );
        assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, stats_port)).is_err());

        // Set password: it starts, and only the right credentials get 200.
        let mut haproxy = start(binary, &path, PASSWORD);
        haproxy.wait_until_listening(stats_port);
        for uri in ["/stats", "/metrics"] {
            assert_eq!(
                get(stats_port, uri, None),
                401,
                "{binary} {uri} without auth"
            );
            assert_eq!(
                get(stats_port, uri, Some((USER, ""))),
                401,
                "{binary} {uri} empty password"
            );
            assert_eq!(
                get(stats_port, uri, Some((USER, "wrong"))),
                401,
                "{binary} {uri} wrong password"
            );
            assert_eq!(
                get(stats_port, uri, Some((USER, PASSWORD))),
                200,
                "{binary} {uri}"
            );
        }
    }
}

/// Two distinct loopback ports nothing listens on right now (the kernel's choice, both held
/// until both are known, then released for HAProxy).
fn free_ports() -> (u16, u16) {
    let bind = || TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let (a, b) = (bind(), bind());
    let port = |listener: &TcpListener| listener.local_addr().unwrap().port();
    (port(&a), port(&b))
}

/// A foreground HAProxy, killed when dropped (also when the test fails).
struct Haproxy {
    child: Child,
    binary: String,
}

fn start(binary: &str, config: &Path, password: &str) -> Haproxy {
    let child = Command::new(binary)
        .arg("-db")
        .arg("-f")
        .arg(config)
        .env(USER_VARIABLE, USER)
        .env(PASSWORD_VARIABLE, password)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("`{binary}` (tests/install-deps.sh installs it): {e}"));
    Haproxy {
        child,
        binary: binary.to_owned(),
    }
}

/// Generous bound for a loaded machine; the loops below end at the event, not the bound.
const PATIENCE: Duration = Duration::from_secs(60);

impl Haproxy {
    fn wait_for_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} is still running",
                self.binary
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_until_listening(&mut self, port: u16) {
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                let stderr = self.stderr();
                panic!("{} exited ({status}): {stderr}", self.binary);
            }
            assert!(Instant::now() < deadline, "{} never listened", self.binary);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status code of one HTTP/1.0 GET, with basic auth if given.
fn get(port: u16, uri: &str, credentials: Option<(&str, &str)>) -> u16 {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut request = format!("GET {uri} HTTP/1.0\r\nHost: localhost\r\n");
    if let Some((user, password)) = credentials {
        let token = base64(format!("{user}:{password}").as_bytes());
        request.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response.split_whitespace().nth(1).unwrap_or("");
    status
        .parse()
        .unwrap_or_else(|_| panic!("no HTTP status in {response:?}"))
}

/// RFC 4648 base64 with padding: enough for a basic-auth header, no dependency for it.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_rfc_4648() {
    assert_eq!(base64(b"admin:"), "YWRtaW46");
    assert_eq!(base64(b"admin:s3cret"), "YWRtaW46czNjcmV0");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
}
