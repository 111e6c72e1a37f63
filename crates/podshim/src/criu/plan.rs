//! A checkpoint's options as containerd sends them (runc's
//! `containerd.runc.v1.CheckpointOptions`), honoured or refused by name,
//! and where the image goes.

use std::path::{Path, PathBuf};

use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::Message;
use containerd_shim_protos::shim::oci::CheckpointOptions;

use crate::error::{Result, ShimError};

/// The type containerd and ctr send a checkpoint's options as.
const OPTIONS_TYPE: &str = "containerd.runc.v1.CheckpointOptions";

/// What a checkpoint is asked to do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckpointPlan {
    /// Stop the container once dumped (runc's `exit`); else it runs on.
    pub exit: bool,
    pub open_tcp: bool,
    pub external_unix_sockets: bool,
    pub terminal: bool,
    pub file_locks: bool,
    /// Namespaces dumped without their contents (CRIU knows only net).
    pub empty_net: bool,
    /// CRIU's --manage-cgroups mode.
    pub cgroups_mode: Option<String>,
    /// Where the image goes (containerd's request path, else the options').
    pub image: PathBuf,
    /// CRIU's work directory, when asked for one.
    pub work: Option<PathBuf>,
}

/// The plan for a Checkpoint request of image path `path` and `options`.
pub fn plan(path: &str, options: Option<&Any>) -> Result<CheckpointPlan> {
    let o = match options.filter(|a| !a.type_url.is_empty() || !a.value.is_empty()) {
        None => CheckpointOptions::new(),
        Some(any) => {
            let kind = any.type_url.rsplit('/').next().unwrap_or("");
            if kind != OPTIONS_TYPE {
                return Err(ShimError::InvalidArgument(format!(
                    "checkpoint options of type {kind:?}: podshim reads {OPTIONS_TYPE}"
                )));
            }
            CheckpointOptions::parse_from_bytes(&any.value).map_err(|e| {
                ShimError::InvalidArgument(format!("checkpoint options: {OPTIONS_TYPE}: {e}"))
            })?
        }
    };
    let mut empty_net = false;
    for ns in &o.empty_namespaces {
        match ns.as_str() {
            "network" | "net" => empty_net = true,
            other => {
                return Err(ShimError::InvalidArgument(format!(
                    "checkpoint options: empty_namespaces: {other:?} (CRIU empties only network)"
                )))
            }
        }
    }
    let cgroups_mode = match o.cgroups_mode.as_str() {
        "" => None,
        m @ ("soft" | "full" | "strict" | "ignore") => Some(m.to_string()),
        other => {
            return Err(ShimError::InvalidArgument(format!(
                "checkpoint options: cgroups_mode {other:?} (soft, full, strict or ignore)"
            )))
        }
    };
    let image = if !path.is_empty() {
        path
    } else {
        o.image_path.as_str()
    };
    if image.is_empty() || !Path::new(image).is_absolute() {
        return Err(ShimError::InvalidArgument(format!(
            "checkpoint image path {image:?} is not an absolute path"
        )));
    }
    let work = (!o.work_path.is_empty()).then(|| PathBuf::from(&o.work_path));
    if let Some(w) = work.as_ref().filter(|w| !w.is_absolute()) {
        return Err(ShimError::InvalidArgument(format!(
            "checkpoint options: work_path {:?} is not absolute",
            w.display()
        )));
    }
    Ok(CheckpointPlan {
        exit: o.exit,
        open_tcp: o.open_tcp,
        external_unix_sockets: o.external_unix_sockets,
        terminal: o.terminal,
        file_locks: o.file_locks,
        empty_net,
        cgroups_mode,
        image: PathBuf::from(image),
        work,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(o: &CheckpointOptions) -> Any {
        Any {
            type_url: format!("type.googleapis.com/{OPTIONS_TYPE}"),
            value: o.write_to_bytes().unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn options_are_honoured_or_refused_by_name() {
        let mut o = CheckpointOptions::new();
        o.exit = true;
        o.open_tcp = true;
        o.file_locks = true;
        o.empty_namespaces = vec!["network".into()];
        o.cgroups_mode = "ignore".into();
        o.work_path = "/w".into();
        let p = plan("/img", Some(&opts(&o))).unwrap();
        assert!(p.exit && p.open_tcp && p.file_locks && p.empty_net);
        assert!(!p.terminal && !p.external_unix_sockets);
        assert_eq!(p.cgroups_mode.as_deref(), Some("ignore"));
        assert_eq!(p.image, PathBuf::from("/img"));
        assert_eq!(p.work, Some(PathBuf::from("/w")));

        // The request's path wins; the options' image path serves without it.
        o.image_path = "/other".into();
        assert_eq!(
            plan("", Some(&opts(&o))).unwrap().image,
            PathBuf::from("/other")
        );

        let mut bad = CheckpointOptions::new();
        bad.empty_namespaces = vec!["ipc".into()];
        let e = plan("/img", Some(&opts(&bad))).unwrap_err().to_string();
        assert!(e.contains("empty_namespaces") && e.contains("ipc"), "{e}");
        let mut bad = CheckpointOptions::new();
        bad.cgroups_mode = "loose".into();
        let e = plan("/img", Some(&opts(&bad))).unwrap_err().to_string();
        assert!(e.contains("cgroups_mode") && e.contains("loose"), "{e}");
        let e = plan("relative", None).unwrap_err().to_string();
        assert!(e.contains("\"relative\""), "{e}");
        let other = Any {
            type_url: "containerd.linux.runc.CheckpointOptions".into(),
            ..Default::default()
        };
        let e = plan("/img", Some(&other)).unwrap_err().to_string();
        assert!(e.contains("containerd.linux.runc.CheckpointOptions"), "{e}");
    }
}
