//! `containerd-shim-podshim-v1 -info`: what containerd 2.x asks a runtime
//! before it uses it. The runtime's options (an Any) come on stdin; a
//! RuntimeInfo goes to stdout: the runtime's name and version, the options
//! as taken, and the OCI features document (runtime-spec features.md, as
//! `runc features` prints it) listing what podshim really supports, so
//! containerd turns on what depends on it (recursive read-only mounts for
//! Kubernetes' recursiveReadOnly, and what it gates the same way later).

use std::io::{Read, Write};

use anyhow::Context;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::{Message, MessageField};
use containerd_shim_protos::types::introspection::{RuntimeInfo, RuntimeVersion};
use serde_json::{json, Value};

/// The runtime type containerd knows podshim by.
pub const RUNTIME_NAME: &str = "io.containerd.podshim.v1";

/// The features document's type, as containerd reads it.
const FEATURES_TYPE: &str = "types.containerd.io/opencontainers/runtime-spec/1/features/Features";

pub fn run() -> anyhow::Result<()> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("read the options on stdin")?;
    let options = if input.is_empty() {
        None
    } else {
        Some(Any::parse_from_bytes(&input).context("the options on stdin are not an Any")?)
    };
    // Options the Create would refuse are refused here too.
    crate::options::parse(options.as_ref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let info = RuntimeInfo {
        name: RUNTIME_NAME.into(),
        version: MessageField::some(RuntimeVersion {
            version: env!("CARGO_PKG_VERSION").into(),
            revision: String::new(),
            ..Default::default()
        }),
        options: options.into(),
        features: MessageField::some(Any {
            type_url: FEATURES_TYPE.into(),
            value: serde_json::to_vec(&features())?,
            ..Default::default()
        }),
        ..Default::default()
    };
    let bytes = info.write_to_bytes().context("encode RuntimeInfo")?;
    std::io::stdout().write_all(&bytes)?;
    Ok(())
}

/// The OCI features document: only what podshim does.
pub fn features() -> Value {
    let mut mount_options: Vec<&str> = vec![
        "async",
        "atime",
        "bind",
        "defaults",
        "dev",
        "diratime",
        "dirsync",
        "exec",
        "mand",
        "noatime",
        "nodev",
        "nodiratime",
        "noexec",
        "nomand",
        "norelatime",
        "nostrictatime",
        "nosuid",
        "private",
        "rbind",
        "relatime",
        "remount",
        "ro",
        "rprivate",
        "rshared",
        "rslave",
        "runbindable",
        "rw",
        "shared",
        "slave",
        "strictatime",
        "suid",
        "sync",
        "unbindable",
    ];
    mount_options.extend(podshim_sys::rootfs::options::recursive_options());
    mount_options.sort_unstable();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop"],
        "mountOptions": mount_options,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": podshim_sys::caps::names(),
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false,
                       "rdma": false},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                            "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                            "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                              "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}},
        },
        "annotations": {
            "io.github.podshim.version": env!("CARGO_PKG_VERSION"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_features_name_what_containerd_gates_on() {
        let f = features();
        let opts: Vec<&str> = f["mountOptions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        // containerd 2.x enables recursiveReadOnly when the runtime lists rro.
        assert!(opts.contains(&"rro") && opts.contains(&"rbind"), "{opts:?}");
        assert!(f["linux"]["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("CAP_CHECKPOINT_RESTORE")));
        // The systemd cgroup driver is built in (used where systemd is init).
        assert_eq!(f["linux"]["cgroup"]["systemd"], json!(true));
    }
}
