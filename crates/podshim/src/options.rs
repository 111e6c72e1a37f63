//! The runtime options containerd sends with a Create (`options`, the
//! runc shim's `containerd.runc.v1.Options`, as a `[...runtimes.X.options]`
//! table of containerd's config writes them). Each field is honoured or
//! refused by name: ShimCgroup moves the shim into that cgroup, IoUid and
//! IoGid own the pipes the shim makes for a process's stdio; SystemdCgroup
//! is accepted where the driver works (systemd as init, cgroup v2 only:
//! the cgroupsPath's form picks the driver) and refused elsewhere;
//! NoPivotRoot is refused (not supported); the runc binary's own
//! settings (BinaryName, Root, CRIU paths, the task API address) mean
//! nothing to podshim and are ignored with a log line. The other option
//! types containerd knows (the v1 runtime's CreateOptions, CRI's
//! runtimeoptions) are refused by name.

use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::Message;
use containerd_shim_protos::shim::oci::Options;

use crate::error::{Result, ShimError};

/// What a Create's options ask of the shim.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// Owner (uid, gid) of the pipes the shim makes for stdio.
    pub io_owner: Option<(u32, u32)>,
    /// The cgroup the shim moves itself into.
    pub shim_cgroup: Option<String>,
    /// Fields ignored, for the log.
    pub ignored: Vec<&'static str>,
}

/// Parses the `options` of a Create.
pub fn parse(options: Option<&Any>) -> Result<RuntimeOptions> {
    let Some(any) = options.filter(|a| !a.type_url.is_empty() || !a.value.is_empty()) else {
        return Ok(RuntimeOptions::default());
    };
    let kind = any.type_url.rsplit('/').next().unwrap_or("");
    match kind {
        "containerd.runc.v1.Options" => {}
        "containerd.linux.runc.CreateOptions" | "runtimeoptions.v1.Options" => {
            return Err(ShimError::InvalidArgument(format!(
                "runtime options {kind}: not supported (podshim takes containerd.runc.v1.Options)"
            )))
        }
        other => {
            return Err(ShimError::InvalidArgument(format!(
                "runtime options of unknown type {other:?}"
            )))
        }
    }
    let o = Options::parse_from_bytes(&any.value).map_err(|e| {
        ShimError::InvalidArgument(format!("runtime options containerd.runc.v1.Options: {e}"))
    })?;
    let refuse = |field: &str, why: &str| {
        Err(ShimError::InvalidArgument(format!(
            "runtime option {field}: {why}"
        )))
    };
    // The driver follows the path's form (slice:prefix:name is systemd's,
    // as containerd's CRI writes it for a .slice parent); the option only
    // says the host must have the driver.
    if o.systemd_cgroup && !crate::cgroup::systemd::available() {
        return refuse(
            "SystemdCgroup",
            "the systemd cgroup driver needs systemd as init and cgroup v2 only, \
             and this host has not",
        );
    }
    if o.no_pivot_root {
        return refuse(
            "NoPivotRoot",
            "not supported: podshim always pivots into the rootfs",
        );
    }
    let mut ignored = Vec::new();
    for (set, name) in [
        (!o.binary_name.is_empty(), "BinaryName"),
        (!o.root.is_empty(), "Root"),
        (!o.criu_image_path.is_empty(), "CriuImagePath"),
        (!o.criu_work_path.is_empty(), "CriuWorkPath"),
        (!o.task_api_address.is_empty(), "TaskApiAddress"),
        (o.no_new_keyring, "NoNewKeyring"),
    ] {
        if set {
            ignored.push(name);
        }
    }
    Ok(RuntimeOptions {
        io_owner: (o.io_uid != 0 || o.io_gid != 0).then_some((o.io_uid, o.io_gid)),
        shim_cgroup: Some(o.shim_cgroup).filter(|c| !c.is_empty()),
        ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(o: &Options) -> Any {
        Any {
            type_url: "containerd.runc.v1.Options".into(),
            value: o.write_to_bytes().unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn runc_options_are_honoured_or_refused_by_name() {
        assert_eq!(parse(None).unwrap(), RuntimeOptions::default());
        let o = Options {
            io_uid: 1000,
            io_gid: 1001,
            shim_cgroup: "/pods/shim".into(),
            binary_name: "/usr/bin/runc".into(),
            ..Default::default()
        };
        let r = parse(Some(&any(&o))).unwrap();
        assert_eq!(r.io_owner, Some((1000, 1001)));
        assert_eq!(r.shim_cgroup.as_deref(), Some("/pods/shim"));
        assert_eq!(r.ignored, ["BinaryName"]);
        let no_pivot = Options {
            no_pivot_root: true,
            ..Default::default()
        };
        let e = parse(Some(&any(&no_pivot))).unwrap_err().to_string();
        assert!(e.contains("NoPivotRoot"), "{e}");
        // SystemdCgroup: taken where the driver works, refused elsewhere.
        let systemd = Options {
            systemd_cgroup: true,
            ..Default::default()
        };
        match parse(Some(&any(&systemd))) {
            Ok(_) => assert!(crate::cgroup::systemd::available()),
            Err(e) => {
                assert!(!crate::cgroup::systemd::available());
                assert!(e.to_string().contains("SystemdCgroup"), "{e}");
            }
        }
        let cri = Any {
            type_url: "runtimeoptions.v1.Options".into(),
            ..Default::default()
        };
        assert!(parse(Some(&cri))
            .unwrap_err()
            .to_string()
            .contains("runtimeoptions.v1.Options"));
    }
}
