//! The real binary: exit codes, stdin, atomic writes, messages that name the option.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const SEED: &str = include_str!("../../../examples/seed-004.json");
const BAD: &str = r#"{"controlPlaneNodes": [{"name": "a", "address": "10.0.0.300"}, {"name": "a", "address": "10.0.0.2"}]}"#;
/// Every `--haproxy-check` test runs with each of these (Debian 12's 2.6 and Debian 13's 3.0).
#[path = "../../haproxy-k8s/tests/common/haproxies.rs"]
mod haproxies;
use haproxies::haproxies;
const OUTPUT_FILES: [&str; 4] = [
    "haproxy.cfg",
    "firewall.json",
    "firewall.nft",
    "firewall.iptables",
];

fn gen(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_haproxy-k8s-gen"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run haproxy-k8s-gen");
    let mut pipe = child.stdin.take().unwrap();
    // A child that exits before reading its input (a usage error) closes the pipe first; how
    // far the write got is a race, not a failure.
    if let Err(error) = pipe.write_all(stdin.unwrap_or("").as_bytes()) {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write_input(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("input.json");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn generate_to_stdout_from_stdin() {
    let output = gen(&["generate", "--input", "-"], Some(SEED));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let cfg = String::from_utf8(output.stdout).unwrap();
    assert!(cfg.contains("bind 192.168.8.1:6443"));
    assert!(cfg.contains("server k8s-master-3 192.168.8.12:6443 check"));
}

#[test]
fn generate_writes_all_four_files() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), SEED);
    let out = dir.path().join("out/nested");
    let output = gen(
        &[
            "generate",
            "--input",
            input.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
            "--haproxy-check",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let expected = haproxy_k8s::generate(SEED, "").unwrap();
    for (name, contents) in expected.files() {
        assert_eq!(
            std::fs::read_to_string(out.join(name)).unwrap(),
            contents,
            "{name}"
        );
    }
    // Nothing but the four files: no temporary leftovers.
    let mut names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut wanted = OUTPUT_FILES.map(String::from).to_vec();
    wanted.sort();
    assert_eq!(names, wanted);
}

#[test]
fn keepalived_conf_is_written_with_a_vip_and_removed_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = |json: &str| {
        let input = write_input(dir.path(), json);
        let output = gen(
            &[
                "generate",
                input.to_str().unwrap(),
                "--out-dir",
                out.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    };
    let pair = include_str!("../../../examples/seed-001-lb1.json");
    run(pair);
    let expected = haproxy_k8s::generate(pair, "")
        .unwrap()
        .keepalived_conf
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("keepalived.conf")).unwrap(),
        expected
    );
    run(SEED);
    assert!(
        !out.join("keepalived.conf").exists(),
        "a stale keepalived.conf stayed"
    );
}

#[test]
fn invalid_options_exit_1_name_every_option_and_touch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for name in OUTPUT_FILES {
        std::fs::write(out.join(name), "previous\n").unwrap();
    }
    let output = gen(
        &[
            "generate",
            "--input",
            "-",
            "--out-dir",
            out.to_str().unwrap(),
            "--option-prefix",
            "services.haproxy-k8s",
        ],
        Some(BAD),
    );
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("services.haproxy-k8s.controlPlaneNodes.0.address: \"10.0.0.300\""),
        "{message}"
    );
    assert!(
        message.contains(
            "services.haproxy-k8s.controlPlaneNodes.1.name: \"a\" is used by another node"
        ),
        "{message}"
    );
    for name in OUTPUT_FILES {
        assert_eq!(
            std::fs::read_to_string(out.join(name)).unwrap(),
            "previous\n",
            "{name} was touched"
        );
    }
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), OUTPUT_FILES.len());
}

#[test]
fn invalid_options_create_no_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    let output = gen(
        &[
            "generate",
            "--input",
            "-",
            "--out-dir",
            out.to_str().unwrap(),
        ],
        Some(BAD),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(!out.exists());
}

