//! Processes: bounded commands, bounded waits, long-running children in a namespace, the
//! guardian that cleans up after a killed test process, and the sweep of dead runs.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].iter().map(PathBuf::from))
    {
        let p = dir.join(tool);
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

/// Runs a command with a hard time limit (via coreutils `timeout`), returns its output.
pub fn run_limited(limit: Duration, args: &[&str]) -> Result<Output> {
    let secs = format!("{}", limit.as_secs().max(1));
    let out = Command::new("timeout")
        .arg("-s")
        .arg("KILL")
        .arg(&secs)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {args:?}"))?;
    Ok(out)
}

/// Like [`run_limited`] but fails unless the command exits 0.
pub fn run_ok(args: &[&str]) -> Result<String> {
    let out = run_limited(Duration::from_secs(30), args)?;
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}{}",
            args,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls `f` every `every` until it returns `Some`, at most until `limit` (and at most
/// `limit / every + 1` times). Returns the value and the time it took.
pub fn wait_for<T>(
    limit: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<(T, Duration)> {
    let start = Instant::now();
    let max = (limit.as_millis() / every.as_millis().max(1)) as u64 + 1;
    for _ in 0..max {
        if let Some(v) = f() {
            return Some((v, start.elapsed()));
        }
        if start.elapsed() >= limit {
            break;
        }
        std::thread::sleep(every);
    }
    None
}

/// Spawns `args` inside network namespace `ns` with stdout/stderr appended to `log`.
pub fn spawn_in_ns(ns: &str, args: &[&str], log: &Path) -> Result<Child> {
    let logf = std::fs::File::create(log)?;
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .stdin(Stdio::null())
        .stdout(logf.try_clone()?)
        .stderr(logf)
        .spawn()
        .with_context(|| format!("spawning {args:?} in {ns}"))
}

/// Sends `sig` to `pid` (a process we started).
pub fn signal(pid: u32, sig: i32) -> Result<()> {
    // SAFETY: plain kill(2) on a pid we own.
    if unsafe { libc::kill(pid as i32, sig) } != 0 {
        bail!("kill({pid}, {sig}): {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Waits (bounded) for `child` to exit.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    wait_for(limit, Duration::from_millis(20), || {
        child.try_wait().ok().flatten()
    })
    .map(|(st, _)| st)
}

/// SIGKILLs every process inside network namespace `ns` (workers, helpers we did not spawn
/// directly).
pub fn kill_netns_pids(ns: &str) {
    if let Ok(out) = run_limited(Duration::from_secs(5), &["ip", "netns", "pids", ns]) {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                // SAFETY: kill(2) on a pid inside a namespace of ours.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// The long-running children of one testbed: stand-in nodes by index, and helpers.
/// Dropping it kills and reaps them all.
#[derive(Default)]
pub struct Children {
    pub nodes: HashMap<usize, Child>,
    pub others: Vec<Child>,
}

impl Children {
    pub fn kill_all(&mut self) {
        let mut all: Vec<Child> = self.nodes.drain().map(|(_, c)| c).collect();
        all.append(&mut self.others);
        kill_and_reap(&mut all);
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.kill_all();
    }
}

pub fn kill_and_reap(children: &mut [Child]) {
    for c in children.iter_mut() {
        let _ = c.kill();
    }
    for c in children.iter_mut() {
        let _ = c.wait();
    }
}

/// A shell in its own session (so Ctrl-C does not reach it) that polls our pid; once we are
/// gone without unwinding (SIGINT, SIGKILL), it kills what runs in our namespaces, deletes
/// them and the run directory. Dropping it (the normal end) stops it.
pub struct Guardian(Child);

impl Guardian {
    pub fn spawn(prefix: &str) -> Result<Guardian> {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             for n in $(ip netns list | awk '{{print $1}}' | grep '^{prefix}-'); do \
               ip netns pids $n | xargs -r kill -9; ip netns del $n; done; rm -rf /tmp/{prefix}",
            pid = std::process::id(),
        );
        let child = Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning guardian")?;
        Ok(Guardian(child))
    }
}

impl Drop for Guardian {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Deletes namespaces `hk<pid>x*` whose pid is no longer alive (left by a killed run).
pub fn sweep_stale() {
    let Ok(out) = run_limited(Duration::from_secs(5), &["ip", "netns", "list"]) else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("hk") else {
            continue;
        };
        let Some(pid) = rest.split('x').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        kill_netns_pids(name);
        let _ = run_limited(Duration::from_secs(5), &["ip", "netns", "del", name]);
        eprintln!("testbed: removed stale namespace {name}");
    }
}

/// Runs `f` on a new thread whose network namespace is `ns` (so every socket it opens lives
/// there), on a single-threaded tokio runtime.
pub fn spawn_in_netns<F, Fut, T>(ns: &str, f: F) -> std::thread::JoinHandle<Result<T>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
    T: Send + 'static,
{
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
        use std::os::fd::AsRawFd;
        // SAFETY: setns on this thread only, with a valid namespace fd.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            bail!("setns {path}: {}", std::io::Error::last_os_error());
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(f())
    })
}

/// [`spawn_in_netns`] and wait for it.
pub fn in_netns<F, Fut, T>(ns: &str, f: F) -> Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
    T: Send + 'static,
{
    spawn_in_netns(ns, f)
        .join()
        .map_err(|_| anyhow!("netns thread panicked"))?
}
