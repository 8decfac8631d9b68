//! Installs the rendered unit of one case (`nix/tests/unit/<case>/`: `haproxy-k8s.service`
//! and `module.json`, equal to the module's evaluation by tests/nix-eval.sh) into a
//! container, with the container's files where NixOS has store paths.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::container::Container;

pub const UNIT: &str = "haproxy-k8s.service";

/// The stand-in store paths of nix/tests/eval/eval.nix, and what replaces each in the container.
/// The generated config's hash follows its derivation (as a real one does), so only its name
/// is fixed.
const CONFIG_STORE_NAME: &str = "haproxy-k8s-config";
const HAPROXY_STORE_PATH: &str = "/nix/store/22222222222222222222222222222222-haproxy";
const COREUTILS_STORE_PATH: &str = "/nix/store/33333333333333333333333333333333-coreutils";
/// Debian's kill (procps) takes the same `-USR2 PID` as coreutils'.
pub const CONTAINER_KILL: &str = "/usr/bin/kill";
/// The container's own HAProxy (3.0).
pub const CONTAINER_HAPROXY: &str = "/usr/sbin/haproxy";

pub struct Case {
    pub name: String,
    pub unit: String,
    pub module: Value,
}

fn case_dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../nix/tests/unit")
        .join(case)
}

