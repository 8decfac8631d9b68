//! serde's messages in the words of the option set: no Rust type names, and a hint at the
//! option that was meant.

use super::levels::{all_options, expected_names, level_of};
use crate::errors::{closest, OptionPath};

/// serde's message for the value at `relative` (dotted) → the path to report and the message.
pub(super) fn data_error(message: &str, relative: &str, paths: &OptionPath) -> (String, String) {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return (relative.to_string(), unknown_option(rest, relative, paths));
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let field = rest.trim_matches('`');
        let path = join(relative, field);
        return (path, "missing: this option has no default".into());
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some((found, expected)) = rest.rsplit_once(", expected ") {
                let message = format!(
                    "expected {}, found {}",
                    expected_words(expected),
                    found_words(found)
                );
                return (relative.to_string(), message);
            }
        }
    }
    (relative.to_string(), message.to_string())
}

/// serde_json's syntax messages, a little plainer.
pub(super) fn syntax_error(message: &str) -> String {
    let plain = message
        .replace("EOF while parsing", "the input ends inside")
        .replace("trailing characters", "more text after the JSON value")
        .replace("recursion limit exceeded", "nested too deeply");
    format!("not valid JSON: {plain}")
}

fn join(parent: &str, field: &str) -> String {
    match parent.is_empty() {
        true => field.to_string(),
        false => format!("{parent}.{field}"),
    }
}

/// serde's name of what it wanted → ours.
fn expected_words(serde: &str) -> String {
    let words = match serde {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u32" | "u64" | "u128"
        | "usize" => "an integer",
        "u16" => "a port number 1–65535",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a string" | "a borrowed string" | "a char" => "a string",
        "a sequence" => "a list (JSON array)",
        "a map" => "an attribute set (JSON object)",
        other if other.starts_with("struct ") => "an attribute set (JSON object)",
        other => other,
    };
    words.to_string()
}

/// serde's description of what it found (`integer `5``, `string "x"`) → ours.
fn found_words(serde: &str) -> String {
    let quoted = |rest: &str| rest.trim_matches('`').to_string();
    if let Some(rest) = serde.strip_prefix("integer ") {
        return format!("the integer {}", quoted(rest));
    }
    if let Some(rest) = serde.strip_prefix("floating point ") {
        return format!("the number {}", quoted(rest));
    }
    if let Some(rest) = serde.strip_prefix("boolean ") {
        return quoted(rest);
    }
    if let Some(rest) = serde.strip_prefix("string ") {
        return format!("the string {rest}");
    }
    match serde {
        "sequence" => "a list (JSON array)".into(),
        "map" => "an attribute set (JSON object)".into(),
        "unit value" | "null" => "null".into(),
        other => other.to_string(),
    }
}

/// "unknown field `k`, expected one of `a`, `b`": the closest option here, else the same
/// name at another level (`stats.statsPort` → `statsPort`), else the list of options here.
fn unknown_option(serde: &str, relative: &str, paths: &OptionPath) -> String {
    let unknown = serde.split('`').nth(1).unwrap_or(serde);
    let here = expected_names(&format!("unknown field {serde}"));
    let here: Vec<&str> = here.iter().map(String::as_str).collect();
    if let Some(suggestion) = closest(unknown, &here) {
        return format!("unknown option `{unknown}`; did you mean `{suggestion}`?");
    }
    let segments: Vec<String> = relative.split('.').map(String::from).collect();
    let level = level_of(&segments[..segments.len().saturating_sub(1)]);
    let elsewhere: Vec<String> = all_options()
        .into_iter()
        .filter(|(other, _)| Some(*other) != level)
        .flat_map(|(other, names)| {
            names
                .into_iter()
                .filter(|name| name.eq_ignore_ascii_case(unknown))
                .map(move |name| match paths.join(other).is_empty() {
                    // Without a prefix, a bare `statsPort` would not say where it belongs.
                    true => format!("`{name}` at the top level"),
                    false => format!("`{}`", paths.join(&join(other, &name))),
                })
        })
        .collect();
    match elsewhere.as_slice() {
        [] if here.is_empty() => {
            format!("unknown option `{unknown}`: this attribute set has no options")
        }
        [] => format!(
            "unknown option `{unknown}`; known options here: {}",
            here.join(", ")
        ),
        [one] => format!("`{unknown}` is not an option here; did you mean {one}?"),
        many => format!(
            "`{unknown}` is not an option here; did you mean one of {}?",
            many.join(", ")
        ),
    }
}
