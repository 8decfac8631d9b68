//! DNS for hostname nodes.

use super::addresses;
use super::fields::{self, show};
use super::report::{all, Checked, Report};
use crate::input::Input;
use crate::plan::ResolversPlan;
use std::collections::HashSet;

/// The resolvers section, present only when some node has a hostname (`needed`); its values
/// are checked either way.
pub(super) fn resolvers(
    input: &Input,
    needed: bool,
    report: &mut Report,
) -> Checked<Option<ResolversPlan>> {
    let mut seen = HashSet::new();
    let servers = input
        .resolvers
        .nameservers
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let path = format!("resolvers.nameservers.{index}");
            let server = report.check(&path, addresses::nameserver(value))?;
            if !seen.insert(server) {
                return Err(report.error(
                    &path,
                    format!("{} is listed twice (as {server})", show(value)),
                ));
            }
            Ok(server)
        })
        .collect();
    let hold = report.check(
        "resolvers.hold",
        fields::duration(&input.resolvers.hold, false),
    );
    let plan = ResolversPlan {
        nameservers: all(servers)?,
        hold: hold?,
    };
    Ok(needed.then_some(plan))
}
