//! Making a task's directory in one hierarchy: in a v1 hierarchy a single
//! mkdir when the levels above are already there (a pod's second and later
//! tasks), else the walk from the hierarchy's root, each level made if
//! missing, v2 controllers delegated down at every level and a v1 cpuset
//! filled in from its parent.

use std::io::ErrorKind;
use std::path::Path;

use super::hierarchy::Hierarchy;

/// On v2 a child gets a controller only when its parent delegates it.
fn enable_controllers(dir: &Path) {
    let have = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let on = std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    let want: Vec<String> = have
        .split_whitespace()
        .filter(|c| matches!(*c, "cpu" | "cpuset" | "memory" | "pids" | "io" | "hugetlb"))
        .filter(|c| !on.split_whitespace().any(|o| o == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if !want.is_empty() {
        // Refused when the parent holds processes itself; the limit write
        // that needs the controller then fails with its own message.
        let _ = std::fs::write(dir.join("cgroup.subtree_control"), want.join(" "));
    }
}

/// The usual case in a v1 hierarchy, a pod's second and later tasks: the
/// levels above are there and filled in, so one mkdir makes the task's
/// directory (the walk from the root is a mkdir per level, and in the
/// cpuset a few reads and writes per level too; a hybrid host has ten v1
/// hierarchies). `false` when the walk is needed: on v2, where every
/// level above must delegate the controllers (one hierarchy, a few calls
/// per level), when a level above is missing, when the directory exists
/// already, or when the parent's cpuset is still empty (a shim making it
/// right now).
pub(super) fn leaf(h: &Hierarchy, parts: &[&str], made: &mut [bool]) -> std::io::Result<bool> {
    let Some((leaf, above)) = parts.split_last().filter(|_| !h.v2) else {
        return Ok(false);
    };
    let parent = above.iter().fold(h.root.clone(), |d, p| d.join(p));
    let cpuset = h.controllers.iter().any(|c| c == "cpuset");
    if cpuset && !cpuset_filled(&parent) {
        return Ok(false);
    }
    let dir = parent.join(leaf);
    match std::fs::create_dir(&dir) {
        Ok(()) => made[parts.len() - 1] = true,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::AlreadyExists) => {
            return Ok(false)
        }
        Err(e) => {
            return Err(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", dir.display()),
            ))
        }
    }
    if cpuset {
        inherit_cpuset(&parent, &dir)?;
    }
    Ok(true)
}

/// Makes every level of `parts` in hierarchy `h` from its root down.
pub(super) fn path(h: &Hierarchy, parts: &[&str], made: &mut [bool]) -> std::io::Result<()> {
    let mut dir = h.root.clone();
    for (i, part) in parts.iter().enumerate() {
        if h.v2 {
            enable_controllers(&dir);
        }
        let parent = dir.clone();
        dir.push(part);
        match std::fs::create_dir(&dir) {
            Ok(()) => made[i] = true,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", dir.display()),
                ))
            }
        }
        // Also for a level another shim is making right now: it may not
        // have filled it in yet (then joining a child fails with ENOSPC).
        // Only empty values are written.
        if !h.v2 && h.controllers.iter().any(|c| c == "cpuset") {
            inherit_cpuset(&parent, &dir)?;
        }
    }
    Ok(())
}

/// Both of the v1 cpuset's values are set in `dir`.
fn cpuset_filled(dir: &Path) -> bool {
    ["cpuset.cpus", "cpuset.mems"]
        .iter()
        .all(|f| std::fs::read_to_string(dir.join(f)).is_ok_and(|v| !v.trim().is_empty()))
}

/// A new v1 cpuset starts with no cpus and no memory nodes; a process
/// cannot join it until it has the parent's.
fn inherit_cpuset(parent: &Path, dir: &Path) -> std::io::Result<()> {
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let mine = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        if mine.trim().is_empty() {
            let theirs = std::fs::read_to_string(parent.join(f))?;
            std::fs::write(dir.join(f), theirs.trim())?;
        }
    }
    Ok(())
}