#[test]
fn check_validates_only() {
    let output = gen(&["check", "--input", "-"], Some(SEED));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stdout.is_empty());
    let output = gen(&["check", "--input", "-"], Some(BAD));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("2 invalid options"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(gen(&[], None).status.code(), Some(2));
    assert_eq!(gen(&["frobnicate"], None).status.code(), Some(2));
    assert_eq!(
        gen(&["generate", "--input", "-", "--bogus"], Some(SEED))
            .status
            .code(),
        Some(2)
    );
    // FILE and --input are one option given twice.
    assert_eq!(
        gen(&["generate", "a.json", "--input", "b.json"], None)
            .status
            .code(),
        Some(2)
    );
    // --haproxy without --haproxy-check would be set and unused.
    let output = gen(&["generate", "--haproxy", "haproxy-3.0"], Some(SEED));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn file_argument_stdin_dash_and_input_alias_read_the_same_options() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), SEED);
    let path = input.to_str().unwrap();
    let expected = haproxy_k8s::generate(SEED, "").unwrap().haproxy_cfg;
    for (args, stdin) in [
        (vec!["generate", path], None),
        (vec!["generate", "--input", path], None),
        (vec!["generate"], Some(SEED)),
        (vec!["generate", "-"], Some(SEED)),
        (vec!["generate", "--input", "-"], Some(SEED)),
    ] {
        let output = gen(&args, stdin);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr(&output)
        );
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            expected,
            "{args:?}"
        );
    }
    for (args, stdin) in [(vec!["check", path], None), (vec!["check"], Some(SEED))] {
        let output = gen(&args, stdin);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    // No input at all on stdin is not JSON.
    let output = gen(&["generate"], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with("haproxy-k8s-gen: <stdin>:1:1: not valid JSON"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let output = gen(&["generate", "--help"], None);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("Examples:")
            && text.contains("haproxy-k8s-gen generate examples/seed-004.json")
    );
    assert!(!text.contains("nix eval"), "{text}");
    let text = String::from_utf8(gen(&["check", "--help"], None).stdout).unwrap();
    assert!(text.contains("haproxy-k8s-gen check examples/seed-004.json"));
    let text = String::from_utf8(gen(&["--help"], None).stdout).unwrap();
    assert!(text.contains("4  `haproxy -c -dW` rejected"));
}

/// Every example in `--help` runs as printed (in a directory holding the files it names).
#[test]
fn help_examples_work() {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_haproxy-k8s-gen"));
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut examples = Vec::new();
    for command in ["generate", "check"] {
        let help = String::from_utf8(gen(&[command, "--help"], None).stdout).unwrap();
        examples.extend(
            help.lines()
                .skip_while(|line| !line.starts_with("Examples:"))
                .map(str::trim)
                .filter(|line| line.contains("haproxy-k8s-gen "))
                .map(String::from),
        );
    }
    assert!(examples.len() >= 6, "{examples:?}");
    // `--haproxy PATH` names an installation the reader has; run it with each one we have.
    let examples: Vec<String> = examples
        .into_iter()
        .flat_map(|example| match example.split_once("--haproxy /") {
            Some((before, after)) => {
                let rest = after.split_once(' ').map_or("", |(_, rest)| rest);
                haproxies()
                    .iter()
                    .map(|binary| format!("{before}--haproxy {binary} {rest}"))
                    .collect()
            }
            None => vec![example],
        })
        .collect();
    for example in examples {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("examples")).unwrap();
        std::fs::write(dir.path().join("examples/seed-004.json"), SEED).unwrap();
        std::fs::write(dir.path().join("options.json"), SEED).unwrap();
        let output = Command::new("sh")
            .args(["-c", &example])
            .current_dir(dir.path())
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(output.status.success(), "{example}: {}", stderr(&output));
        if example.contains("--out-dir out") {
            for name in OUTPUT_FILES {
                assert!(
                    dir.path().join("out").join(name).is_file(),
                    "{example}: {name}"
                );
            }
        } else if example.contains(" generate") {
            assert!(
                String::from_utf8_lossy(&output.stdout).contains("frontend k8s-api."),
                "{example}"
            );
        }
    }
}