impl Case {
    pub fn load(case: &str) -> Result<Self> {
        let dir = case_dir(case);
        let unit = std::fs::read_to_string(dir.join(UNIT))
            .with_context(|| format!("{}", dir.display()))?;
        let module: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("module.json"))?)?;
        Ok(Case {
            name: case.to_string(),
            unit,
            module,
        })
    }

    /// The haproxy.cfg the module's build would produce: the library behind haproxy-k8s-gen
    /// on the JSON the module hands the generator.
    pub fn haproxy_cfg(&self) -> Result<String> {
        let input = serde_json::to_string(&self.module["generatorInput"])?;
        let plan = haproxy_k8s::plan(&input, "services.haproxy-k8s")
            .map_err(|e| anyhow!("the generator rejects case {}: {e}", self.name))?;
        Ok(haproxy_k8s::render(&plan).haproxy_cfg)
    }

    /// A `Key=` value of the unit's [Service] section (the first one).
    pub fn service_value(&self, key: &str) -> Option<&str> {
        self.unit
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
    }

    /// The admin socket path the generated config uses.
    pub fn admin_socket(&self) -> String {
        self.module["generatorInput"]["adminSocket"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Installs everything NixOS would put in place for this unit: the unit file, the /etc
    /// links (HAProxy behind `haproxy`), the config, the user and group, tmpfiles rules (as
    /// a file; NixOS applies them at boot and switch, [`apply_tmpfiles`] does here).
    /// Debian's own haproxy.service is masked first so that only ours runs.
    pub fn install(&self, c: &Container, haproxy: &str) -> Result<()> {
        c.run(&["systemctl", "mask", "--now", "haproxy.service"])?;
        // Nothing in [Service] may name a store path: that is what keeps package upgrades
        // from restarting the unit. (X-Reload-Triggers in [Unit] does, on purpose.)
        for line in self.unit.lines() {
            if line.contains("/nix/store/") && !line.starts_with("X-Reload-Triggers=") {
                bail!("the rendered unit names a store path: {line}");
            }
        }
        let etc = self.module["etc"]
            .as_object()
            .ok_or_else(|| anyhow!("module.json: no etc"))?;
        for (target, source) in etc {
            let source = source.as_str().unwrap_or_default();
            let path = format!("/etc/{target}");
            if store_file_of(source, CONFIG_STORE_NAME) == Some("haproxy.cfg") {
                c.write(&path, self.haproxy_cfg()?)?;
            } else if source == format!("{HAPROXY_STORE_PATH}/bin/haproxy") {
                c.link(haproxy, &path)?;
            } else if source == format!("{COREUTILS_STORE_PATH}/bin/kill") {
                c.link(CONTAINER_KILL, &path)?;
            } else {
                bail!("module.json: /etc/{target} -> {source}: no container equivalent known");
            }
        }
        let mut sysusers = Vec::new();
        for group in self.module["groups"].as_array().into_iter().flatten() {
            sysusers.push(format!("g {} -", group.as_str().unwrap_or_default()));
        }
        for (name, user) in self.module["users"].as_object().into_iter().flatten() {
            if user["isSystemUser"] != Value::Bool(true) {
                bail!("module.json: user {name} is not a system user");
            }
            sysusers.push(format!(
                "u {name} -:{} \"{}\"",
                user["group"].as_str().unwrap_or_default(),
                user["description"].as_str().unwrap_or_default()
            ));
        }
        let mut args = vec!["systemd-sysusers", "--inline"];
        args.extend(sysusers.iter().map(String::as_str));
        c.run(&args)?;
        let tmpfiles: Vec<&str> = self.module["tmpfiles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !tmpfiles.is_empty() {
            c.write(
                "/etc/tmpfiles.d/haproxy-k8s.conf",
                tmpfiles.join("\n") + "\n",
            )?;
        }
        c.write(&format!("/etc/systemd/system/{UNIT}"), &self.unit)?;
        c.run(&["systemctl", "daemon-reload"])?;
        Ok(())
    }

    /// Writes the stats credentials file the unit reads as its EnvironmentFile.
    pub fn write_credentials(&self, c: &Container, user: &str, password: &str) -> Result<()> {
        let path = self
            .service_value("EnvironmentFile")
            .ok_or_else(|| anyhow!("the unit has no EnvironmentFile"))?;
        c.write(
            path,
            format!(
                "{}={user}\n{}={password}\n",
                haproxy_k8s::STATS_USER_VARIABLE,
                haproxy_k8s::STATS_PASSWORD_VARIABLE
            ),
        )
    }
}

/// Creates what the tmpfiles rules say, as NixOS does at boot and on every switch.
pub fn apply_tmpfiles(c: &Container) -> Result<()> {
    c.run(&[
        "systemd-tmpfiles",
        "--create",
        "/etc/tmpfiles.d/haproxy-k8s.conf",
    ])?;
    Ok(())
}

/// Starts the unit and waits until systemd reports it active (Type=notify: after HAProxy's
/// READY=1). Returns the main PID.
pub fn start(c: &Container) -> Result<u32> {
    let out = c.exec(&["systemctl", "start", UNIT])?;
    if !out.status.success() {
        bail!(
            "systemctl start failed ({}): {}\njournal:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            c.journal(UNIT).unwrap_or_default()
        );
    }
    wait_active(c)
}

/// Waits until the unit is active with a main PID; returns it.
pub fn wait_active(c: &Container) -> Result<u32> {
    c.wait_for("haproxy-k8s.service to be active", || {
        let state = c.unit_property(UNIT, "ActiveState")?;
        let pid: u32 = c.unit_property(UNIT, "MainPID")?.parse()?;
        Ok((state == "active" && pid != 0).then_some(pid))
    })
}

pub fn main_pid(c: &Container) -> Result<u32> {
    Ok(c.unit_property(UNIT, "MainPID")?.parse()?)
}

/// `show info` on the admin socket, as `Name: value` pairs.
pub fn show_info(c: &Container, socket: &str) -> Result<Vec<(String, String)>> {
    let mut conn =
        UnixStream::connect(c.path(socket)).with_context(|| format!("connecting to {socket}"))?;
    conn.write_all(b"show info\n")?;
    let mut text = String::new();
    conn.read_to_string(&mut text)?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

pub fn info_field(info: &[(String, String)], key: &str) -> Option<String> {
    info.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// `file` when `path` is `/nix/store/<32-character hash>-<name>/<file>`.
fn store_file_of<'a>(path: &'a str, name: &str) -> Option<&'a str> {
    let rest = path.strip_prefix("/nix/store/")?;
    let (hash, rest) = rest.split_at_checked(32)?;
    if !hash.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    rest.strip_prefix('-')?
        .strip_prefix(name)?
        .strip_prefix('/')
}

#[cfg(test)]
mod tests {
    #[test]
    fn store_files_are_recognised_by_name_whatever_their_hash() {
        let path = "/nix/store/bbd852baa7ea4a574ed0b6382fbd9b71-haproxy-k8s-config/haproxy.cfg";
        assert_eq!(
            super::store_file_of(path, "haproxy-k8s-config"),
            Some("haproxy.cfg")
        );
        assert_eq!(super::store_file_of(path, "haproxy"), None);
        assert_eq!(
            super::store_file_of("/etc/haproxy-k8s-config/haproxy.cfg", "haproxy-k8s-config"),
            None
        );
    }
}
