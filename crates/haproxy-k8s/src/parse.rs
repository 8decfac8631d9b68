//! JSON text → `Input`, with errors that name the option path.

use crate::errors::{InputError, InputErrors, OptionPath};
use crate::input::Input;
use serde_json::{Map, Value};
use serde_path_to_error::Segment;

/// Parses the option set. Type errors stop at the first one (serde cannot go on after it);
/// everything semantic is reported all at once later, by `validate`.
pub fn parse_input(json: &str, paths: &OptionPath) -> Result<Input, InputErrors> {
    // serde_json rejects trailing garbage after the value here.
    let value: Value =
        serde_json::from_str(json).map_err(|error| one_error(paths.join(""), error))?;
    if let Some((relative, found)) = array_where_object_expected(&value) {
        return Err(InputErrors(vec![InputError {
            path: paths.join(&relative),
            message: format!("invalid type: {found}, expected an attribute set (JSON object)"),
        }]));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let relative = dotted_path(error.path());
        one_error(paths.join(&relative), error.into_inner())
    })
}

/// serde's derived structs also accept a JSON array, filling fields by position. An option
/// set is never written that way, so we refuse it where an object belongs.
fn array_where_object_expected(root: &Value) -> Option<(String, &'static str)> {
    const SECTIONS: [&str; 7] = [
        "stats",
        "healthCheck",
        "timeouts",
        "log",
        "resolvers",
        "firewall",
        "extraConfig",
    ];
    let is_array = |value: &Value| value.is_array();
    let mut objects: Vec<(String, &Value)> = vec![(String::new(), root)];
    let Some(fields) = root.as_object() else {
        return is_array(root).then(|| (String::new(), "sequence"));
    };
    objects.extend(
        SECTIONS
            .iter()
            .filter_map(|key| Some((key.to_string(), fields.get(*key)?))),
    );
    objects.extend(nodes("controlPlaneNodes", fields));
    if let Some(clusters) = fields.get("clusters") {
        objects.push(("clusters".into(), clusters));
        for (name, cluster) in clusters.as_object().into_iter().flatten() {
            objects.push((format!("clusters.{name}"), cluster));
            if let Some(cluster) = cluster.as_object() {
                objects.extend(nodes(
                    &format!("clusters.{name}.controlPlaneNodes"),
                    cluster,
                ));
            }
        }
    }
    objects
        .into_iter()
        .find(|(_, value)| is_array(value))
        .map(|(path, _)| (path, "sequence"))
}

fn nodes<'a>(path: &str, fields: &'a Map<String, Value>) -> Vec<(String, &'a Value)> {
    let list = fields.get("controlPlaneNodes").and_then(Value::as_array);
    list.into_iter()
        .flatten()
        .enumerate()
        .map(|(index, node)| (format!("{path}.{index}"), node))
        .collect()
}

fn one_error(path: String, error: serde_json::Error) -> InputErrors {
    let message = if error.is_syntax() || error.is_eof() {
        format!("not valid JSON: {error}")
    } else {
        explain_data_error(&error.to_string())
    };
    InputErrors(vec![InputError { path, message }])
}

/// `controlPlaneNodes[1].address` → `controlPlaneNodes.1.address`, the Nix way.
fn dotted_path(path: &serde_path_to_error::Path) -> String {
    let segments: Vec<String> = path
        .iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect();
    segments.join(".")
}

/// serde's "unknown field `x`, expected one of `a`, `b`" becomes a hint at the closest name.
fn explain_data_error(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field ") else {
        return strip_serde_position(message);
    };
    let quoted: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let Some((unknown, expected)) = quoted.split_first() else {
        return strip_serde_position(message);
    };
    match closest(unknown, expected) {
        Some(suggestion) => format!("unknown option `{unknown}`; did you mean `{suggestion}`?"),
        None => format!(
            "unknown option `{unknown}`; known options here: {}",
            expected.join(", ")
        ),
    }
}

/// serde_json appends " at line L column C"; the option path says more, so keep it short.
fn strip_serde_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

fn closest<'a>(unknown: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lowered = unknown.to_ascii_lowercase();
    candidates
        .iter()
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(&lowered, &candidate.to_ascii_lowercase());
            (distance, *candidate)
        })
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 3))
        .min()
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(json: &str) -> String {
        parse_input(json, &OptionPath::new("services.haproxy-k8s"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unknown_field_suggests_the_closest_option() {
        assert_eq!(
            error_of(r#"{"frontendPrt": 6443}"#),
            "services.haproxy-k8s.frontendPrt: unknown option `frontendPrt`; did you mean `frontendPort`?"
        );
    }

    #[test]
    fn unknown_nested_field_names_its_full_path() {
        let message = error_of(
            r#"{"controlPlaneNodes": [{"name": "a", "address": "10.0.0.1"}, {"name": "b", "adress": "x"}]}"#,
        );
        assert!(
            message.starts_with("services.haproxy-k8s.controlPlaneNodes.1.adress: unknown option `adress`; did you mean `address`?"),
            "{message}"
        );
    }

    #[test]
    fn far_off_field_lists_the_known_ones() {
        let message = error_of(r#"{"healthCheck": {"zzzzzzzzzz": 1}}"#);
        assert!(
            message.contains("known options here: type, path"),
            "{message}"
        );
    }

    #[test]
    fn type_errors_name_their_path() {
        let message = error_of(r#"{"controlPlaneNodes": [{"name": "a", "address": 5}]}"#);
        assert_eq!(
            message,
            "services.haproxy-k8s.controlPlaneNodes.0.address: invalid type: integer `5`, expected a string"
        );
    }

    #[test]
    fn broken_json_and_trailing_garbage_are_errors() {
        assert!(error_of("{").contains("not valid JSON"));
        assert!(error_of("{} {}").contains("not valid JSON"));
        assert!(error_of("[]").contains("expected an attribute set"));
        let message = error_of(r#"{"controlPlaneNodes": [["a", "10.0.0.1"]]}"#);
        assert!(
            message.starts_with("services.haproxy-k8s.controlPlaneNodes.0: invalid type"),
            "{message}"
        );
        let message = error_of(r#"{"clusters": {"b": {"controlPlaneNodes": [[]]}}}"#);
        assert!(
            message
                .starts_with("services.haproxy-k8s.clusters.b.controlPlaneNodes.0: invalid type"),
            "{message}"
        );
        assert!(error_of(r#"{"healthCheck": ["tcp"]}"#)
            .starts_with("services.haproxy-k8s.healthCheck: invalid type"));
    }
}
