//! Writing the results: to stdout, or atomically into a directory.

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

/// Writes every file to a temporary file beside its target first and renames only when all
/// of them are complete, so an error leaves no file created, truncated or replaced.
pub fn write_all(dir: &Path, outputs: &Outputs) -> u8 {
    match stage_and_commit(dir, outputs) {
        Ok(()) => exit::OK,
        Err(error) => {
            eprintln!(
                "haproxy-k8s-gen: cannot write to {}: {error:#}",
                dir.display()
            );
            exit::IO
        }
    }
}

fn stage_and_commit(dir: &Path, outputs: &Outputs) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).context("creating the directory")?;
    let mut staged = Vec::new();
    for (name, contents) in outputs.files() {
        let mut file = NamedTempFile::with_prefix_in(format!(".{name}."), dir)
            .with_context(|| format!("creating a temporary file for {name}"))?;
        file.write_all(contents.as_bytes())
            .and_then(|()| file.as_file().sync_all())
            .with_context(|| format!("writing {name}"))?;
        set_readable(&file).with_context(|| format!("setting the mode of {name}"))?;
        staged.push((name, file));
    }
    // Every file is complete on disk; the renames below are each atomic.
    for (name, file) in staged {
        file.persist(dir.join(name))
            .with_context(|| format!("replacing {name}"))?;
    }
    Ok(())
}

/// tempfile creates files 0600; the outputs are configs, not secrets (no secret is ever in them).
fn set_readable(file: &NamedTempFile) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
}
