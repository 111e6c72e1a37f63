//! Which devices a task may make and open: the rule list built once from
//! the spec (deny everything, then the spec's linux.resources.devices in
//! order, then what every container may do as runc allows it: make any
//! node, and use /dev/null, the terminals and the rest of runc's list;
//! last the spec's own linux.devices), and that list put in force: written to the v1 devices
//! controller where the host has one, and compiled to a cgroup-device BPF
//! program ([`program`], loaded and attached by [`bpf`]) on the task's
//! cgroup v2 directory wherever there is one. cgroup v2 has no devices
//! files: without the program a container with CAP_MKNOD could make a
//! node of any host disk and open it.
//!
//! Matching, as on v1 and in runc's v2 filter: the last rule that matches
//! a request decides. An allow rule matches when it grants every access
//! asked for; a deny rule when it covers any of them (stricter than runc's
//! filter, where a deny of `w` does not stop an open for read and write).

#[allow(unsafe_code)]
pub mod bpf;
pub mod program;

use std::path::Path;

use cgroups_rs::devices::{DevicePermissions, DeviceType, DevicesController};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::TaskCgroup;
use crate::error::SysError;

/// The kind of device a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    All,
    Char,
    Block,
}

/// Access bits, as the kernel's cgroup-device context gives them.
pub const MKNOD: u8 = 1;
pub const READ: u8 = 2;
pub const WRITE: u8 = 4;
pub const ALL_ACCESS: u8 = MKNOD | READ | WRITE;

/// One rule: allow or deny `access` to the devices it names (`None` is
/// any major or minor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: DeviceKind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

impl DeviceRule {
    fn allow(kind: DeviceKind, major: i64, minor: i64) -> DeviceRule {
        DeviceRule {
            allow: true,
            kind,
            major: u32::try_from(major).ok(),
            minor: u32::try_from(minor).ok(),
            access: ALL_ACCESS,
        }
    }

    /// The rule as v1's devices.allow and devices.deny read it.
    pub fn v1_line(&self) -> String {
        let kind = match self.kind {
            DeviceKind::All => 'a',
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
        };
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        format!(
            "{kind} {}:{} {}",
            num(self.major),
            num(self.minor),
            access_text(self.access)
        )
    }
}

