//! haproxy-k8s.service as the module renders it, under systemd 257 in a Debian 13 container.
//! Every wait is for an event (unit state, journal line, `show info` answer) with a bounded
//! deadline; nothing sleeps and hopes.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use unit_container::container::Container;
use unit_container::netns::{Backend, Load};
use unit_container::unit::{self, Case, CONTAINER_HAPROXY, UNIT};

/// Where the `container` case's frontend listens and its two nodes are served.
const FRONTEND: &str = "127.0.0.1:6443";
const NODES: [&str; 2] = ["127.0.0.1:16443", "[::1]:16443"];
/// How long load may take to make progress. Generous for a CPU hog; returns on the event.
const PROGRESS: Duration = Duration::from_secs(60);

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address literal")
}

/// A booted container with the `container` case installed (HAProxy `haproxy` behind the
/// stable link), its nodes served and stats credentials written; not started yet.
fn prepared(haproxy: &str) -> Result<(Container, Case, Backend)> {
    let c = Container::boot(&unit_container::tree())?;
    let case = Case::load("container")?;
    case.install(&c, haproxy)?;
    case.write_credentials(&c, "admin", "a-stats-password")?;
    let backend = Backend::start(c.leader(), &NODES.map(addr))?;
    Ok((c, case, backend))
}

fn run(test: &str, body: impl FnOnce() -> Result<()>) {
    if unit_container::skip_unless_ready(test) {
        return;
    }
    let _serial = unit_container::serial();
    if let Err(e) = body() {
        panic!("{test}: {e:#}");
    }
}

#[test]
fn a_type_notify_start_reaches_active() {
    run("a_type_notify_start_reaches_active", || {
        let (c, case, _backend) = prepared(CONTAINER_HAPROXY)?;
        ensure!(
            case.service_value("Type") == Some("notify"),
            "the unit is not Type=notify"
        );
        let pid = unit::start(&c)?;
        // Type=notify: active only after HAProxy's READY=1, which also sets the status text.
        let status = c.unit_property(UNIT, "StatusText")?;
        ensure!(
            status.contains("Ready"),
            "no READY status from HAProxy: {status:?}"
        );
        let exe = c.run(&["readlink", &format!("/proc/{pid}/exe")])?;
        ensure!(exe.trim() == CONTAINER_HAPROXY, "master runs {exe:?}");
        let load = Load::start(c.leader(), addr(FRONTEND), 1)?;
        load.wait_for_more(5, PROGRESS)?;
        let result = load.finish();
        ensure!(
            result.failures.is_empty(),
            "requests failed: {:?}",
            result.failures
        );
        Ok(())
    });
}

#[test]
fn b_reload_under_load_keeps_the_master_and_fails_no_request() {
    run(
        "b_reload_under_load_keeps_the_master_and_fails_no_request",
        || {
            let (c, case, _backend) = prepared(CONTAINER_HAPROXY)?;
            let master = unit::start(&c)?;
            let socket = case.admin_socket();
            let old_worker =
                unit::info_field(&unit::show_info(&c, &socket)?, "Pid").context("no Pid")?;
            let load = Load::start(c.leader(), addr(FRONTEND), 2)?;
            load.wait_for_more(50, PROGRESS)?;
            c.run(&["systemctl", "reload", UNIT])?;
            // The reload is done when a new worker answers on the admin socket.
            let new_worker = c.wait_for("a new worker on the admin socket", || {
                let pid = unit::info_field(&unit::show_info(&c, &socket)?, "Pid");
                Ok(pid.filter(|p| *p != old_worker))
            })?;
            load.wait_for_more(50, PROGRESS)?;
            let result = load.finish();
            ensure!(
                result.failures.is_empty(),
                "{} of {} requests failed across the reload: {:?}",
                result.failures.len(),
                result.ok + result.failures.len() as u64,
                result.failures
            );
            ensure!(
                unit::main_pid(&c)? == master,
                "the master PID changed on reload"
            );
            ensure!(
                c.unit_property(UNIT, "ActiveState")? == "active",
                "not active after reload"
            );
            eprintln!("reload: master {master}, worker {old_worker} -> {new_worker}, {} requests, 0 failed", result.ok);
            Ok(())
        },
    );
}

