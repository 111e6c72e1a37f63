//! Sysctls of a task: which kernel namespace each belongs to, the check
//! that every one asked for is in a namespace of the task's own (never the
//! host's: a sysctl that is not namespaced, or whose namespace the task
//! shares with the host, would change the host), and the write through
//! /proc/sys. The namespaced ones are those runc allows.

use std::collections::HashMap;
use std::io::Write;

use crate::error::SysError;
use crate::ns::NsKind;

/// The IPC namespace's sysctls (besides `fs.mqueue.*`).
const IPC: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// The namespace `key` belongs to; `None` when it is not namespaced.
pub fn namespace_of(key: &str) -> Option<NsKind> {
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        Some(NsKind::Ipc)
    } else if key.starts_with("net.") {
        Some(NsKind::Net)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(NsKind::Uts)
    } else {
        None
    }
}

/// Checks every sysctl against the namespaces the task has of its own
/// (`owns(kind)`: new, or the pod's): an error naming the first that would
/// reach the host. `field` names where they came from.
pub fn check(
    field: &str,
    sysctls: &HashMap<String, String>,
    owns: impl Fn(NsKind) -> bool,
) -> Result<(), SysError> {
    let mut keys: Vec<&String> = sysctls.keys().collect();
    keys.sort();
    for key in keys {
        if key.contains('/') || key.split('.').any(|p| p.is_empty() || p == "..") {
            return Err(SysError::spec(
                field,
                format!("{key:?} is not a sysctl name"),
            ));
        }
        match namespace_of(key) {
            None => {
                return Err(SysError::spec(
                    field,
                    format!("sysctl {key:?} is not in a separate kernel namespace"),
                ))
            }
            Some(kind) if !owns(kind) => {
                return Err(SysError::spec(
                    field,
                    format!(
                        "sysctl {key:?} is not allowed: the {} namespace is the host's",
                        kind.proc_name()
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Writes one sysctl through /proc/sys (the writer's namespaces decide
/// whose it is).
pub fn write(key: &str, value: &str) -> Result<(), SysError> {
    if key.contains("..") || key.contains('/') {
        return Err(SysError::spec("linux.sysctl", format!("bad key {key:?}")));
    }
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| SysError::io("sysctl", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(keys: &[&str]) -> HashMap<String, String> {
        keys.iter()
            .map(|k| (k.to_string(), "1".to_string()))
            .collect()
    }

    #[test]
    fn namespaced_sysctls_pass_only_in_namespaces_of_the_tasks_own() {
        let all = |_: NsKind| true;
        assert!(check(
            "s",
            &map(&[
                "kernel.shm_rmid_forced",
                "net.ipv4.ip_forward",
                "fs.mqueue.msg_max"
            ]),
            all
        )
        .is_ok());
        let e = check("s", &map(&["kernel.panic"]), all)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("kernel.panic") && e.contains("not in a separate"),
            "{e}"
        );
        let host_net = |k: NsKind| k != NsKind::Net;
        let e = check("s", &map(&["net.core.somaxconn"]), host_net)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("net.core.somaxconn") && e.contains("net namespace is the host's"),
            "{e}"
        );
        assert!(check("s", &map(&["kernel.msgmax"]), host_net).is_ok());
        for bad in ["../../etc", "net..x", "net/ipv4"] {
            assert!(check("s", &map(&[bad]), all).is_err(), "{bad}");
        }
    }
}