#[test]
fn unreadable_input_exits_3() {
    let output = gen(&["generate", "--input", "/nonexistent/options.json"], None);
    assert_eq!(output.status.code(), Some(3));
    assert!(stderr(&output).contains("cannot read /nonexistent/options.json"));
}

#[test]
fn unwritable_out_dir_exits_3_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the directory should be.
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, "x").unwrap();
    let out = blocker.join("out");
    let output = gen(
        &[
            "generate",
            "--input",
            "-",
            "--out-dir",
            out.to_str().unwrap(),
        ],
        Some(SEED),
    );
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&blocker).unwrap(), "x");
}

#[test]
fn haproxy_rejection_exits_4_and_writes_nothing() {
    for haproxy in &haproxies() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        // extraConfig is not validated by us; haproxy -c is the gate for it.
        let json = r#"{"extraConfig": {"global": "no-such-keyword 1"}}"#;
        let output = gen(
            &[
                "generate",
                "--out-dir",
                out.to_str().unwrap(),
                "--haproxy-check",
                "--haproxy",
                haproxy,
            ],
            Some(json),
        );
        assert_eq!(
            output.status.code(),
            Some(4),
            "{haproxy}: {}",
            stderr(&output)
        );
        let message = stderr(&output);
        assert!(message.contains("no-such-keyword"), "{haproxy}: {message}");
        assert!(
            message.contains(&format!("{haproxy} -c -dW rejected")),
            "{haproxy}: {message}"
        );
        assert!(!out.exists());
    }
}

#[test]
fn haproxy_check_runs_the_chosen_haproxy() {
    for haproxy in &haproxies() {
        // Stats credentials on: the config stops on a missing or empty credential, so the
        // check must use its placeholders and never the caller's (here: empty) values.
        let json = r#"{"controlPlaneNodes": [{"name": "a", "address": "10.0.0.1"}],
                       "stats": {"credentialsFile": "/run/secrets/stats.env"}}"#;
        let output = Command::new(env!("CARGO_BIN_EXE_haproxy-k8s-gen"))
            .args(["generate", "--haproxy-check", "--haproxy", haproxy])
            .env("HAPROXY_K8S_STATS_PASSWORD", "")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                let _ = child.stdin.take().unwrap().write_all(json.as_bytes());
                child.wait_with_output()
            })
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{haproxy}: {}",
            stderr(&output)
        );
    }
    // A binary that is not there is an I/O error that says how to choose one.
    let output = gen(
        &[
            "generate",
            "--haproxy-check",
            "--haproxy",
            "/nonexistent/haproxy",
        ],
        Some(SEED),
    );
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains("--haproxy PATH"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn out_dir_is_all_or_nothing_when_a_target_cannot_be_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for name in OUTPUT_FILES {
        if name == "firewall.nft" {
            std::fs::create_dir(out.join(name)).unwrap();
        } else {
            std::fs::write(out.join(name), "previous\n").unwrap();
        }
    }
    let output = gen(
        &["generate", "--out-dir", out.to_str().unwrap()],
        Some(SEED),
    );
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert_eq!(message.matches("firewall.nft").count(), 1, "{message}");
    assert_eq!(message.matches("directory").count(), 1, "{message}");
    assert!(message.contains("no file was replaced"), "{message}");
    for name in OUTPUT_FILES {
        if name != "firewall.nft" {
            assert_eq!(
                std::fs::read_to_string(out.join(name)).unwrap(),
                "previous\n",
                "{name} was replaced"
            );
        }
    }
    // No temporary files left behind.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), OUTPUT_FILES.len());
}

