//! Checks of single values (addresses: `addresses.rs`). Each returns the validated value or a message for the user.
//!
//! Why so strict: HAProxy's tokenizer ends a line at `\n`, `\r` or NUL even inside quotes,
//! starts a comment at `#`, splits on whitespace and expands `$VAR` in double quotes. Every
//! value we print is therefore limited to characters that cannot do any of that.

use crate::plan::Duration;

pub(crate) fn port(value: i64) -> Result<u16, String> {
    match u16::try_from(value) {
        Ok(port) if port >= 1 => Ok(port),
        _ => Err(format!("port {value} is out of range: use 1–65535")),
    }
}

pub(crate) fn in_range(value: i64, low: i64, high: i64) -> Result<u32, String> {
    if (low..=high).contains(&value) {
        Ok(value as u32)
    } else {
        Err(format!("{value} is out of range: use {low}–{high}"))
    }
}

/// Cluster names become part of proxy names (`k8s-api.<name>`); node names are server names.
/// HAProxy accepts `[A-Za-z0-9_:.-]`; we drop `:` (it reads as address:port in the runtime
/// API) and forbid a leading `-` or `.` (read as an option or a hidden file by tools).
pub(crate) fn name(value: &str, allow_dot: bool) -> Result<String, String> {
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || (allow_dot && c == '.');
    let what = if allow_dot {
        "letters, digits, `_`, `-` and `.`"
    } else {
        "letters, digits, `_` and `-`"
    };
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > 63 {
        return Err(format!("{} is longer than 63 characters", show(value)));
    }
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "{} contains {}: use only {what}",
            show(value),
            show_char(bad)
        ));
    }
    if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("{} must start with a letter or digit", show(value)));
    }
    Ok(value.to_string())
}

/// HAProxy time syntax: digits and an optional unit (`us ms s m h d`, default ms).
pub(crate) fn duration(value: &str, allow_zero: bool) -> Result<Duration, String> {
    let digits_end = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(digits_end);
    let scale: u64 = match unit {
        "us" => 1,
        "" | "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => {
            return Err(format!(
                "{} is not a duration: use a number and one of us, ms, s, m, h, d (like `5s`)",
                show(value)
            ))
        }
    };
    let number: u64 = match digits.parse() {
        Ok(number) if !digits.is_empty() => number,
        _ => {
            return Err(format!(
                "{} is not a duration: use a number and one of us, ms, s, m, h, d (like `5s`)",
                show(value)
            ))
        }
    };
    let micros = number
        .checked_mul(scale)
        .filter(|micros| *micros <= Duration::MAX_MILLIS * 1_000)
        .ok_or_else(|| {
            format!(
                "{} is longer than HAProxy's limit of 2147483647ms (about 24.8 days)",
                show(value)
            )
        })?;
    if micros == 0 && !allow_zero {
        return Err(format!("{} must be longer than zero", show(value)));
    }
    if micros > 0 && micros < 1_000 {
        return Err(format!(
            "{} is shorter than HAProxy's 1ms resolution",
            show(value)
        ));
    }
    Ok(Duration::from_micros(micros))
}

/// Absolute paths from a conservative character set; no `..`, no `//`.
pub(crate) fn absolute_path(value: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/._-+@".contains(c);
    if !value.starts_with('/') {
        return Err(format!("{} is not an absolute path", show(value)));
    }
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "{} contains {}: paths may use letters, digits and / . _ - + @",
            show(value),
            show_char(bad)
        ));
    }
    if value.len() > 4095 {
        return Err("path is longer than 4095 bytes".into());
    }
    if value.split('/').any(|part| part == "..") || value.contains("//") {
        return Err(format!("{} must not contain `..` or `//`", show(value)));
    }
    Ok(value.to_string())
}

/// A file that holds a secret must not live in the world-readable Nix store.
///
/// Our own few lines instead of `nix-compat` (whose crates.io release is an empty
/// placeholder): anything below `/nix/store/` is readable by every local user, whatever its
/// hash or name, so the prefix is the whole test.
pub(crate) fn secret_path(value: &str) -> Result<String, String> {
    let path = absolute_path(value)?;
    if path == "/nix/store" || path.starts_with("/nix/store/") {
        return Err(format!(
            "{} is in the Nix store, which every local user can read: keep secrets outside it (e.g. /run/secrets/…) and give that path",
            show(value)
        ));
    }
    Ok(path)
}

