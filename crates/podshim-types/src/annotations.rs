//! Annotation keys that decide how a bundle joins a pod. These are the keys
//! containerd's CRI plugin sets, so a pod from Kubernetes and a pod from
//! podctl are told apart by nothing.

/// `sandbox` for the pod's infra task, `container` for a member.
pub const CONTAINER_TYPE: &str = "io.kubernetes.cri.container-type";
/// Value of [`CONTAINER_TYPE`] for the pod's sandbox (pause) task.
pub const CONTAINER_TYPE_SANDBOX: &str = "sandbox";
/// Value of [`CONTAINER_TYPE`] for an application container.
pub const CONTAINER_TYPE_CONTAINER: &str = "container";
/// The pod a container belongs to; also the shim's group key.
pub const SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";
/// The pod's name as the user wrote it.
pub const SANDBOX_NAME: &str = "io.kubernetes.cri.sandbox-name";
/// The container's name inside its pod.
pub const CONTAINER_NAME: &str = "io.kubernetes.cri.container-name";
/// containerd's runc shim grouping label, honoured the same way.
pub const RUNC_GROUP: &str = "io.containerd.runc.v2.group";

/// The group key of a bundle: the shim that serves it. A sandbox and its
/// containers share one key, so they share one shim.
pub fn group_key<'a>(id: &'a str, annotations: impl Fn(&str) -> Option<&'a str>) -> &'a str {
    annotations(SANDBOX_ID)
        .or_else(|| annotations(RUNC_GROUP))
        .unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn group_key_prefers_sandbox_id_then_group_then_id() {
        let mut a: HashMap<&str, &str> = HashMap::new();
        assert_eq!(group_key("c1", |k| a.get(k).copied()), "c1");
        a.insert(RUNC_GROUP, "g");
        assert_eq!(group_key("c1", |k| a.get(k).copied()), "g");
        a.insert(SANDBOX_ID, "pod");
        assert_eq!(group_key("c1", |k| a.get(k).copied()), "pod");
    }
}
