//! Process-wide settings: logging, the admin socket, timeouts, balancing policy and the
//! operator's extra lines.

use super::fields;
use super::report::{optional, Checked, Report};
use crate::input::Input;
use crate::plan::{ExtraPlan, LogPlan, TimeoutsPlan};

const FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];
const LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

pub(super) fn timeouts(input: &Input, report: &mut Report) -> Checked<TimeoutsPlan> {
    let t = &input.timeouts;
    let mut one = |name: &str, value: &str| {
        report.check(&format!("timeouts.{name}"), fields::duration(value, false))
    };
    let connect = one("connect", &t.connect);
    let client = one("client", &t.client);
    let server = one("server", &t.server);
    let tunnel = one("tunnel", &t.tunnel);
    let client_fin = one("clientFin", &t.client_fin);
    let check = one("check", &t.check);
    Ok(TimeoutsPlan {
        connect: connect?,
        client: client?,
        server: server?,
        tunnel: tunnel?,
        client_fin: client_fin?,
        check: check?,
    })
}

pub(super) fn hard_stop_after(
    input: &Input,
    report: &mut Report,
) -> Checked<Option<crate::plan::Duration>> {
    optional(
        report,
        "hardStopAfter",
        input.hard_stop_after.as_deref(),
        |value| fields::duration(value, false),
    )
}

pub(super) fn admin_socket(path: &str) -> Result<String, String> {
    let path = fields::absolute_path(path)?;
    // sun_path holds 108 bytes including the terminating NUL.
    if path.len() > 107 {
        return Err(format!(
            "{} is longer than a Unix socket path may be (107 bytes)",
            fields::show(&path)
        ));
    }
    Ok(path)
}

pub(super) fn log(input: &Input, report: &mut Report) -> Checked<LogPlan> {
    let target = match input.log.target.as_str() {
        "stdout" | "stderr" => Ok(input.log.target.clone()),
        other => report.check("log.target", fields::absolute_path(other).map_err(|why| {
            format!("{why} (use `stdout`, `stderr` or the absolute path of a syslog socket such as /dev/log)")
        })),
    };
    let facility = report.check(
        "log.facility",
        fields::one_of(&input.log.facility, FACILITIES),
    );
    let level = report.check("log.level", fields::one_of(&input.log.level, LEVELS));
    Ok(LogPlan {
        target: target?,
        facility: facility?,
        level: level?,
    })
}

pub(super) fn extra(input: &Input, report: &mut Report) -> Checked<ExtraPlan> {
    let e = &input.extra_config;
    let mut one = |name: &str, value: &str| {
        report.check(&format!("extraConfig.{name}"), fields::extra_lines(value))
    };
    let global = one("global", &e.global);
    let defaults = one("defaults", &e.defaults);
    let frontend = one("frontend", &e.frontend);
    let backend = one("backend", &e.backend);
    let stats = one("stats", &e.stats);
    Ok(ExtraPlan {
        global: global?,
        defaults: defaults?,
        frontend: frontend?,
        backend: backend?,
        stats: stats?,
    })
}