/// URL paths for the stats page and the health check request.
pub(crate) fn url_path(value: &str, allow_query: bool) -> Result<String, String> {
    let allowed = |c: char| {
        c.is_ascii_alphanumeric() || "/._-~".contains(c) || (allow_query && "?=&%".contains(c))
    };
    if !value.starts_with('/') {
        return Err(format!("{} must start with `/`", show(value)));
    }
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        let extra = if allow_query { " ? = & %" } else { "" };
        return Err(format!(
            "{} contains {}: use letters, digits and / . _ - ~{extra}",
            show(value),
            show_char(bad)
        ));
    }
    if value.len() > 1024 {
        return Err("path is longer than 1024 characters".into());
    }
    Ok(value.to_string())
}

/// Linux interface names: at most 15 bytes, no `/`, whitespace or quotes.
pub(crate) fn interface(value: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
    if value.is_empty() || value.len() > 15 || !value.chars().all(allowed) {
        return Err(format!(
            "{} is not an interface name: 1–15 letters, digits, `_`, `.` or `-`",
            show(value)
        ));
    }
    Ok(value.to_string())
}

/// One of a fixed set of keywords; the error lists them.
pub(crate) fn one_of(value: &str, choices: &[&'static str]) -> Result<&'static str, String> {
    choices
        .iter()
        .find(|choice| **choice == value)
        .copied()
        .ok_or_else(|| {
            let hint = crate::errors::closest(value, choices)
                .map(|choice| format!("; did you mean `{choice}`?"))
                .unwrap_or_default();
            format!(
                "{} is not one of: {}{hint}",
                show(value),
                choices.join(", ")
            )
        })
}

/// Operator lines for `extraConfig`: anything but bytes that silently cut or end a line.
pub(crate) fn extra_lines(value: &str) -> Result<Vec<String>, String> {
    if let Some(bad) = value
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        return Err(format!(
            "contains {}: HAProxy ends or drops lines at such bytes",
            show_char(bad)
        ));
    }
    Ok(value
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(String::from)
        .collect())
}

/// Quotes a user value for an error message without letting control bytes through.
pub(crate) fn show(value: &str) -> String {
    format!("{:?}", value)
}

pub(crate) fn show_char(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("the character {:?}", c)
    } else {
        format!("`{c}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_haproxy_units_and_limits() {
        assert_eq!(duration("5s", false).unwrap().to_string(), "5s");
        assert_eq!(duration("90s", false).unwrap().to_string(), "90s");
        assert_eq!(duration("120s", false).unwrap().to_string(), "2m");
        assert_eq!(duration("1500", false).unwrap().to_string(), "1500ms");
        assert_eq!(
            duration("2147483647ms", false).unwrap().to_string(),
            "2147483647ms"
        );
        assert!(duration("2147483648ms", false).is_err());
        assert!(duration("25d", false).is_err());
        assert!(duration("0s", false).is_err());
        assert!(duration("500us", false).is_err());
        assert!(duration("5 s", false).is_err());
        assert!(duration("s", false).is_err());
        assert!(duration("-1s", false).is_err());
        assert!(duration("99999999999999999999d", false).is_err());
    }

    #[test]
    fn names_reject_what_haproxy_would_misread() {
        assert!(name("k8s-master-1", true).is_ok());
        assert!(name("a.b", false).is_err());
        assert!(name("-a", true).is_err());
        assert!(name("a:b", true).is_err());
        assert!(name("a b", true).is_err());
        assert!(name("", true).is_err());
        assert!(name(&"a".repeat(64), true).is_err());
    }

    #[test]
    fn secrets_stay_out_of_the_store() {
        assert!(secret_path("/run/secrets/stats.env").is_ok());
        let error = secret_path("/nix/store/0123456789abcdfghijklmnpqrsvwxyz-key.pem").unwrap_err();
        assert!(error.contains("Nix store"), "{error}");
        assert!(secret_path("relative/key.pem").is_err());
        assert!(secret_path("/etc/../nix/store/x").is_err());
    }

    #[test]
    fn extra_lines_refuse_line_breaking_bytes() {
        assert_eq!(
            extra_lines("  option foo\n\n  bar baz  \n").unwrap(),
            vec!["option foo", "bar baz"]
        );
        assert!(extra_lines("a\rb").is_err());
        assert!(extra_lines("a\0b").is_err());
    }
}
