//! JSON text → `Input`, with errors that name the option path and the place in the text.

mod explain;
mod levels;
mod walk;

use crate::errors::{InputError, InputErrors, Location, OptionPath};
use crate::input::Input;
use serde_path_to_error::Segment;

/// Parses the option set. Stops at the first problem (serde cannot go on after it);
/// everything semantic is reported all at once later, by `validate`.
pub fn parse_input(json: &str, paths: &OptionPath) -> Result<Input, InputErrors> {
    // Syntax, repeated keys and lists in place of attribute sets, with their position.
    walk::walk(json).map_err(|stop| {
        let location = location(&stop.error);
        let error = match stop.finding {
            Some(message) => InputError {
                path: paths.join(&stop.path.join(".")),
                message,
                location,
                syntax: false,
            },
            None => syntax(paths, &stop.error),
        };
        let error = match json.trim().is_empty() {
            true => InputError {
                message: "not valid JSON: the input is empty (an empty option set is `{}`)".into(),
                ..error
            },
            false => error,
        };
        InputErrors(vec![error])
    })?;
    // Types and option names. From the text (not a `Value`) so errors keep their position.
    let mut deserializer = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let relative = dotted_path(error.path());
        let error = error.into_inner();
        if error.is_syntax() || error.is_eof() {
            return InputErrors(vec![syntax(paths, &error)]);
        }
        let (relative, message) =
            explain::data_error(&without_position(&error.to_string()), &relative, paths);
        InputErrors(vec![InputError {
            path: paths.join(&relative),
            message,
            location: location(&error),
            syntax: false,
        }])
    })
}

fn syntax(paths: &OptionPath, error: &serde_json::Error) -> InputError {
    InputError {
        path: paths.join(""),
        message: explain::syntax_error(&without_position(&error.to_string())),
        location: location(error),
        syntax: true,
    }
}

/// serde_json counts lines from 1 and columns from 0 before the first character is read.
fn location(error: &serde_json::Error) -> Option<Location> {
    (error.line() > 0).then(|| Location {
        line: error.line(),
        column: error.column().max(1),
    })
}

