//! The stats and metrics listener.

use super::addresses;
use super::clusters::sources;
use super::fields;
use super::report::{optional, Checked, Report};
use crate::input::Input;
use crate::plan::{Listener, StatsPlan};

pub(super) fn stats(input: &Input, report: &mut Report) -> Checked<Option<StatsPlan>> {
    let stats = &input.stats;
    if !stats.enable {
        if input.stats_port.is_some() {
            return Err(report.error(
                "statsPort",
                "is set, but stats.enable is false, so nothing listens on it: remove it or enable stats",
            ));
        }
        return Ok(None);
    }
    let top_level_address = input.bind_address_or_default();
    let (address_path, address) = match &stats.bind_address {
        Some(address) => ("stats.bindAddress", address),
        None => ("bindAddress", &top_level_address),
    };
    let address = report.check(address_path, addresses::bind_address(address));
    let port = report.check("statsPort", fields::port(input.stats_port_or_default()));
    let sources = sources("stats.allowedSources", &stats.allowed_sources, report);
    let uri = report.check("stats.uri", fields::url_path(&stats.uri, false));
    if uri.as_deref() == Ok("/metrics") && stats.prometheus {
        report.error(
            "stats.uri",
            "`/metrics` is where the Prometheus exporter answers: pick another path",
        );
    }
    let refresh = report.check("stats.refresh", fields::duration(&stats.refresh, false));
    let credentials = optional(
        report,
        "stats.credentialsFile",
        stats.credentials_file.as_deref(),
        fields::secret_path,
    );
    Ok(Some(StatsPlan {
        listener: Listener {
            address: address?,
            port: port?,
        },
        allowed_sources: sources?,
        uri: uri?,
        prometheus: stats.prometheus,
        refresh: refresh?,
        require_credentials: credentials?.is_some(),
        port_option: report.paths().join("statsPort"),
    }))
}