/// Debian 12's HAProxy 2.6 (this machine's), copied into the container where it runs
/// natively (the tree has its libraries: tests/debian13-tree.sh installs liblua5.3-0).
const OLD_HAPROXY: &str = "/opt/haproxy-2.6/haproxy";

#[test]
fn c_package_upgrade_behind_the_stable_link_is_a_hitless_reload() {
    run(
        "c_package_upgrade_behind_the_stable_link_is_a_hitless_reload",
        || {
            let (c, case, _backend) = prepared(OLD_HAPROXY)?;
            c.write(
                OLD_HAPROXY,
                std::fs::read("/usr/sbin/haproxy").context("Debian 12's /usr/sbin/haproxy")?,
            )?;
            std::fs::set_permissions(
                c.path(OLD_HAPROXY),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )?;
            let ldd = c.run(&["ldd", OLD_HAPROXY])?;
            ensure!(
                !ldd.contains("not found"),
                "HAProxy 2.6 lacks libraries in the tree (run tests/debian13-tree.sh):\n{ldd}"
            );
            let master = unit::start(&c)?;
            let socket = case.admin_socket();
            let version = |c: &Container| -> Result<String> {
                unit::info_field(&unit::show_info(c, &socket)?, "Version")
                    .context("no Version in show info")
            };
            let before = version(&c)?;
            ensure!(
                before.starts_with("2.6."),
                "expected HAProxy 2.6 first, `show info` says {before}"
            );
            let load = Load::start(c.leader(), addr(FRONTEND), 2)?;
            load.wait_for_more(50, PROGRESS)?;
            // What an upgrade does on NixOS: the /etc link moves to the new package, the reload
            // trigger changes, switch-to-configuration reloads.
            c.link(CONTAINER_HAPROXY, "/etc/haproxy-k8s/haproxy")?;
            c.run(&["systemctl", "reload", UNIT])?;
            let after = c.wait_for("`show info` to report HAProxy 3.0", || {
                Ok(version(&c).ok().filter(|v| v.starts_with("3.0.")))
            })?;
            load.wait_for_more(50, PROGRESS)?;
            let result = load.finish();
            ensure!(
                result.failures.is_empty(),
                "{} requests failed across the upgrade: {:?}",
                result.failures.len(),
                result.failures
            );
            ensure!(
                unit::main_pid(&c)? == master,
                "the master PID changed on the upgrade"
            );
            let exe = c.run(&["readlink", &format!("/proc/{master}/exe")])?;
            ensure!(
                exe.trim() == CONTAINER_HAPROXY,
                "the master did not re-execute the new binary: {exe:?}"
            );
            eprintln!(
                "upgrade: {before} -> {after}, master {master} kept, {} requests, 0 failed",
                result.ok
            );
            Ok(())
        },
    );
}

#[test]
fn d_logs_reach_the_journal_with_private_devices() {
    run("d_logs_reach_the_journal_with_private_devices", || {
        let (c, _case, _backend) = prepared(CONTAINER_HAPROXY)?;
        unit::start(&c)?;
        ensure!(
            c.unit_property(UNIT, "PrivateDevices")? == "yes",
            "PrivateDevices is off"
        );
        let load = Load::start(c.leader(), addr(FRONTEND), 1)?;
        load.wait_for_more(1, PROGRESS)?;
        load.finish();
        // A connection log line (option tcplog) sent to /dev/log, in the unit's journal.
        let line = c.wait_for("a connection log line in the unit's journal", || {
            let journal = c.run(&[
                "journalctl",
                "--no-pager",
                "-o",
                "cat",
                "-u",
                UNIT,
                "-t",
                "haproxy",
            ])?;
            Ok(journal
                .lines()
                .find(|l| l.contains("k8s-api.default k8s-nodes.default/node-"))
                .map(str::to_string))
        })?;
        eprintln!("journal: {line}");
        Ok(())
    });
}

