//! A task's cgroup as a spec's linux.cgroupsPath names it, checked: a
//! cgroupfs path (`/kubepods/pod1/ctr`, relative to each hierarchy's
//! root), or the systemd driver's `slice:prefix:name`, which is a scope
//! unit `prefix-name.scope` in that slice, at the directory systemd gives
//! it (`kubepods-besteffort-pod1.slice` lives at
//! `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice`).

use crate::error::SysError;

const FIELD: &str = "linux.cgroupsPath";

/// Where a task's cgroup is and who makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupPath {
    /// podshim makes the directories itself.
    Fs { rel: String },
    /// systemd makes the scope unit, and with it the directory.
    Systemd(ScopeUnit),
}

/// A transient scope unit for a task, in a slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeUnit {
    pub slice: String,
    pub unit: String,
    /// The unit's directory relative to the cgroup2 root.
    pub rel: String,
}

impl CgroupPath {
    /// `path` as a spec gives it.
    pub fn parse(path: &str) -> Result<CgroupPath, SysError> {
        if path.contains(':') {
            return parse_systemd(path).map(CgroupPath::Systemd);
        }
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        if parts.is_empty()
            || path.len() > 1024
            || parts
                .iter()
                .any(|p| *p == "." || *p == ".." || p.contains('\0') || p.len() > 255)
        {
            return Err(SysError::spec(
                FIELD,
                format!("{path:?} is not a usable cgroup path"),
            ));
        }
        Ok(CgroupPath::Fs {
            rel: parts.join("/"),
        })
    }

    /// The directory relative to the hierarchies' roots.
    pub fn rel(&self) -> &str {
        match self {
            CgroupPath::Fs { rel } => rel,
            CgroupPath::Systemd(u) => &u.rel,
        }
    }
}

fn parse_systemd(path: &str) -> Result<ScopeUnit, SysError> {
    let bad = |why: String| SysError::spec(FIELD, format!("{path:?}: {why}"));
    let fields: Vec<&str> = path.split(':').collect();
    let [slice, prefix, name] = fields[..] else {
        return Err(bad("a systemd path is slice:prefix:name".into()));
    };
    if name.is_empty() {
        return Err(bad("the name is empty".into()));
    }
    if name.ends_with(".slice") {
        return Err(bad(
            "podshim puts a task in a scope unit, not a slice of its own".into(),
        ));
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let unit = if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    for n in [slice, &unit] {
        if n.len() > 255
            || !n.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '-' | '\\' | '@')
            })
        {
            return Err(bad(format!("{n:?} is not a valid unit name")));
        }
    }
    let dir = expand_slice(slice).map_err(bad)?;
    let rel = if dir.is_empty() {
        unit.clone()
    } else {
        format!("{dir}/{unit}")
    };
    Ok(ScopeUnit {
        slice: slice.to_string(),
        unit,
        rel,
    })
}

/// The directory of a slice: each dash opens a level
/// (`a-b.slice` is `a.slice/a-b.slice`); `-.slice` is the root.
fn expand_slice(slice: &str) -> Result<String, String> {
    let Some(base) = slice.strip_suffix(".slice") else {
        return Err(format!("{slice:?} is not a slice (no .slice suffix)"));
    };
    if base == "-" {
        return Ok(String::new());
    }
    if base.is_empty()
        || base.starts_with('-')
        || base.ends_with('-')
        || base.contains("--")
        || base.contains('/')
    {
        return Err(format!("{slice:?} is not a valid slice name"));
    }
    let mut levels: Vec<String> = base
        .char_indices()
        .filter(|(_, c)| *c == '-')
        .map(|(i, _)| format!("{}.slice", &base[..i]))
        .collect();
    levels.push(slice.to_string());
    Ok(levels.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroupfs_path_is_relative_and_checked() {
        assert_eq!(
            CgroupPath::parse("/kubepods//pod1/ctr").unwrap(),
            CgroupPath::Fs {
                rel: "kubepods/pod1/ctr".into()
            }
        );
        assert!(CgroupPath::parse("/a/../b").is_err());
        assert!(CgroupPath::parse("/").is_err());
    }

    #[test]
    fn a_systemd_path_is_a_scope_in_its_expanded_slice() {
        let CgroupPath::Systemd(u) =
            CgroupPath::parse("kubepods-besteffort-pod12ab.slice:cri-containerd:c0ffee").unwrap()
        else {
            panic!("not systemd")
        };
        assert_eq!(u.slice, "kubepods-besteffort-pod12ab.slice");
        assert_eq!(u.unit, "cri-containerd-c0ffee.scope");
        assert_eq!(
            u.rel,
            "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12ab.slice/cri-containerd-c0ffee.scope"
        );
        let CgroupPath::Systemd(u) = CgroupPath::parse(":podshim:x").unwrap() else {
            panic!("not systemd")
        };
        assert_eq!(u.rel, "system.slice/podshim-x.scope");
        let CgroupPath::Systemd(u) = CgroupPath::parse("-.slice::x").unwrap() else {
            panic!("not systemd")
        };
        assert_eq!(u.rel, "x.scope");
    }

    #[test]
    fn a_bad_systemd_path_is_refused_naming_the_field() {
        for p in [
            "a.slice:b",
            "a.slice:b:c:d",
            "a.slice:p:",
            "nodot:p:n",
            "a--b.slice:p:n",
            "-a.slice:p:n",
            "a.slice:p:n.slice",
            "a.slice:p:bad/name",
            "a.slice:p:sp ace",
        ] {
            let e = CgroupPath::parse(p).unwrap_err().to_string();
            assert!(e.contains("linux.cgroupsPath"), "{p}: {e}");
        }
    }
}
