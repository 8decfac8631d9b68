//! The health check of the API nodes.

use super::fields;
use super::report::{optional, Checked, Report};
use crate::input::Input;
use crate::plan::{CheckKind, HealthPlan};

const CHECK_TYPES: &[&str] = &["https", "tls", "tcp"];

pub(super) fn health(input: &Input, report: &mut Report) -> Checked<HealthPlan> {
    let check = &input.health_check;
    let kind_name = report.check("healthCheck.type", fields::one_of(&check.kind, CHECK_TYPES));
    let path = report.check("healthCheck.path", fields::url_path(&check.path, true));
    let status = report.check(
        "healthCheck.expectStatus",
        fields::in_range(check.expect_status, 100, 599),
    );
    let interval = report.check(
        "healthCheck.interval",
        fields::duration(&check.interval, false),
    );
    let fall = report.check("healthCheck.fall", fields::in_range(check.fall, 1, 100));
    let rise = report.check("healthCheck.rise", fields::in_range(check.rise, 1, 100));
    let ca_file = optional(
        report,
        "healthCheck.caFile",
        check.ca_file.as_deref(),
        fields::absolute_path,
    );
    let client_certificate = optional(
        report,
        "healthCheck.clientCertificate",
        check.client_certificate.as_deref(),
        fields::secret_path,
    );
    if kind_name == Ok("tcp") {
        // A TCP connect check speaks no TLS, so these would silently do nothing.
        for (path, value) in [
            ("healthCheck.caFile", &check.ca_file),
            ("healthCheck.clientCertificate", &check.client_certificate),
        ] {
            if value.is_some() {
                report.error(path, "has no effect with healthCheck.type = \"tcp\": use \"https\" or \"tls\", or leave it null");
            }
        }
    }
    let kind = match kind_name? {
        "https" => CheckKind::Https {
            path: path?,
            expect_status: status? as u16,
        },
        "tls" => CheckKind::Tls,
        _ => CheckKind::Tcp,
    };
    Ok(HealthPlan {
        kind,
        interval: interval?,
        fall: fall?,
        rise: rise?,
        ca_file: ca_file?,
        client_certificate: client_certificate?,
    })
}