#[test]
fn e_empty_stats_password_stops_the_start_with_a_clear_message() {
    run(
        "e_empty_stats_password_stops_the_start_with_a_clear_message",
        || {
            let (c, case, _backend) = prepared(CONTAINER_HAPROXY)?;
            case.write_credentials(&c, "admin", "")?;
            let out = c.exec(&["systemctl", "start", UNIT])?;
            let journal = c.journal(UNIT)?;
            ensure!(
                !out.status.success(),
                "the unit started with an empty stats password; journal:\n{journal}"
            );
            // The generated config's `.if`/`.alert` block: HAProxy's own alert, saying which
            // setting is wrong, is what an operator reads in the journal.
            let alert = journal
                .lines()
                .find(|l| l.contains("ALERT") && l.to_lowercase().contains("password"));
            match alert {
                Some(line) => eprintln!("journal: {line}"),
                None => bail!("no alert about the stats password in the journal:\n{journal}"),
            }
            ensure!(
                c.unit_property(UNIT, "ActiveState")? != "active",
                "the unit is active"
            );
            Ok(())
        },
    );
}

#[test]
fn f_restart_on_failure_after_the_master_is_killed() {
    run("f_restart_on_failure_after_the_master_is_killed", || {
        let (c, _case, _backend) = prepared(CONTAINER_HAPROXY)?;
        let master = unit::start(&c)?;
        let restarts: u32 = c.unit_property(UNIT, "NRestarts")?.parse()?;
        c.run(&["kill", "-KILL", &master.to_string()])?;
        let new_master = c.wait_for("a new master after SIGKILL", || {
            let n: u32 = c.unit_property(UNIT, "NRestarts")?.parse()?;
            let pid = unit::main_pid(&c)?;
            let state = c.unit_property(UNIT, "ActiveState")?;
            Ok((n > restarts && pid != 0 && pid != master && state == "active").then_some(pid))
        })?;
        let load = Load::start(c.leader(), addr(FRONTEND), 1)?;
        load.wait_for_more(5, PROGRESS)?;
        load.finish();
        eprintln!("restart: master {master} killed, {new_master} serving");
        Ok(())
    });
}

#[test]
fn g_systemd_analyze_security_exposure_is_ok() {
    run("g_systemd_analyze_security_exposure_is_ok", || {
        let (c, _case, _backend) = prepared(CONTAINER_HAPROXY)?;
        unit::start(&c)?;
        let report = c.run(&["systemd-analyze", "security", "--no-pager", UNIT])?;
        let overall = report
            .lines()
            .find(|l| l.contains("Overall exposure level"))
            .context("no overall exposure line")?;
        let figure: f64 = overall
            .rsplit(':')
            .next()
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("cannot read the figure in {overall:?}"))?;
        let exposed: Vec<&str> = report.lines().filter(|l| l.starts_with('✗')).collect();
        eprintln!("{}\n{overall}", exposed.join("\n"));
        ensure!(
            figure <= 2.0,
            "exposure {figure} is above 2.0 (OK):\n{}",
            exposed.join("\n")
        );
        Ok(())
    });
}

