//! The attribute sets of an option set: where they sit, and the options each one has.

use crate::input::Input;

/// Sections that hold options directly under the top level.
const SECTIONS: [&str; 9] = [
    "stats",
    "healthCheck",
    "timeouts",
    "log",
    "resolvers",
    "firewall",
    "extraConfig",
    "peers",
    "vip",
];

pub(super) const CLUSTER: &str = "clusters.<name>";
pub(super) const NODE: &str = "controlPlaneNodes.<n>";
pub(super) const PEER: &str = "peers.members.<n>";

/// The attribute set a path points at, as a user reads it (`""` is the top level,
/// `clusters.<name>`, `controlPlaneNodes.<n>` also inside a cluster), or `None` for a value.
pub(super) fn level_of(path: &[String]) -> Option<&'static str> {
    match path {
        [] => Some(""),
        [section] if section == "clusters" => Some("clusters"),
        [section] => SECTIONS.iter().copied().find(|known| known == section),
        [clusters, _] if clusters == "clusters" => Some(CLUSTER),
        [nodes, _] if nodes == "controlPlaneNodes" => Some(NODE),
        [peers, members, _] if peers == "peers" && members == "members" => Some(PEER),
        [clusters, _, nodes, _] if clusters == "clusters" && nodes == "controlPlaneNodes" => {
            Some(NODE)
        }
        _ => None,
    }
}

/// Every level with the options it accepts. The names come from the input model itself
/// (serde's own "expected one of" list for an unknown key), so they cannot drift from it.
pub(super) fn all_options() -> Vec<(&'static str, Vec<String>)> {
    let probe = |level: &str| -> String {
        const UNKNOWN: &str = r#"{"\u0001": 0}"#;
        match level {
            "" => UNKNOWN.to_string(),
            CLUSTER => format!(r#"{{"clusters": {{"x": {UNKNOWN}}}}}"#),
            NODE => format!(r#"{{"controlPlaneNodes": [{UNKNOWN}]}}"#),
            PEER => format!(r#"{{"peers": {{"localName": "a", "members": [{UNKNOWN}]}}}}"#),
            section => format!(r#"{{"{section}": {UNKNOWN}}}"#),
        }
    };
    std::iter::once("")
        .chain(SECTIONS)
        .chain([CLUSTER, NODE, PEER])
        .map(|level| {
            let message = serde_json::from_str::<Input>(&probe(level))
                .err()
                .map(|error| error.to_string())
                .unwrap_or_default();
            (level, expected_names(&message))
        })
        .collect()
}

/// The names serde lists in "unknown field `x`, expected one of `a`, `b`" (`a`, `b`).
pub(super) fn expected_names(message: &str) -> Vec<String> {
    message
        .split('`')
        .skip(1)
        .step_by(2)
        .skip(1)
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_has_its_options() {
        let all = all_options();
        assert_eq!(all.len(), 13);
        for (level, names) in &all {
            assert!(!names.is_empty(), "no options found for `{level}`");
        }
        let find = |level: &str| &all.iter().find(|(l, _)| *l == level).unwrap().1;
        assert!(find("").contains(&"statsPort".to_string()));
        assert!(find("stats").contains(&"credentialsFile".to_string()));
        assert!(find(NODE).contains(&"port".to_string()));
        assert!(find(CLUSTER).contains(&"frontendPort".to_string()));
        assert!(find("vip").contains(&"virtualRouterId".to_string()));
        assert!(find(PEER).contains(&"address".to_string()));
    }

    #[test]
    fn levels_of_paths() {
        let path = |p: &str| -> Vec<String> {
            p.split('.')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        assert_eq!(level_of(&path("")), Some(""));
        assert_eq!(level_of(&path("stats")), Some("stats"));
        assert_eq!(level_of(&path("clusters.a")), Some(CLUSTER));
        assert_eq!(
            level_of(&path("clusters.a.controlPlaneNodes.2")),
            Some(NODE)
        );
        assert_eq!(level_of(&path("controlPlaneNodes")), None);
        assert_eq!(level_of(&path("stats.uri")), None);
    }
}