#[test]
fn messages_name_file_line_and_column_and_the_option_meant() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // A type error: file:line:column, no Rust type name.
        (
            "{\n  \"statsPort\": \"8404\"\n}\n",
            "haproxy-k8s-gen: 1 invalid option in FILE:\n  FILE:2:21: statsPort: expected an integer, found the string \"8404\"\n",
        ),
        // A syntax error is not an invalid option.
        (
            "{\n  \"statsPort\": 8404,\n}\n",
            "haproxy-k8s-gen: FILE:3:1: not valid JSON: trailing comma\n",
        ),
        // A key given twice: refused with its path.
        (
            "{\"allowedSources\": [\"10.0.0.0/8\"],\n \"allowedSources\": []}",
            "haproxy-k8s-gen: 1 invalid option in FILE:\n  FILE:2:17: allowedSources: given twice in the same attribute set: remove one (JSON would silently keep only the last)\n",
        ),
        // An option at the wrong level.
        (
            "{\"stats\": {\"statsPort\": 9000}}",
            "haproxy-k8s-gen: 1 invalid option in FILE:\n  FILE:1:22: stats.statsPort: `statsPort` is not an option here; did you mean `statsPort` at the top level?\n",
        ),
    ];
    for (json, expected) in cases {
        let input = write_input(dir.path(), json);
        let file = input.to_str().unwrap();
        let output = gen(&["check", file], None);
        assert_eq!(output.status.code(), Some(1), "{json}");
        assert_eq!(stderr(&output), expected.replace("FILE", file), "{json}");
    }
    // An enum value: the closest keyword.
    let output = gen(&["check"], Some(r#"{"balance": "round-robin"}"#));
    assert!(
        stderr(&output).contains("balance: \"round-robin\" is not one of: ")
            && stderr(&output).contains("did you mean `roundrobin`?"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn haproxy_check_without_runtime_tls_files_checks_the_rest() {
    let json = r#"{"controlPlaneNodes": [{"name": "a", "address": "10.0.0.1"}],
                   "healthCheck": {"caFile": "/nonexistent/ca.pem", "clientCertificate": "/run/nonexistent/client.pem"}}"#;
    for haproxy in &haproxies() {
        let output = gen(
            &["generate", "--haproxy-check", "--haproxy", haproxy],
            Some(json),
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "{haproxy}: {}",
            stderr(&output)
        );
        assert!(stderr(&output)
            .contains("/nonexistent/ca.pem, /run/nonexistent/client.pem not present here"));
        let cfg = String::from_utf8(output.stdout).unwrap();
        assert!(cfg.contains(
            "verify required ca-file /nonexistent/ca.pem crt /run/nonexistent/client.pem"
        ));
    }
}

#[test]
fn haproxy_check_with_real_tls_files_checks_them_too() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let client = dir.path().join("client.pem");
    let key = dir.path().join("client.key");
    self_signed("test-ca", &dir.path().join("ca.key"), &ca);
    self_signed("haproxy-k8s", &key, &client);
    // HAProxy wants certificate and key in one PEM.
    let mut pem = std::fs::read_to_string(&client).unwrap();
    pem.push_str(&std::fs::read_to_string(&key).unwrap());
    std::fs::write(&client, pem).unwrap();
    let json = format!(
        r#"{{"controlPlaneNodes": [{{"name": "a", "address": "10.0.0.1"}}],
            "healthCheck": {{"caFile": "{}", "clientCertificate": "{}"}}}}"#,
        ca.display(),
        client.display()
    );
    for haproxy in &haproxies() {
        let output = gen(
            &["generate", "--haproxy-check", "--haproxy", haproxy],
            Some(&json),
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "{haproxy}: {}",
            stderr(&output)
        );
        assert!(
            !stderr(&output).contains("not present here"),
            "{haproxy}: {}",
            stderr(&output)
        );
    }
    // A broken certificate file is caught by the real check, not waved through.
    std::fs::write(&client, "not a certificate\n").unwrap();
    for haproxy in &haproxies() {
        let output = gen(
            &["generate", "--haproxy-check", "--haproxy", haproxy],
            Some(&json),
        );
        assert_eq!(
            output.status.code(),
            Some(4),
            "{haproxy}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn haproxy_check_without_resolv_conf_uses_a_placeholder_dns_server() {
    // Hostname nodes read /etc/resolv.conf at start; where it is missing (the Nix sandbox)
    // the check must still pass. Simulated by checking the offline variant directly.
    let plan = haproxy_k8s::plan(
        r#"{"controlPlaneNodes": [{"name": "a", "address": "cp.example"}]}"#,
        "",
    )
    .unwrap();
    assert_eq!(haproxy_k8s::runtime_files(&plan), ["/etc/resolv.conf"]);
    let offline = haproxy_k8s::haproxy_cfg_for_offline_check(&plan);
    assert!(
        offline.contains("nameserver dns0 127.0.0.1:53") && !offline.contains("parse-resolv-conf")
    );
    assert!(haproxy_k8s::render(&plan)
        .haproxy_cfg
        .contains("parse-resolv-conf"));
}

#[test]
fn haproxy_check_needs_no_route_to_the_nameservers() {
    // haproxy -c connects a socket to each nameserver; the Nix build sandbox has only `lo`, so
    // a remote nameserver must not fail the build-time check. Run where there is no route:
    // a new network namespace with only `lo` up, like the sandbox's (`unshare -rn`), or, where
    // unshare or ip is missing (the emulated Nix sandbox has neither), the sandbox itself.
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(
        dir.path(),
        r#"{"controlPlaneNodes": [{"name": "a", "address": "cp.example"}],
            "resolvers": {"nameservers": ["192.0.2.53", "127.0.0.1:5353"]}}"#,
    );
    let bin = env!("CARGO_BIN_EXE_haproxy-k8s-gen");
    let lo_only = ["-rn", "sh", "-c", "ip link set lo up && exec \"$@\"", "sh"];
    let isolated = Command::new("unshare")
        .args(lo_only)
        .arg("true")
        .status()
        .is_ok_and(|status| status.success());
    let mut command = if isolated {
        let mut command = Command::new("unshare");
        command.args(lo_only).arg(bin);
        command
    } else {
        eprintln!("NOTE: unshare -rn or ip unavailable: checking in this network namespace");
        Command::new(bin)
    };
    let output = command
        .args(["generate", "--haproxy-check", "--input"])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("loopback placeholder for the nameservers 192.0.2.53:53"),
        "{}",
        stderr(&output)
    );
    let cfg = String::from_utf8(output.stdout).unwrap();
    assert!(
        cfg.contains("nameserver dns0 192.0.2.53:53") && cfg.contains("127.0.0.1:5353"),
        "the served config keeps the real nameservers:\n{cfg}"
    );
}

/// A throwaway self-signed P-256 certificate made by the real openssl.
fn self_signed(subject: &str, key: &Path, certificate: &Path) {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", &format!("/CN={subject}")])
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(certificate)
        .stderr(Stdio::null())
        .status();
    assert!(
        status.expect("openssl must be installed").success(),
        "openssl req for {subject}"
    );
}

/// Issue 8 item 8: seed 004's module example (no nodes yet) builds, and says so on stderr.
#[test]
fn empty_control_plane_builds_with_a_warning_naming_the_option() {
    let literal = r#"{"frontendPort": 6443, "bindAddress": "192.168.8.1", "controlPlaneNodes": [], "statsPort": 8404}"#;
    for command in ["generate", "check"] {
        let output = gen(
            &[
                command,
                "--input",
                "-",
                "--option-prefix",
                "services.haproxy-k8s",
            ],
            Some(literal),
        );
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert!(
            stderr(&output).starts_with(
                "haproxy-k8s-gen: warning: services.haproxy-k8s.controlPlaneNodes: is empty"
            ),
            "{}",
            stderr(&output)
        );
    }
    let output = gen(&["generate", "--input", "-"], Some(SEED));
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
}