fn access_text(access: u8) -> String {
    [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')]
        .iter()
        .filter(|(bit, _)| access & bit != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// What every container may do, as runc allows it: make any device node
/// (opening one is another matter), and use these devices.
const DEFAULT_MKNOD: [DeviceKind; 2] = [DeviceKind::Char, DeviceKind::Block];
const DEFAULT_DEVICES: [(char, i64, i64); 10] = [
    ('c', 1, 3),    // null
    ('c', 1, 5),    // zero
    ('c', 1, 7),    // full
    ('c', 1, 8),    // random
    ('c', 1, 9),    // urandom
    ('c', 5, 0),    // tty
    ('c', 5, 1),    // console
    ('c', 5, 2),    // ptmx
    ('c', 136, -1), // pts
    ('c', 10, 200), // tun
];

/// The task's rules: deny all, the spec's rules in order, then the default
/// devices and `devices` (the spec's linux.devices, as (type, major,
/// minor)), which the container may always use.
pub fn rules(
    spec_rules: &[LinuxDeviceCgroup],
    devices: &[(char, i64, i64)],
) -> Result<Vec<DeviceRule>, SysError> {
    let mut out = vec![DeviceRule {
        allow: false,
        kind: DeviceKind::All,
        major: None,
        minor: None,
        access: ALL_ACCESS,
    }];
    for (i, r) in spec_rules.iter().enumerate() {
        let field = format!("linux.resources.devices[{i}]");
        let kind = match r.typ() {
            None | Some(LinuxDeviceType::A) => DeviceKind::All,
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => DeviceKind::Char,
            Some(LinuxDeviceType::B) => DeviceKind::Block,
            Some(LinuxDeviceType::P) => {
                return Err(SysError::spec(
                    format!("{field}.type"),
                    "\"p\" (a FIFO) is not a device a cgroup rule can name",
                ))
            }
        };
        let mut access = 0;
        for c in r.access().as_deref().unwrap_or("rwm").chars() {
            access |= match c {
                'r' => READ,
                'w' => WRITE,
                'm' => MKNOD,
                other => {
                    return Err(SysError::spec(
                        format!("{field}.access"),
                        format!("{other:?} is not one of r, w, m"),
                    ))
                }
            };
        }
        let number = |n: Option<i64>, what: &str| match n {
            None => Ok(None),
            Some(n) if n < 0 => Ok(None),
            Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                SysError::spec(format!("{field}.{what}"), format!("{n} is out of range"))
            }),
        };
        if access != 0 {
            out.push(DeviceRule {
                allow: r.allow(),
                kind,
                major: number(r.major(), "major")?,
                minor: number(r.minor(), "minor")?,
                access,
            });
        }
    }
    for kind in DEFAULT_MKNOD {
        out.push(DeviceRule {
            allow: true,
            kind,
            major: None,
            minor: None,
            access: MKNOD,
        });
    }
    for (t, major, minor) in DEFAULT_DEVICES.iter().chain(devices) {
        let kind = if *t == 'b' {
            DeviceKind::Block
        } else {
            DeviceKind::Char
        };
        out.push(DeviceRule::allow(kind, *major, *minor));
    }
    Ok(out)
}

/// Puts `rules` in force on the task's cgroup: the v1 devices controller
/// where the host has one, and a BPF program on the v2 directory wherever
/// the task has one (pure v2, or the unified hierarchy of a hybrid host).
pub fn apply(cg: &TaskCgroup, rules: &[DeviceRule]) -> Result<(), SysError> {
    if let Some(c) = cg.handle().controller_of::<DevicesController>() {
        write_v1(c, rules)?;
    }
    if let Some(dir) = cg.v2_dir() {
        bpf::replace_filter(&dir, &program::compile(rules)).map_err(|e| SysError::Cgroup {
            path: cg.path().to_string(),
            message: format!("device filter: {e}"),
        })?;
    }
    Ok(())
}

fn write_v1(c: &DevicesController, rules: &[DeviceRule]) -> Result<(), SysError> {
    for r in rules {
        let typ = match r.kind {
            DeviceKind::All => DeviceType::All,
            DeviceKind::Char => DeviceType::Char,
            DeviceKind::Block => DeviceType::Block,
        };
        let perms = DevicePermissions::from_str(&access_text(r.access)).map_err(|e| {
            SysError::spec("linux.resources.devices", format!("{}: {e}", r.v1_line()))
        })?;
        let (major, minor) = (r.major.map_or(-1, i64::from), r.minor.map_or(-1, i64::from));
        let result = if r.allow {
            c.allow_device(typ, major, minor, &perms)
        } else {
            c.deny_device(typ, major, minor, &perms)
        };
        result.map_err(|e| {
            SysError::spec(
                "linux.resources.devices",
                format!("{} refused: {e}", r.v1_line()),
            )
        })?;
    }
    Ok(())
}

/// Puts `rules` in force on a bare cgroup v2 directory (no TaskCgroup):
/// for tools and tests that hold a directory of their own.
pub fn attach_to_dir(dir: &Path, rules: &[DeviceRule]) -> Result<(), SysError> {
    bpf::replace_filter(dir, &program::compile(rules))
        .map_err(|e| SysError::io("attach device filter", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    #[test]
    fn deny_all_comes_first_and_the_defaults_last() {
        let spec = [LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::B)
            .major(8)
            .access("r")
            .build()
            .unwrap()];
        let r = rules(&spec, &[('b', 7, 0)]).unwrap();
        assert_eq!(r[0].v1_line(), "a *:* rwm");
        assert!(!r[0].allow);
        assert_eq!(r[1].v1_line(), "b 8:* r");
        assert_eq!(r[2].v1_line(), "c *:* m");
        assert_eq!(r[3].v1_line(), "b *:* m");
        assert_eq!(r[4].v1_line(), "c 1:3 rwm");
        assert_eq!(r.last().unwrap().v1_line(), "b 7:0 rwm");
        assert_eq!(r.len(), 1 + 1 + 2 + 10 + 1);
    }

    #[test]
    fn a_fifo_rule_or_a_bad_access_letter_is_refused_by_field() {
        let fifo = [LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::P)
            .build()
            .unwrap()];
        let e = rules(&fifo, &[]).unwrap_err().to_string();
        assert!(e.contains("devices[0].type"), "{e}");
        let bad = [LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .access("rx")
            .build()
            .unwrap()];
        let e = rules(&bad, &[]).unwrap_err().to_string();
        assert!(e.contains("devices[0].access") && e.contains("'x'"), "{e}");
    }
}
