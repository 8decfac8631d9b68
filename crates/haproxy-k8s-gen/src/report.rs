//! How the library's errors are shown: `FILE:LINE:COLUMN: option.path: message`, the way
//! compilers and editors expect, for errors found while reading the JSON text.

use haproxy_k8s::{InputError, InputErrors};

/// The whole report for stderr; `source` names the input (`<stdin>` for standard input).
pub fn errors(source: &str, errors: &InputErrors) -> String {
    let mut out = String::new();
    if let Some(syntax) = errors.0.iter().find(|error| error.syntax) {
        // Not JSON: no option was read, so this is not an "invalid option".
        out.push_str(&format!("haproxy-k8s-gen: {}\n", located(source, syntax)));
        return out;
    }
    let count = errors.0.len();
    out.push_str(&format!(
        "haproxy-k8s-gen: {count} invalid option{} in {source}:\n",
        if count == 1 { "" } else { "s" }
    ));
    for error in &errors.0 {
        out.push_str(&format!("  {}\n", located(source, error)));
    }
    out
}

fn located(source: &str, error: &InputError) -> String {
    let text = match (&error.syntax, error.path.is_empty()) {
        // A syntax error is about the text, not the (prefix) path.
        (true, _) | (false, true) => error.message.clone(),
        (false, false) => error.to_string(),
    };
    match error.location {
        Some(location) => format!("{source}:{location}: {text}"),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_are_not_invalid_options() {
        let found = haproxy_k8s::plan("{\n  \"statsPort\": 8404,\n}", "p").unwrap_err();
        let text = errors("opts.json", &found);
        assert!(
            text.starts_with("haproxy-k8s-gen: opts.json:3:1: not valid JSON: "),
            "{text}"
        );
        assert!(!text.contains("invalid option"), "{text}");
    }

    #[test]
    fn type_errors_carry_file_line_and_column() {
        let found = haproxy_k8s::plan("{\n  \"statsPort\": \"8404\"\n}", "p").unwrap_err();
        assert_eq!(
            errors("opts.json", &found),
            "haproxy-k8s-gen: 1 invalid option in opts.json:\n  opts.json:2:21: p.statsPort: expected an integer, found the string \"8404\"\n"
        );
    }

    #[test]
    fn validation_errors_have_only_their_path() {
        let found = haproxy_k8s::plan(r#"{"statsPort": 0}"#, "p").unwrap_err();
        let text = errors("<stdin>", &found);
        assert!(text.contains("\n  p.statsPort: "), "{text}");
    }
}
