//! Pod networking through CNI, as containerd's CRI does it: once the pause
//! holds the pod's network namespace, the first network configuration in
//! the CNI config directory (`$PODCTL_CNI_CONF_DIR`, default
//! `/etc/podctl/cni/net.d`; `*.conflist`, or a single `*.conf`, in name
//! order) is ADDed to it, plugin by plugin, each given the previous one's
//! result; port mappings reach plugins that declare the `portMappings`
//! capability. What was done is kept in `P/network.json` (configuration,
//! result, address), from which removal DELs in reverse order, also after
//! a crash. No configuration: the pod keeps its loopback only.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use podshim_state::PodPaths;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const DEFAULT_CONF_DIR: &str = "/etc/podctl/cni/net.d";
const DEFAULT_BIN_DIRS: &str = "/usr/lib/cni:/opt/cni/bin";
/// The pod's interface, as Kubernetes names it.
pub const IFNAME: &str = "eth0";

/// A pod's attachment to its network, stored as `P/network.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    /// The network configuration list used.
    pub network: Value,
    pub container_id: String,
    pub netns: String,
    pub ifname: String,
    /// `portMappings` as CNI takes them.
    #[serde(default)]
    pub port_mappings: Vec<Value>,
    /// The last plugin's ADD result.
    #[serde(default)]
    pub result: Option<Value>,
    /// The pod's address (without prefix length) and its gateway.
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub gateway: Option<String>,
}

pub fn conf_dir() -> PathBuf {
    std::env::var_os("PODCTL_CNI_CONF_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONF_DIR))
}

fn bin_dirs() -> String {
    std::env::var("PODCTL_CNI_BIN_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| DEFAULT_BIN_DIRS.to_string())
}

/// The network to attach pods to: the first configuration in the
/// directory, a `.conf` made into a one-plugin list. None when there is
/// none.
pub fn load_network(dir: &Path) -> anyhow::Result<Option<Value>> {
    let mut files: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(d) => d.flatten().map(|e| e.path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("read {}", dir.display())),
    };
    files.retain(|p| {
        matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("conflist" | "conf" | "json")
        )
    });
    files.sort();
    let Some(path) = files.first() else {
        return Ok(None);
    };
    let text = fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let mut v: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    if v.get("plugins").is_none() {
        // A single plugin's configuration.
        let version = v["cniVersion"].clone();
        let name = v["name"].clone();
        v = json!({"cniVersion": version, "name": name, "plugins": [v]});
    }
    let plugins = v["plugins"].as_array().map(Vec::len).unwrap_or(0);
    if v["name"].as_str().unwrap_or("").is_empty() || plugins == 0 {
        bail!("{}: a network needs a name and plugins", path.display());
    }
    Ok(Some(v))
}

fn network_file(paths: &PodPaths) -> PathBuf {
    paths.dir().join("network.json")
}

/// The stored attachment of a pod, if it has one.
pub fn stored(paths: &PodPaths) -> Option<Attachment> {
    let text = fs::read_to_string(network_file(paths)).ok()?;
    serde_json::from_str(&text).ok()
}

/// ADDs the pod's network namespace `netns` to the configured network.
/// On failure whatever was added is DELeted again.
pub fn attach(
    paths: &PodPaths,
    container_id: &str,
    netns: &Path,
    port_mappings: Vec<Value>,
) -> anyhow::Result<Option<Attachment>> {
    let dir = conf_dir();
    let Some(network) = load_network(&dir)? else {
        if !port_mappings.is_empty() {
            bail!(
                "pod.json maps ports but there is no CNI network in {}",
                dir.display()
            );
        }
        return Ok(None);
    };
    let mut att = Attachment {
        network,
        container_id: container_id.to_string(),
        netns: netns.to_string_lossy().into_owned(),
        ifname: IFNAME.to_string(),
        port_mappings,
        result: None,
        ip: None,
        gateway: None,
    };
    // Written first, so that a crash in the middle is cleaned up by DEL.
    save(paths, &att)?;
    let plugins = att.network["plugins"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for plugin in &plugins {
        match invoke("ADD", plugin, &att, att.result.as_ref()) {
            Ok(result) => att.result = Some(result),
            Err(e) => {
                if let Err(e2) = detach(&att) {
                    eprintln!("podctl: cleaning up the network: {e2:#}");
                }
                let _ = fs::remove_file(network_file(paths));
                return Err(e);
            }
        }
    }
    if let Some(ip) = att.result.as_ref().and_then(|r| r["ips"].get(0)) {
        att.ip = ip["address"]
            .as_str()
            .map(|a| a.split('/').next().unwrap_or(a).to_string());
        att.gateway = ip["gateway"].as_str().map(str::to_string);
    }
    save(paths, &att)?;
    Ok(Some(att))
}

fn save(paths: &PodPaths, att: &Attachment) -> anyhow::Result<()> {
    podshim_state::write_json(&network_file(paths), att)
        .with_context(|| format!("write {}", network_file(paths).display()))
}

/// DELs the attachment, plugins in reverse order. Every plugin is asked
/// even when one fails; the first failure is returned.
pub fn detach(att: &Attachment) -> anyhow::Result<()> {
    let plugins = att.network["plugins"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut first = None;
    for plugin in plugins.iter().rev() {
        if let Err(e) = invoke("DEL", plugin, att, att.result.as_ref()) {
            first.get_or_insert(e);
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Removes the pod from its network if it was attached (podctl rm).
pub fn detach_stored(paths: &PodPaths) -> anyhow::Result<()> {
    let Some(att) = stored(paths) else {
        return Ok(());
    };
    detach(&att)?;
    let _ = fs::remove_file(network_file(paths));
    Ok(())
}

/// Runs one plugin with the CNI environment and its configuration on
/// stdin; its result (ADD) or nothing (DEL).
fn invoke(
    command: &str,
    plugin: &Value,
    att: &Attachment,
    prev: Option<&Value>,
) -> anyhow::Result<Value> {
    let typ = plugin["type"]
        .as_str()
        .filter(|t| !t.is_empty() && !t.contains('/'))
        .ok_or_else(|| anyhow::anyhow!("network {}: a plugin has no type", att.network["name"]))?;
    let path = bin_dirs()
        .split(':')
        .map(|d| Path::new(d).join(typ))
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow::anyhow!("CNI plugin {typ} not found in {}", bin_dirs()))?;
    let mut conf = plugin.clone();
    conf["cniVersion"] = att.network["cniVersion"].clone();
    conf["name"] = att.network["name"].clone();
    if let Some(prev) = prev {
        conf["prevResult"] = prev.clone();
    }
    if plugin["capabilities"]["portMappings"] == json!(true) && !att.port_mappings.is_empty() {
        conf["runtimeConfig"] = json!({"portMappings": att.port_mappings});
    }
    let mut child = Command::new(&path)
        .env_clear()
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", &att.container_id)
        .env("CNI_NETNS", &att.netns)
        .env("CNI_IFNAME", &att.ifname)
        .env("CNI_PATH", bin_dirs())
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("run CNI plugin {}", path.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(conf.to_string().as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        // The plugin's error is JSON on stdout: {code, msg, details}.
        let err: Value = serde_json::from_slice(&out.stdout).unwrap_or(json!({}));
        bail!(
            "CNI {command} {typ} failed: {} {} {}",
            err["msg"].as_str().unwrap_or(""),
            err["details"].as_str().unwrap_or(""),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    if command == "DEL" || out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(prev.cloned().unwrap_or(json!({})));
    }
    serde_json::from_slice(&out.stdout)
        .with_context(|| format!("CNI {command} {typ}: the result is not JSON"))
}
