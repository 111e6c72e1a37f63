//! The cgroup hierarchies this process sees, read once: their mount
//! points and controllers, and cgroups-rs's view of them.

use std::path::PathBuf;

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone)]
pub(super) struct Hierarchy {
    pub root: PathBuf,
    pub v2: bool,
    /// v1: the controllers (and `name=` options) of the mount; v2: the
    /// controllers in the root's cgroup.controllers.
    pub controllers: Vec<String>,
}

/// The mounted hierarchies, read once per process: the shim's mount
/// namespace does not change under it.
pub(super) fn hierarchies() -> Vec<Hierarchy> {
    static CACHE: std::sync::OnceLock<Vec<Hierarchy>> = std::sync::OnceLock::new();
    CACHE.get_or_init(read_hierarchies).clone()
}

/// cgroups-rs's view of the controllers (what `hierarchies::auto()`
/// returns), read once per process like [`hierarchies`].
pub(super) fn controller_hierarchy() -> Box<dyn cgroups_rs::Hierarchy> {
    use cgroups_rs::hierarchies::{is_cgroup2_unified_mode, V1, V2};
    enum Kind {
        V1(V1),
        V2(V2),
    }
    static CACHE: std::sync::OnceLock<Kind> = std::sync::OnceLock::new();
    match CACHE.get_or_init(|| {
        if is_cgroup2_unified_mode() {
            Kind::V2(V2::new())
        } else {
            Kind::V1(V1::new())
        }
    }) {
        Kind::V1(h) => Box::new(h.clone()),
        Kind::V2(h) => Box::new(h.clone()),
    }
}

fn read_hierarchies() -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    // A bind of a hierarchy's subdirectory (root other than /) is not
    // where its tree starts.
    for m in super::mounts::mounted().unwrap_or_default() {
        if m.root != "/" || out.iter().any(|h| h.root == m.point) {
            continue;
        }
        let controllers = if m.v2 {
            std::fs::read_to_string(m.point.join("cgroup.controllers"))
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect()
        } else {
            m.controllers
        };
        out.push(Hierarchy {
            root: m.point,
            v2: m.v2,
            controllers,
        });
    }
    out
}