#[test]
fn h_admin_socket_outside_the_runtime_directory() {
    run("h_admin_socket_outside_the_runtime_directory", || {
        let c = Container::boot(&unit_container::tree())?;
        let case = Case::load("admin-socket-dir")?;
        case.install(&c, CONTAINER_HAPROXY)?;
        let _backend = Backend::start(c.leader(), &[addr(NODES[0])])?;
        let rw = case
            .service_value("ReadWritePaths")
            .context("no ReadWritePaths")?;
        let dir = rw
            .strip_prefix('-')
            .context("ReadWritePaths lacks the `-` prefix")?;

        // Control: without `-`, systemd refuses to set up the namespace for a missing directory.
        let strict = case.unit.replace(
            &format!("ReadWritePaths={rw}"),
            &format!("ReadWritePaths={dir}"),
        );
        c.write(&format!("/etc/systemd/system/{UNIT}"), &strict)?;
        c.run(&["systemctl", "daemon-reload"])?;
        ensure!(
            !c.exec(&["systemctl", "start", UNIT])?.status.success(),
            "started without the directory"
        );
        let result = c.unit_property(UNIT, "Result")?;
        ensure!(
            result == "exit-code" || result == "resources",
            "unexpected result {result}"
        );
        let status = c.unit_property(UNIT, "ExecMainStatus")?;
        ensure!(
            status == "226",
            "expected 226/NAMESPACE from the strict unit, got {status}"
        );
        c.run(&["systemctl", "stop", UNIT])?;
        let _ = c.exec(&["systemctl", "reset-failed", UNIT]);

        // The rendered unit (`-`): even without the directory systemd sets the namespace up
        // and HAProxy itself says what is wrong.
        c.write(&format!("/etc/systemd/system/{UNIT}"), &case.unit)?;
        c.run(&["systemctl", "daemon-reload"])?;
        ensure!(
            !c.exec(&["systemctl", "start", UNIT])?.status.success(),
            "started without the directory"
        );
        let status = c.unit_property(UNIT, "ExecMainStatus")?;
        ensure!(
            status != "226",
            "systemd refused the rendered unit (226/NAMESPACE)"
        );
        let journal = c.journal(UNIT)?;
        let socket = case.admin_socket();
        ensure!(
            journal
                .lines()
                .any(|l| l.contains("ALERT") && l.contains(&socket)),
            "HAProxy did not name {socket}:\n{journal}"
        );
        c.run(&["systemctl", "stop", UNIT])?;
        let _ = c.exec(&["systemctl", "reset-failed", UNIT]);

        // With the tmpfiles rule applied, as NixOS does at boot and on every switch.
        unit::apply_tmpfiles(&c)?;
        unit::start(&c)?;
        ensure!(
            socket.starts_with(dir),
            "admin socket {socket} is not in {dir}"
        );
        let info = unit::show_info(&c, &socket)?;
        ensure!(
            unit::info_field(&info, "Version").is_some(),
            "no answer on {socket}"
        );
        Ok(())
    });
}

#[test]
fn i_privileged_port_binds_with_the_capability_alone() {
    run("i_privileged_port_binds_with_the_capability_alone", || {
        let c = Container::boot(&unit_container::tree())?;
        let case = Case::load("privileged-port")?;
        case.install(&c, CONTAINER_HAPROXY)?;
        let _backend = Backend::start(c.leader(), &[addr(NODES[0])])?;
        ensure!(
            case.service_value("AmbientCapabilities") == Some("CAP_NET_BIND_SERVICE"),
            "no CAP_NET_BIND_SERVICE for port 443"
        );
        // Control: in a user namespace the capability does not reach the host's network
        // namespace, which is why the module drops PrivateUsers for privileged ports.
        ensure!(
            case.service_value("PrivateUsers") == Some("false"),
            "PrivateUsers is on"
        );
        let userns = case.unit.replace("PrivateUsers=false", "PrivateUsers=true");
        c.write(&format!("/etc/systemd/system/{UNIT}"), &userns)?;
        c.run(&["systemctl", "daemon-reload"])?;
        ensure!(
            !c.exec(&["systemctl", "start", UNIT])?.status.success(),
            "port 443 was bound from a user namespace"
        );
        c.run(&["systemctl", "stop", UNIT])?;
        let _ = c.exec(&["systemctl", "reset-failed", UNIT]);
        c.write(&format!("/etc/systemd/system/{UNIT}"), &case.unit)?;
        c.run(&["systemctl", "daemon-reload"])?;
        let master = unit::start(&c)?;
        let user = c.run(&["ps", "-o", "user=", "-p", &master.to_string()])?;
        ensure!(user.trim() == "haproxy-k8s", "the master runs as {user:?}");
        let load = Load::start(c.leader(), addr("127.0.0.1:443"), 1)?;
        load.wait_for_more(5, PROGRESS)?;
        let result = load.finish();
        ensure!(
            result.failures.is_empty(),
            "requests failed: {:?}",
            result.failures
        );
        let report = c.run(&["systemd-analyze", "security", "--no-pager", UNIT])?;
        let overall = report
            .lines()
            .find(|l| l.contains("Overall exposure level"));
        eprintln!(
            "privileged port: {}",
            overall.unwrap_or("no exposure figure")
        );
        Ok(())
    });
}
