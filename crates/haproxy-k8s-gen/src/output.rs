//! Writing the results: to stdout, or all-or-nothing into a directory.

use crate::exit;
use haproxy_k8s::Outputs;
use std::io::Write;
use std::path::Path;
use tempfile::NamedTempFile;

pub fn print_config(outputs: &Outputs) -> u8 {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(outputs.haproxy_cfg.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => exit::OK,
        Err(error) => {
            eprintln!("haproxy-k8s-gen: cannot write to standard output: {error}");
            exit::IO
        }
    }
}

/// Checks every target, writes every file to a temporary file beside its target, and renames
/// only when all of them are complete, so an error leaves no file created, truncated or
/// replaced.
pub fn write_all(dir: &Path, outputs: &Outputs) -> u8 {
    match stage_and_commit(dir, outputs) {
        Ok(()) => exit::OK,
        Err(problem) => {
            eprintln!(
                "haproxy-k8s-gen: cannot write to {}: {problem}",
                dir.display()
            );
            exit::IO
        }
    }
}

/// The error says whether anything was replaced.
fn stage_and_commit(dir: &Path, outputs: &Outputs) -> Result<(), String> {
    let staged =
        stage(dir, outputs).map_err(|problem| format!("{problem}; no file was replaced"))?;
    // Every file is complete on disk and every target can be replaced; each rename is atomic.
    let mut replaced = Vec::new();
    for (name, file) in staged {
        file.persist(dir.join(name)).map_err(|error| {
            let done = match replaced.is_empty() {
                true => "no file was replaced".to_string(),
                false => format!("already replaced: {}", replaced.join(", ")),
            };
            format!("replacing {name}: {}; {done}", error.error)
        })?;
        replaced.push(name);
    }
    // A keepalived.conf left from a run with a `vip` would keep announcing a VIP the options
    // no longer have: without one, it goes.
    if outputs.keepalived_conf.is_none() {
        match std::fs::remove_file(dir.join(KEEPALIVED_CONF)) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(format!(
                    "removing the stale {KEEPALIVED_CONF}: {error}; already replaced: {}",
                    replaced.join(", ")
                ))
            }
        }
    }
    Ok(())
}

const KEEPALIVED_CONF: &str = "keepalived.conf";

fn stage(dir: &Path, outputs: &Outputs) -> Result<Vec<(&'static str, NamedTempFile)>, String> {
    let context = |what: String| move |error: std::io::Error| format!("{what}: {error}");
    std::fs::create_dir_all(dir).map_err(context("creating the directory".into()))?;
    // A rename cannot replace a directory: find that (and anything else that is not a file)
    // before the first rename, not after some files were already replaced.
    for (name, _) in outputs.files() {
        let target = dir.join(name);
        match std::fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_dir() => return Err(format!("{name} is a directory")),
            Ok(meta) if !meta.is_file() && !meta.file_type().is_symlink() => {
                return Err(format!("{name} is not a regular file"))
            }
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(format!("{name}: {error}")),
        }
    }
    let mut staged = Vec::new();
    for (name, contents) in outputs.files() {
        let mut file = NamedTempFile::with_prefix_in(format!(".{name}."), dir)
            .map_err(context(format!("creating a temporary file for {name}")))?;
        file.write_all(contents.as_bytes())
            .and_then(|()| file.as_file().sync_all())
            .map_err(context(format!("writing {name}")))?;
        set_readable(&file).map_err(context(format!("setting the mode of {name}")))?;
        staged.push((name, file));
    }
    Ok(staged)
}

/// tempfile creates files 0600; the outputs are configs, not secrets (no secret is ever in them).
fn set_readable(file: &NamedTempFile) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
}
