//! HAProxy control: which HAProxy runs (Debian 12's 2.6 or Debian 13's 3.0), `haproxy -c`,
//! starting `haproxy -Ws` in the router namespace, reloads (SIGUSR2 to the master), and server
//! states from the admin socket.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};

use crate::process::{kill_and_reap, run_limited, signal, spawn_in_ns, wait_for, which};
use crate::stats;

/// Environment variable that picks the HAProxy of [`HaproxyVersion::from_env`]: `2.6` or `3.0`.
pub const VERSION_ENV: &str = "HAPROXY_K8S_TESTBED_HAPROXY";

/// The HAProxy a testbed runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HaproxyVersion {
    /// Debian 12's `haproxy` on PATH.
    V2_6,
    /// Debian 13's, from the tree tests/debian13-tree.sh builds (NixOS ships the 3.x line).
    /// It runs natively, chrooted into the tree inside a private mount namespace: through
    /// the tree's loader (`haproxy-3.0`) the master could not re-execute itself on SIGUSR2,
    /// because the re-exec runs the binary without that loader.
    V3_0,
}

impl HaproxyVersion {
    /// `HAPROXY_K8S_TESTBED_HAPROXY` (`2.6`, the default, or `3.0`).
    pub fn from_env() -> Result<HaproxyVersion> {
        match std::env::var(VERSION_ENV).as_deref() {
            Err(_) | Ok("" | "2.6") => Ok(HaproxyVersion::V2_6),
            Ok("3.0") => Ok(HaproxyVersion::V3_0),
            Ok(other) => bail!("{VERSION_ENV}={other}: expected 2.6 or 3.0"),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            HaproxyVersion::V2_6 => "2.6",
            HaproxyVersion::V3_0 => "3.0",
        }
    }

