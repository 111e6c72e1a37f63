//! Where things live under the state root. Per pod, with
//! P = `<root>/<namespace>/<pod>`:
//!
//! ```text
//! P/pod.json                    pod record
//! P/events.jsonl                event log
//! P/shim.sock                   the ttrpc socket
//! P/shim.log                    the shim's own diagnostics
//! P/ns/{net,ipc,uts}            pinned namespaces
//! P/containers/<id>/state.json  task record
//! P/containers/<id>/log         stdio log when asked for
//! P/containers/<id>/attach      attach socket of a logged container
//! ```
//!
//! Only validated [`Id`]s become path components.

use std::fs;
use std::path::{Path, PathBuf};

use podshim_types::Id;

use crate::error::StateError;

/// The default state root.
pub const DEFAULT_ROOT: &str = "/run/podshim";

/// Where sockets go whose `P/shim.sock` path would be too long.
pub const SHORT_SOCKET_DIR: &str = "/run/podshim/s";

/// Longest path a unix socket address can hold (sun_path minus the NUL).
const SUN_PATH_MAX: usize = 107;

/// The state root: `<root>/<namespace>/<pod>/...`.
#[derive(Debug, Clone)]
pub struct StateRoot {
    root: PathBuf,
}

impl StateRoot {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        StateRoot { root: root.into() }
    }

    /// From `$PODSHIM_ROOT`, else [`DEFAULT_ROOT`].
    pub fn from_env() -> Self {
        match std::env::var_os("PODSHIM_ROOT") {
            Some(r) if !r.is_empty() => StateRoot::new(r),
            _ => StateRoot::new(DEFAULT_ROOT),
        }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn namespace_dir(&self, namespace: &Id) -> PathBuf {
        self.root.join(namespace.as_str())
    }

    pub fn pod(&self, namespace: &Id, pod: &Id) -> PodPaths {
        PodPaths {
            dir: self.namespace_dir(namespace).join(pod.as_str()),
        }
    }

    /// Pod ids present under a namespace, sorted. Entries that are not valid
    /// ids are skipped.
    pub fn list_pods(&self, namespace: &Id) -> Result<Vec<Id>, StateError> {
        let dir = self.namespace_dir(namespace);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StateError::io("list", dir, e)),
        };
        let mut pods: Vec<Id> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| Id::new(&e.file_name().to_string_lossy()).ok())
            .collect();
        pods.sort();
        Ok(pods)
    }
}

/// A unix socket address for `path` that fits a sun_path: the path itself
/// when short enough, else `/proc/self/fd/N/<name>` through its directory
/// held open. Keep the returned directory until the bind or connect is done.
pub fn socket_address(path: &Path) -> std::io::Result<(PathBuf, Option<fs::File>)> {
    if path.as_os_str().len() <= SUN_PATH_MAX {
        return Ok((path.to_path_buf(), None));
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is no socket path", path.display()),
        ));
    };
    let dir = fs::File::open(dir)?;
    use std::os::fd::AsRawFd;
    let short = Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name);
    Ok((short, Some(dir)))
}

/// The files of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPaths {
    dir: PathBuf,
}

impl PodPaths {
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn record(&self) -> PathBuf {
        self.dir.join("pod.json")
    }
    pub fn events(&self) -> PathBuf {
        self.dir.join("events.jsonl")
    }
    pub fn shim_log(&self) -> PathBuf {
        self.dir.join("shim.log")
    }
    pub fn start_lock(&self) -> PathBuf {
        self.dir.join(".start.lock")
    }
    /// The ttrpc socket: `P/shim.sock`, or, when that is too long for a
    /// unix address (a deep state root and a 64-character CRI id), a short
    /// path named by a hash of P under [`SHORT_SOCKET_DIR`].
    pub fn socket(&self) -> Result<PathBuf, StateError> {
        let p = self.dir.join("shim.sock");
        if p.as_os_str().len() <= SUN_PATH_MAX {
            return Ok(p);
        }
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.dir.as_os_str().as_encoded_bytes());
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        let short = Path::new(SHORT_SOCKET_DIR).join(format!("{hex}.sock"));
        let len = short.as_os_str().len();
        if len > SUN_PATH_MAX {
            return Err(StateError::SocketPathTooLong { path: short, len });
        }
        Ok(short)
    }
    pub fn ns_dir(&self) -> PathBuf {
        self.dir.join("ns")
    }
    /// The pin of namespace `kind` (`net`, `ipc`, `uts`).
    pub fn ns_pin(&self, kind: &str) -> PathBuf {
        self.ns_dir().join(kind)
    }
    pub fn containers_dir(&self) -> PathBuf {
        self.dir.join("containers")
    }
    pub fn container_dir(&self, id: &Id) -> PathBuf {
        self.containers_dir().join(id.as_str())
    }
    pub fn container_record(&self, id: &Id) -> PathBuf {
        self.container_dir(id).join("state.json")
    }
    pub fn container_log(&self, id: &Id) -> PathBuf {
        self.container_dir(id).join("log")
    }
    /// The attach socket of a container whose output the shim logs.
    pub fn container_attach(&self, id: &Id) -> PathBuf {
        self.container_dir(id).join("attach")
    }

    /// Task ids with a directory under `containers/`, sorted.
    pub fn list_containers(&self) -> Result<Vec<Id>, StateError> {
        let dir = self.containers_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StateError::io("list", dir, e)),
        };
        let mut ids: Vec<Id> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| Id::new(&e.file_name().to_string_lossy()).ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let root = StateRoot::new("/run/podshim");
        let p = root.pod(&Id::new("k8s.io").unwrap(), &Id::new("pod1").unwrap());
        assert_eq!(p.record(), Path::new("/run/podshim/k8s.io/pod1/pod.json"));
        assert_eq!(
            p.ns_pin("net"),
            Path::new("/run/podshim/k8s.io/pod1/ns/net")
        );
        let c = Id::new("c1").unwrap();
        assert_eq!(
            p.container_record(&c),
            Path::new("/run/podshim/k8s.io/pod1/containers/c1/state.json")
        );
        assert_eq!(
            p.socket().unwrap(),
            Path::new("/run/podshim/k8s.io/pod1/shim.sock")
        );
    }

    #[test]
    fn cri_sized_ids_fit_a_socket_path() {
        let root = StateRoot::new(DEFAULT_ROOT);
        let p = root.pod(
            &Id::new("k8s.io").unwrap(),
            &Id::new(&"a".repeat(64)).unwrap(),
        );
        assert!(p.socket().is_ok());
        let deep = StateRoot::new("/".to_string() + &"d".repeat(60));
        let ns = Id::new("k8s.io").unwrap();
        let p = deep.pod(&ns, &Id::new(&"a".repeat(64)).unwrap());
        let s = p.socket().unwrap();
        assert!(s.starts_with(SHORT_SOCKET_DIR), "{}", s.display());
        let q = deep.pod(&ns, &Id::new(&"b".repeat(64)).unwrap());
        assert_ne!(q.socket().unwrap(), s, "two pods share a socket");
    }
}
