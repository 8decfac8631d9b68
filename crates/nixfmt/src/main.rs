//! `nixfmt-check`: alejandra formatting for `.nix` files.
//!
//! ```text
//! nixfmt-check [--write] [PATH]...
//! ```
//!
//! Each PATH is a `.nix` file or a directory searched recursively for `.nix` files
//! (skipping `.git`, `target*` and `result*`). Default PATH is `.`.
//! Without `--write`, files are only checked: exit 0 when every file is formatted,
//! 1 when some file would change (each is named), 2 on a parse error or bad usage.
//! With `--write`, unformatted files are rewritten in place.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: nixfmt-check [--write] [PATH]...";

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name == ".git" || name.starts_with("target") || name.starts_with("result") {
                continue;
            }
            let p = entry.path();
            if p.is_dir() {
                collect(&p, out)?;
            } else if name.ends_with(".nix") {
                out.push(p);
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut write = false;
    let mut roots = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--write" | "-w" => write = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            s if s.starts_with('-') => {
                eprintln!("nixfmt-check: unknown flag {s}\n{USAGE}");
                return ExitCode::from(2);
            }
            _ => roots.push(PathBuf::from(arg)),
        }
    }
    if roots.is_empty() {
        roots.push(PathBuf::from("."));
    }

    let mut files = Vec::new();
    for root in &roots {
        if let Err(e) = collect(root, &mut files) {
            eprintln!("nixfmt-check: {}: {e}", root.display());
            return ExitCode::from(2);
        }
    }

    let mut unformatted = 0usize;
    let mut errors = 0usize;
    for file in &files {
        let shown = file.display().to_string();
        let before = match std::fs::read_to_string(file) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("nixfmt-check: {shown}: {e}");
                errors += 1;
                continue;
            }
        };
        match alejandra::format::in_memory(shown.clone(), before) {
            (alejandra::format::Status::Error(e), _) => {
                eprintln!("nixfmt-check: {shown}: parse error: {e}");
                errors += 1;
            }
            (alejandra::format::Status::Changed(false), _) => {}
            (alejandra::format::Status::Changed(true), after) => {
                if write {
                    if let Err(e) = std::fs::write(file, after) {
                        eprintln!("nixfmt-check: {shown}: {e}");
                        errors += 1;
                    } else {
                        eprintln!("formatted {shown}");
                    }
                } else {
                    eprintln!("not alejandra-formatted: {shown}");
                    unformatted += 1;
                }
            }
        }
    }

    if errors > 0 {
        ExitCode::from(2)
    } else if unformatted > 0 {
        eprintln!(
            "nixfmt-check: {unformatted} of {} file(s) need formatting (run `nixfmt-check --write`)",
            files.len()
        );
        ExitCode::from(1)
    } else {
        println!("nixfmt-check: {} file(s) alejandra-formatted", files.len());
        ExitCode::SUCCESS
    }
}
