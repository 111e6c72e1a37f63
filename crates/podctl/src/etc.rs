//! The files every container of a pod shares under /etc, as the kubelet
//! makes them: `hostname`, `hosts` (localhost and the pod's name on its
//! address) and `resolv.conf` (pod.json `dns`, else the host's without
//! loopback name servers, which mean nothing inside the pod's network).
//! Kept in `P/etc/` and bind-mounted into each container whose bundle does
//! not mount its own.

use std::fs;
use std::path::PathBuf;

use anyhow::Context;
use podshim_state::PodPaths;
use podshim_types::PodManifest;
use serde_json::{json, Value};

/// The shared files, by their path inside the container.
pub const FILES: [&str; 3] = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

fn dir(paths: &PodPaths) -> PathBuf {
    paths.dir().join("etc")
}

/// Writes the pod's files; `ip` is its address on its network, if any.
pub fn write(paths: &PodPaths, m: &PodManifest, ip: Option<&str>) -> anyhow::Result<()> {
    let d = dir(paths);
    fs::create_dir_all(&d).with_context(|| format!("create {}", d.display()))?;
    // A host_network pod has the node's hostname, as in Kubernetes.
    let host = m
        .host_network
        .then(|| nix::unistd::gethostname().ok())
        .flatten()
        .map(|h| h.to_string_lossy().into_owned());
    let name = host.as_deref().unwrap_or(m.hostname());
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    match ip {
        Some(ip) => hosts.push_str(&format!("{ip}\t{name}\n")),
        None => hosts.push_str(&format!("127.0.1.1\t{name}\n")),
    }
    let files = [
        ("hostname", format!("{name}\n")),
        ("hosts", hosts),
        ("resolv.conf", resolv_conf(m)),
    ];
    for (file, text) in files {
        let path = d.join(file);
        fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

fn resolv_conf(m: &PodManifest) -> String {
    if let Some(dns) = &m.dns {
        let mut out = String::new();
        for s in &dns.nameservers {
            out.push_str(&format!("nameserver {s}\n"));
        }
        if !dns.searches.is_empty() {
            out.push_str(&format!("search {}\n", dns.searches.join(" ")));
        }
        if !dns.options.is_empty() {
            out.push_str(&format!("options {}\n", dns.options.join(" ")));
        }
        return out;
    }
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    host.lines()
        .filter(|l| {
            let mut f = l.split_whitespace();
            match (f.next(), f.next()) {
                (Some("nameserver"), Some(addr)) => !(addr.starts_with("127.") || addr == "::1"),
                _ => true,
            }
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Adds the bind mounts of the shared files to a member's spec, but not
/// over a destination the bundle mounts itself.
pub fn add_mounts(spec: &mut Value, paths: &PodPaths) {
    let Some(mounts) = spec
        .as_object_mut()
        .map(|o| o.entry("mounts").or_insert_with(|| json!([])))
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for dest in FILES {
        if mounts.iter().any(|m| m["destination"] == dest) {
            continue;
        }
        let file = dest.rsplit('/').next().unwrap_or(dest);
        mounts.push(json!({
            "destination": dest,
            "type": "bind",
            "source": dir(paths).join(file),
            "options": ["rbind", "rprivate", "rw"]
        }));
    }
}