    /// The Debian 13 tree (`HAPROXY_K8S_TRIXIE_TREE`, as in tests/debian13-tree.sh).
    pub fn trixie_tree() -> PathBuf {
        std::env::var_os("HAPROXY_K8S_TRIXIE_TREE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/cache/haproxy-k8s/trixie"))
    }

    /// Why this HAProxy cannot run here, if it cannot. Every reason is fixed by
    /// tests/install-deps.sh.
    pub fn unavailable(self) -> Option<String> {
        match self {
            HaproxyVersion::V2_6 => which("haproxy")
                .is_none()
                .then(|| "`haproxy` is not installed / not on PATH".to_string()),
            HaproxyVersion::V3_0 => {
                let tree = Self::trixie_tree();
                if !tree.join("usr/sbin/haproxy").is_file() || !tree.join("tmp").is_dir() {
                    return Some(format!(
                        "the Debian 13 tree with HAProxy 3.0 is missing at {} \
                         (tests/install-deps.sh builds it)",
                        tree.display()
                    ));
                }
                ["unshare", "chroot", "mount"]
                    .into_iter()
                    .find(|t| which(t).is_none())
                    .map(|t| format!("`{t}` is not installed / not on PATH"))
            }
        }
    }

    /// The command line that runs this HAProxy with `args` (file paths under /tmp keep their
    /// meaning: for 3.0 the host's /tmp is bind-mounted at the tree's /tmp).
    pub fn command(self, args: &[&str]) -> Vec<String> {
        let mut cmd: Vec<String> = match self {
            HaproxyVersion::V2_6 => vec!["haproxy".into()],
            HaproxyVersion::V3_0 => {
                // A private mount namespace: the bind mounts exist only for this process tree
                // and vanish with it, so the shared tree on disk is never changed.
                let script = "set -e; t=\"$1\"; shift; \
                              mount --bind /tmp \"$t/tmp\"; \
                              mount --rbind /dev \"$t/dev\"; \
                              mount -t proc proc \"$t/proc\"; \
                              exec chroot \"$t\" /usr/sbin/haproxy \"$@\"";
                vec![
                    "unshare".into(),
                    "--mount".into(),
                    "--propagation".into(),
                    "private".into(),
                    "sh".into(),
                    "-c".into(),
                    script.into(),
                    "haproxy-3.0".into(),
                    Self::trixie_tree().to_string_lossy().into_owned(),
                ]
            }
        };
        cmd.extend(args.iter().map(|a| a.to_string()));
        cmd
    }

    /// `haproxy -c -f cfg`: Ok, or the checker's output.
    pub fn check(self, cfg: &Path) -> Result<()> {
        let p = cfg.to_string_lossy();
        let cmd = self.command(&["-c", "-f", &p]);
        let argv: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let out = run_limited(Duration::from_secs(60), &argv)?;
        if !out.status.success() {
            bail!(
                "haproxy {} -c rejected {}: {}{}",
                self.label(),
                cfg.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

/// One HAProxy master (`-Ws`) in a namespace, with its config and admin socket in `dir`.
/// Dropping it kills the master (workers die with the namespace).
pub struct Haproxy {
    pub version: HaproxyVersion,
    dir: PathBuf,
    master: Option<Child>,
}

impl Haproxy {
    pub fn new(version: HaproxyVersion, dir: &Path) -> Haproxy {
        Haproxy {
            version,
            dir: dir.to_path_buf(),
            master: None,
        }
    }

    pub fn cfg_path(&self) -> PathBuf {
        self.dir.join("haproxy.cfg")
    }

    pub fn admin_socket(&self) -> PathBuf {
        self.dir.join("admin.sock")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("haproxy.log")).unwrap_or_default()
    }

    pub fn master_pid(&self) -> Option<u32> {
        self.master.as_ref().map(Child::id)
    }

    /// Writes `cfg`, checks it with `haproxy -c`, starts `haproxy -Ws` in namespace `ns` and
    /// waits (bounded) until the admin socket answers.
    pub fn start(&mut self, ns: &str, cfg: &str) -> Result<()> {
        let path = self.cfg_path();
        std::fs::write(&path, cfg)?;
        self.version
            .check(&path)
            .map_err(|e| anyhow!("{e}\n{cfg}"))?;
        let p = path.to_string_lossy();
        let cmd = self.version.command(&["-Ws", "-f", &p]);
        let argv: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let child = spawn_in_ns(ns, &argv, &self.dir.join("haproxy.log"))?;
        self.master = Some(child);
        let sock = self.admin_socket();
        wait_for(Duration::from_secs(30), Duration::from_millis(20), || {
            stats::admin_command(&sock, "show info").ok()
        })
        .ok_or_else(|| {
            anyhow!(
                "haproxy {} did not open its admin socket; log:\n{}",
                self.version.label(),
                self.log()
            )
        })?;
        Ok(())
    }

    /// Rewrites the config and reloads the master with SIGUSR2 (what `systemctl reload` does
    /// for `-Ws`). Returns once the admin socket answers with the new worker's process
    /// (bounded).
    pub fn reload(&mut self, cfg: &str) -> Result<()> {
        let path = self.cfg_path();
        let tmp = self.dir.join("haproxy.cfg.new");
        std::fs::write(&tmp, cfg)?;
        self.version.check(&tmp)?;
        std::fs::rename(&tmp, &path)?;
        let sock = self.admin_socket();
        let old_pid = stats::info_field(&sock, "Pid").unwrap_or_default();
        let master = self
            .master_pid()
            .ok_or_else(|| anyhow!("haproxy not running"))?;
        signal(master, libc::SIGUSR2)?;
        wait_for(Duration::from_secs(30), Duration::from_millis(20), || {
            stats::info_field(&sock, "Pid").filter(|p| *p != old_pid)
        })
        .ok_or_else(|| anyhow!("no new haproxy worker after reload; log:\n{}", self.log()))?;
        Ok(())
    }

    /// Current server state from the admin socket: server name -> status (UP, DOWN, ...).
    pub fn server_states(&self) -> Result<HashMap<String, String>> {
        let rows = stats::show_stat(&self.admin_socket())?;
        Ok(stats::servers(&rows)
            .into_iter()
            .filter(|(name, _)| name.starts_with('n'))
            .map(|(name, row)| (name, row.get("status").cloned().unwrap_or_default()))
            .collect())
    }

    /// Waits until server `name`'s status starts with `want` ("UP"/"DOWN"), bounded; returns
    /// how long it took.
    pub fn wait_state(&self, name: &str, want: &str, limit: Duration) -> Option<Duration> {
        wait_for(limit, Duration::from_millis(50), || {
            self.server_states()
                .ok()
                .and_then(|m| m.get(name).cloned())
                .filter(|s| s.starts_with(want))
        })
        .map(|(_, d)| d)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        kill_and_reap(&mut self.master.take().into_iter().collect::<Vec<_>>());
    }
}
