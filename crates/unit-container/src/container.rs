//! A booted Debian 13 container: `systemd-nspawn --boot --volatile=overlay` (the tree stays
//! read-only; every write lands in a tmpfs that vanishes with the container).

use std::fs;
use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// How long a boot, a unit start or a reload may take at most. Generous: the tests must pass
/// with a CPU hog beside them; they return as soon as the event happens.
pub const DEADLINE: Duration = Duration::from_secs(120);

pub struct Container {
    name: String,
    nspawn: Child,
    leader: u32,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Container {
    /// Boots `tree` with a private network and waits until systemd has finished booting.
    pub fn boot(tree: &Path) -> Result<Self> {
        let name = format!(
            "hku{}x{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = tempfile::Builder::new()
            .prefix("unit-container.")
            .tempdir()?;
        let log = dir.path().join("nspawn.log");
        let out = fs::File::create(&log)?;
        let mut cmd = Command::new("systemd-nspawn");
        cmd.arg("-D")
            .arg(tree)
            .args([
                "--volatile=overlay",
                "--boot",
                "--register=no",
                "--keep-unit",
                "--private-network",
                "--console=read-only",
                "--machine",
                &name,
            ])
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        // If this thread dies without dropping the container, nspawn still powers it off.
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let nspawn = cmd.spawn().context("spawning systemd-nspawn")?;
        let mut container = Container {
            name,
            leader: 0,
            nspawn,
            log,
            _dir: dir,
        };
        container.leader = container.find_leader()?;
        container.wait_booted()?;
        Ok(container)
    }

    /// The container's PID 1 (systemd), as seen from here: a direct child of nspawn.
    fn find_leader(&mut self) -> Result<u32> {
        let parent = self.nspawn.id();
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if let Some(status) = self.nspawn.try_wait()? {
                bail!("systemd-nspawn exited ({status}): {}", self.log_tail());
            }
            for entry in fs::read_dir("/proc")?.flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    continue;
                };
                // pid (comm) state ppid ...; comm may hold spaces, so split after the ')'.
                let Some((comm, rest)) = stat.rsplit_once(')') else {
                    continue;
                };
                let ppid = rest
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.parse::<u32>().ok());
                if ppid == Some(parent) && comm.ends_with("(systemd") {
                    return Ok(pid);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "no container init appeared under systemd-nspawn: {}",
            self.log_tail()
        )
    }

    fn wait_booted(&mut self) -> Result<()> {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < DEADLINE {
            if let Some(status) = self.nspawn.try_wait()? {
                bail!("systemd-nspawn exited ({status}): {}", self.log_tail());
            }
            let out = self.exec(&["systemctl", "is-system-running"])?;
            last = String::from_utf8_lossy(&out.stdout).trim().to_string();
            match last.as_str() {
                "running" | "degraded" => return Ok(()),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        bail!("container did not finish booting (last state `{last}`)")
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// PID of the container's init in this PID namespace (for `setns`).
    pub fn leader(&self) -> u32 {
        self.leader
    }

    /// The container's root directory, reachable from here.
    pub fn root(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.leader))
    }

    /// `path` (absolute, inside the container) as a path reachable from here.
    pub fn path(&self, path: &str) -> PathBuf {
        self.root().join(path.trim_start_matches('/'))
    }

    /// Runs a command inside the container (all its namespaces).
    pub fn exec(&self, args: &[&str]) -> Result<Output> {
        Command::new("nsenter")
            .arg("-t")
            .arg(self.leader.to_string())
            .args(["-m", "-u", "-i", "-n", "-p", "-C", "--"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("nsenter {args:?}"))
    }

    /// Runs a command inside the container and returns its stdout; fails on a non-zero exit.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        let out = self.exec(args)?;
        if !out.status.success() {
            bail!(
                "{args:?} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Writes a file inside the container, creating its directory.
    pub fn write(&self, path: &str, contents: impl AsRef<[u8]>) -> Result<()> {
        let host = self.path(path);
        if let Some(dir) = host.parent() {
            fs::create_dir_all(dir)?;
        }
        fs::write(&host, contents).with_context(|| format!("writing {path} in the container"))
    }

    /// Points `link` at `target` inside the container, atomically (rename over the old link).
    pub fn link(&self, target: &str, link: &str) -> Result<()> {
        let host = self.path(link);
        if let Some(dir) = host.parent() {
            fs::create_dir_all(dir)?;
        }
        let tmp = host.with_extension("new-link");
        let _ = fs::remove_file(&tmp);
        symlink(target, &tmp)?;
        fs::rename(&tmp, &host).with_context(|| format!("linking {link} -> {target}"))
    }

    /// A property of a unit (`systemctl show -P`).
    pub fn unit_property(&self, unit: &str, property: &str) -> Result<String> {
        Ok(self
            .run(&["systemctl", "show", "-P", property, unit])?
            .trim()
            .to_string())
    }

    /// Waits until `check` returns Some, polling the container's state, at most [`DEADLINE`].
    pub fn wait_for<T>(
        &self,
        what: &str,
        mut check: impl FnMut() -> Result<Option<T>>,
    ) -> Result<T> {
        let start = Instant::now();
        let mut last_error = None;
        while start.elapsed() < DEADLINE {
            match check() {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(e) => last_error = Some(e),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(anyhow!(
            "timed out after {DEADLINE:?} waiting for {what}{}",
            last_error
                .map(|e| format!(" (last error: {e:#})"))
                .unwrap_or_default()
        ))
    }

    /// The unit's journal (messages only), for assertions and failure messages.
    pub fn journal(&self, unit: &str) -> Result<String> {
        self.run(&["journalctl", "--no-pager", "-o", "cat", "-u", unit])
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // SIGTERM makes nspawn power the container off cleanly; SIGKILL if that hangs.
        // SAFETY: kill on our own child's PID.
        unsafe { libc::kill(self.nspawn.id() as libc::pid_t, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(_)) = self.nspawn.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Ok(None) = self.nspawn.try_wait() {
            let _ = self.nspawn.kill();
            let _ = self.nspawn.wait();
            // The container's processes outlive a killed nspawn: end them too.
            // SAFETY: kill on the container init's PID, which we found as nspawn's child.
            unsafe { libc::kill(self.leader as libc::pid_t, libc::SIGKILL) };
        }
        // nspawn leaves its per-machine propagation directory behind with --register=no.
        let _ = fs::remove_dir_all(format!("/run/systemd/nspawn/propagate/{}", self.name));
    }
}
