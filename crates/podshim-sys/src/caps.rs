//! Linux capabilities of the container process: the five sets of
//! `process.capabilities`, applied with prctl and capset(2).

use nix::errno::Errno;

use crate::error::SysError;

/// Capability names in kernel order (index = capability number).
const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Every capability name podshim knows, in kernel order.
pub fn names() -> &'static [&'static str] {
    &NAMES
}

/// A set of capabilities as a bit mask.
pub type CapMask = u64;

/// Parses capability names into a mask; an unknown name is an error
/// naming it.
pub fn mask_of<'a>(
    field: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<CapMask, SysError> {
    let mut m = 0u64;
    for n in names {
        let upper = n.to_ascii_uppercase();
        let full = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        let idx = NAMES
            .iter()
            .position(|c| *c == full)
            .ok_or_else(|| SysError::spec(field, format!("unknown capability {n:?}")))?;
        m |= 1 << idx;
    }
    Ok(m)
}

/// The highest capability this kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// The five sets, resolved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: CapMask,
    pub effective: CapMask,
    pub permitted: CapMask,
    pub inheritable: CapMask,
    pub ambient: CapMask,
}

/// Drops from the bounding set what `keep` lacks. Needs CAP_SETPCAP, so it
/// runs before the uid changes.
pub fn limit_bounding(keep: CapMask) -> Result<(), SysError> {
    for cap in 0..=last_cap().min(63) {
        if keep & (1 << cap) != 0 {
            continue;
        }
        // SAFETY: PR_CAPBSET_DROP takes a capability number; no pointers.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if rc < 0 && Errno::last() != Errno::EINVAL {
            return Err(SysError::os("prctl(PR_CAPBSET_DROP)", cap, Errno::last()));
        }
    }
    Ok(())
}

/// Sets effective, permitted and inheritable with capset(2), then raises
/// the ambient set.
pub fn apply(sets: &CapSets) -> Result<(), SysError> {
    let mut header = libc_cap_header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let split = |m: CapMask| (m as u32, (m >> 32) as u32);
    let (e0, e1) = split(sets.effective);
    let (p0, p1) = split(sets.permitted);
    let (i0, i1) = split(sets.inheritable);
    let data = [
        libc_cap_data {
            effective: e0,
            permitted: p0,
            inheritable: i0,
        },
        libc_cap_data {
            effective: e1,
            permitted: p1,
            inheritable: i1,
        },
    ];
    // SAFETY: header and data are repr(C) structs laid out as the kernel's
    // __user_cap_header_struct and two __user_cap_data_struct (version 3);
    // both outlive the call, which only reads them.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if rc < 0 {
        return Err(SysError::os(
            "capset",
            "process.capabilities",
            Errno::last(),
        ));
    }
    for cap in 0..=last_cap().min(63) {
        if sets.ambient & (1 << cap) == 0 {
            continue;
        }
        // SAFETY: PR_CAP_AMBIENT_RAISE takes a capability number; no pointers.
        let rc = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                cap as libc::c_ulong,
                0,
                0,
            )
        };
        // The kernel raises an ambient capability only if it is permitted
        // and inheritable too; runc skips the others (with a warning) and
        // specs made by `runc spec`/`crun spec` rely on that.
        if rc < 0 && Errno::last() != Errno::EPERM {
            return Err(SysError::os(
                "prctl(PR_CAP_AMBIENT_RAISE)",
                NAMES.get(cap as usize).unwrap_or(&"?"),
                Errno::last(),
            ));
        }
    }
    Ok(())
}

/// Drops every capability of this process for good: the bounding set
/// emptied, then no effective, permitted, inheritable or ambient one.
pub fn drop_all() -> Result<(), SysError> {
    limit_bounding(0)?;
    apply(&CapSets::default())
}

#[repr(C)]
#[allow(non_camel_case_types)]
struct libc_cap_header {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[allow(non_camel_case_types)]
struct libc_cap_data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_kernel_numbers() {
        assert_eq!(mask_of("x", ["CAP_CHOWN"]).unwrap(), 1);
        assert_eq!(mask_of("x", ["CAP_NET_BIND_SERVICE"]).unwrap(), 1 << 10);
        assert_eq!(mask_of("x", ["net_raw"]).unwrap(), 1 << 13);
        assert_eq!(mask_of("x", ["CAP_CHECKPOINT_RESTORE"]).unwrap(), 1 << 40);
        let e = mask_of("process.capabilities.bounding", ["CAP_FLY"]).unwrap_err();
        assert!(e.to_string().contains("CAP_FLY"), "{e}");
    }
}