/// serde_json appends " at line L column C"; [`Location`] carries it instead.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(json: &str) -> InputError {
        let mut errors = parse_input(json, &OptionPath::new("services.haproxy-k8s"))
            .unwrap_err()
            .0;
        assert_eq!(errors.len(), 1);
        errors.remove(0)
    }

    fn error_of(json: &str) -> String {
        failure(json).to_string()
    }

    fn at(json: &str) -> (usize, usize) {
        let location = failure(json).location.expect("a location");
        (location.line, location.column)
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
    fn options_at_the_wrong_level_point_to_the_right_one() {
        assert_eq!(
            error_of(r#"{"stats": {"statsPort": 9000}}"#),
            "services.haproxy-k8s.stats.statsPort: `statsPort` is not an option here; did you mean `services.haproxy-k8s.statsPort`?"
        );
        // A node's port, not a health-check port: the hint says where `port` exists.
        assert_eq!(
            error_of(r#"{"healthCheck": {"port": 6443}}"#),
            "services.haproxy-k8s.healthCheck.port: `port` is not an option here; did you mean one of `services.haproxy-k8s.peers.port`, `services.haproxy-k8s.controlPlaneNodes.<n>.port`?"
        );
        let message = error_of(r#"{"clusters": {"a": {"statsPort": 1}}}"#);
        assert!(
            message.ends_with("did you mean `services.haproxy-k8s.statsPort`?"),
            "{message}"
        );
        let message = error_of(r#"{"interval": "5s"}"#);
        assert!(
            message.ends_with("did you mean `services.haproxy-k8s.healthCheck.interval`?"),
            "{message}"
        );
        let message = error_of(r#"{"timeouts": {"allowedSources": []}}"#);
        assert!(
            message.contains("did you mean one of `services.haproxy-k8s.allowedSources`, `services.haproxy-k8s.stats.allowedSources`, `services.haproxy-k8s.clusters.<name>.allowedSources`?"),
            "{message}"
        );
    }

    #[test]
    fn type_errors_name_their_path_and_no_rust_types() {
        let message = error_of(r#"{"controlPlaneNodes": [{"name": "a", "address": 5}]}"#);
        assert_eq!(
            message,
            "services.haproxy-k8s.controlPlaneNodes.0.address: expected a string, found the integer 5"
        );
        for (json, expected) in [
            (
                r#"{"statsPort": "8404"}"#,
                "expected an integer, found the string \"8404\"",
            ),
            (
                r#"{"statsPort": 1.5}"#,
                "expected an integer, found the number 1.5",
            ),
            (r#"{"retries": null}"#, "expected an integer, found null"),
            (
                r#"{"redispatch": "yes"}"#,
                "expected true or false, found the string \"yes\"",
            ),
            (
                r#"{"allowedSources": "10.0.0.0/8"}"#,
                "expected a list (JSON array), found the string \"10.0.0.0/8\"",
            ),
            (
                r#"{"stats": 5}"#,
                "expected an attribute set (JSON object), found the integer 5",
            ),
            (
                r#"5"#,
                "expected an attribute set (JSON object), found the integer 5",
            ),
        ] {
            let message = error_of(json);
            assert!(message.ends_with(expected), "{json}: {message}");
            for rust in ["i64", "u16", "struct", "sequence", "map"] {
                assert!(!message.contains(rust), "{json}: {message}");
            }
        }
    }

    #[test]
    fn missing_fields_name_the_missing_option() {
        assert_eq!(
            error_of(r#"{"controlPlaneNodes": [{"address": "10.0.0.1"}]}"#),
            "services.haproxy-k8s.controlPlaneNodes.0.name: missing: this option has no default"
        );
    }

    #[test]
    fn errors_in_the_text_carry_line_and_column() {
        assert_eq!(at("{\n  \"statsPort\": \"x\"\n}"), (2, 18));
        assert_eq!(at("{\n  \"statsPort\": 1,\n}"), (3, 1));
        assert_eq!(at("{\n  \"frontendPrt\": 1\n}"), (2, 15));
        assert_eq!(at(""), (1, 1));
        assert!(failure(" \n")
            .message
            .ends_with("the input is empty (an empty option set is `{}`)"));
        assert!(failure("{\"a\": ")
            .message
            .ends_with("the input ends inside a value"));
        // Validation errors come later and have only their path.
        assert!(parse_input(r#"{"statsPort": 0}"#, &OptionPath::new("")).is_ok());
    }

    #[test]
    fn syntax_errors_are_marked_as_such() {
        for json in ["{", "{} {}", "", "{\"a\" 1}", "{\"allowedSources\": [1,]}"] {
            let error = failure(json);
            assert!(error.syntax, "{json}: {error}");
            assert!(
                error.message.starts_with("not valid JSON: "),
                "{json}: {error}"
            );
            assert!(!error.message.contains("EOF"), "{json}: {error}");
        }
        assert!(!failure(r#"{"statsPort": "x"}"#).syntax);
    }

    #[test]
    fn repeated_keys_are_refused_at_any_depth() {
        for (json, path) in [
            (
                r#"{"allowedSources": ["10.0.0.0/8"], "allowedSources": []}"#,
                "services.haproxy-k8s.allowedSources",
            ),
            (
                r#"{"stats": {"uri": "/a", "uri": "/b"}}"#,
                "services.haproxy-k8s.stats.uri",
            ),
            (
                r#"{"clusters": {"a": {}, "a": {}}}"#,
                "services.haproxy-k8s.clusters.a",
            ),
            (
                r#"{"clusters": {"a": {"controlPlaneNodes": [{"name": "x", "address": "10.0.0.1", "port": 1, "port": 2}]}}}"#,
                "services.haproxy-k8s.clusters.a.controlPlaneNodes.0.port",
            ),
            (
                r#"{"extraConfig": {"global": "a", "global": "b"}}"#,
                "services.haproxy-k8s.extraConfig.global",
            ),
        ] {
            let error = failure(json);
            assert_eq!(error.path, path, "{json}");
            assert!(error.message.starts_with("given twice"), "{json}: {error}");
            assert!(error.location.is_some(), "{json}");
            assert!(!error.syntax, "{json}");
        }
        // The same key in different attribute sets is fine.
        assert!(parse_input(
            r#"{"bindAddress": "*", "stats": {"bindAddress": "127.0.0.1"}}"#,
            &OptionPath::new("")
        )
        .is_ok());
    }

    #[test]
    fn lists_in_place_of_attribute_sets_are_refused() {
        assert!(error_of("[]").contains("expected an attribute set"));
        let message = error_of(r#"{"controlPlaneNodes": [["a", "10.0.0.1"]]}"#);
        assert!(
            message
                .starts_with("services.haproxy-k8s.controlPlaneNodes.0: expected an attribute set"),
            "{message}"
        );
        let message = error_of(r#"{"clusters": {"b": {"controlPlaneNodes": [[]]}}}"#);
        assert!(
            message.starts_with(
                "services.haproxy-k8s.clusters.b.controlPlaneNodes.0: expected an attribute set"
            ),
            "{message}"
        );
        assert!(error_of(r#"{"healthCheck": ["tcp"]}"#)
            .starts_with("services.haproxy-k8s.healthCheck: expected an attribute set"));
        assert!(error_of(r#"{"clusters": []}"#)
            .starts_with("services.haproxy-k8s.clusters: expected an attribute set"));
    }
}
