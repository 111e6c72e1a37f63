//! The runtime options containerd sends with a Create (`options`), in each
//! of the three types it knows, read field by field:
//! - `containerd.runc.v1.Options`, the runc v2 shim's (a handler of type
//!   io.containerd.runc.v2, or the `[...runtimes.X.options]` table);
//! - `containerd.linux.runc.CreateOptions`, the v1 runtime's, which
//!   containerd's Go client (ctr, nerdctl) sends for a runtime that is not
//!   runc's when it asks for NoPivotRoot, ShimCgroup or IoUid/IoGid;
//! - `runtimeoptions.v1.Options`, what containerd's CRI sends for a handler
//!   of any other type: a TOML document, inline (ConfigBody, the options
//!   table itself) or in a file (ConfigPath), with runc's field names.
//!
//! Each field is honoured or refused by name: ShimCgroup moves the shim
//! into that cgroup, IoUid and IoGid own the pipes the shim makes for a
//! process's stdio, NoNewKeyring keeps the caller's session keyring;
//! SystemdCgroup is accepted where the driver works (systemd as init,
//! cgroup v2 only: the cgroupsPath's form picks the driver) and refused
//! elsewhere; NoPivotRoot is refused (not supported). The runc binary's own
//! settings (BinaryName, Root, CRIU paths, the task API address) and the
//! v1 type's restore-only fields mean nothing to podshim and are ignored
//! with a log line.

use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::{CodedInputStream, Message};
use containerd_shim_protos::shim::oci::Options;
use serde::Deserialize;

use crate::error::{Result, ShimError};

/// What a Create's options ask of the shim.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// Owner (uid, gid) of the pipes the shim makes for stdio.
    pub io_owner: Option<(u32, u32)>,
    /// The cgroup the shim moves itself into.
    pub shim_cgroup: Option<String>,
    /// The container keeps the session keyring it inherits (runc's
    /// NoNewKeyring); otherwise it gets a new one of its own.
    pub no_new_keyring: bool,
    /// Fields ignored, for the log.
    pub ignored: Vec<&'static str>,
}

/// A TOML options document bigger than this is refused.
const MAX_TOML: u64 = 1 << 20;

/// The runc shim's fields, whichever type carried them (a TOML document
/// names them as containerd's config does: `IoUid`, `ShimCgroup`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
struct RuncFields {
    no_pivot_root: bool,
    no_new_keyring: bool,
    shim_cgroup: String,
    io_uid: u32,
    io_gid: u32,
    binary_name: String,
    root: String,
    criu_path: String,
    systemd_cgroup: bool,
    criu_image_path: String,
    criu_work_path: String,
    task_api_address: String,
    task_api_version: u32,
    /// runtimeoptions.v1's own keys, when an options table sets them.
    type_url: String,
    config_path: String,
    /// The v1 CreateOptions' fields for a restore from a checkpoint
    /// (podshim refuses a Create from a checkpoint before it gets here).
    #[serde(skip)]
    restore_only: Vec<&'static str>,
}

/// Parses the `options` of a Create.
pub fn parse(options: Option<&Any>) -> Result<RuntimeOptions> {
    let Some(any) = options.filter(|a| !a.type_url.is_empty() || !a.value.is_empty()) else {
        return Ok(RuntimeOptions::default());
    };
    let kind = any.type_url.rsplit('/').next().unwrap_or("");
    let bad = |e: String| ShimError::InvalidArgument(format!("runtime options {kind}: {e}"));
    let fields = match kind {
        "containerd.runc.v1.Options" => {
            let o = Options::parse_from_bytes(&any.value).map_err(|e| bad(e.to_string()))?;
            RuncFields {
                no_pivot_root: o.no_pivot_root,
                no_new_keyring: o.no_new_keyring,
                shim_cgroup: o.shim_cgroup,
                io_uid: o.io_uid,
                io_gid: o.io_gid,
                binary_name: o.binary_name,
                root: o.root,
                systemd_cgroup: o.systemd_cgroup,
                criu_image_path: o.criu_image_path,
                criu_work_path: o.criu_work_path,
                task_api_address: o.task_api_address,
                task_api_version: o.task_api_version,
                ..Default::default()
            }
        }
        "containerd.linux.runc.CreateOptions" => {
            create_options(&any.value).map_err(|e| bad(e.to_string()))?
        }
        "runtimeoptions.v1.Options" => {
            let text = runtimeoptions_toml(&any.value).map_err(bad)?;
            toml::from_str(&text).map_err(|e| bad(toml_error(&text, &e)))?
        }
        other => {
            return Err(ShimError::InvalidArgument(format!(
                "runtime options of unknown type {other:?}"
            )))
        }
    };
    take(fields)
}

/// A TOML error on one line: its message and the line it is about.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let Some(at) = e.span().map(|s| s.start) else {
        return e.message().to_string();
    };
    let line_no = text[..at.min(text.len())].matches('\n').count();
    let line = text.lines().nth(line_no).unwrap_or("").trim();
    format!("{} (line {}: {line})", e.message(), line_no + 1)
}

/// The checks and the outcome, the same for every type.
fn take(o: RuncFields) -> Result<RuntimeOptions> {
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
        (!o.criu_path.is_empty(), "CriuPath"),
        (!o.criu_image_path.is_empty(), "CriuImagePath"),
        (!o.criu_work_path.is_empty(), "CriuWorkPath"),
        (!o.task_api_address.is_empty(), "TaskApiAddress"),
        (o.task_api_version != 0, "TaskApiVersion"),
        (!o.type_url.is_empty(), "TypeUrl"),
    ] {
        if set {
            ignored.push(name);
        }
    }
    ignored.extend(o.restore_only);
    Ok(RuntimeOptions {
        io_owner: (o.io_uid != 0 || o.io_gid != 0).then_some((o.io_uid, o.io_gid)),
        shim_cgroup: Some(o.shim_cgroup).filter(|c| !c.is_empty()),
        no_new_keyring: o.no_new_keyring,
        ignored,
    })
}

/// Decodes a `containerd.linux.runc.CreateOptions` (runctypes/runc.proto)
/// field by field; an unknown field is skipped, as protobuf readers do.
fn create_options(bytes: &[u8]) -> std::result::Result<RuncFields, String> {
    use containerd_shim_protos::protobuf::rt::WireType;
    let mut o = RuncFields::default();
    let mut is = CodedInputStream::from_bytes(bytes);
    let err = |e: containerd_shim_protos::protobuf::Error| e.to_string();
    while let Some(tag) = is.read_raw_tag_or_eof().map_err(err)? {
        let (field, wire) = (tag >> 3, tag & 7);
        let restore = |o: &mut RuncFields, name| o.restore_only.push(name);
        match field {
            1 => o.no_pivot_root = is.read_bool().map_err(err)?,
            2 if is.read_bool().map_err(err)? => restore(&mut o, "OpenTcp"),
            3 if is.read_bool().map_err(err)? => restore(&mut o, "ExternalUnixSockets"),
            4 if is.read_bool().map_err(err)? => restore(&mut o, "Terminal"),
            5 if is.read_bool().map_err(err)? => restore(&mut o, "FileLocks"),
            6 => {
                is.read_string().map_err(err)?;
                if !o.restore_only.contains(&"EmptyNamespaces") {
                    restore(&mut o, "EmptyNamespaces");
                }
            }
            7 if !is.read_string().map_err(err)?.is_empty() => restore(&mut o, "CgroupsMode"),
            8 => o.no_new_keyring = is.read_bool().map_err(err)?,
            9 => o.shim_cgroup = is.read_string().map_err(err)?,
            10 => o.io_uid = is.read_uint32().map_err(err)?,
            11 => o.io_gid = is.read_uint32().map_err(err)?,
            12 => o.criu_work_path = is.read_string().map_err(err)?,
            13 => o.criu_image_path = is.read_string().map_err(err)?,
            2..=7 => {}
            _ => {
                let wire = WireType::new(wire).ok_or(format!("bad wire type {wire}"))?;
                is.skip_field(wire).map_err(err)?;
            }
        }
    }
    Ok(o)
}

/// The TOML document of a `runtimeoptions.v1.Options`: its ConfigBody
/// (field 3, containerd 1.7 and later put the options table there), else
/// the file at its ConfigPath (field 2).
fn runtimeoptions_toml(bytes: &[u8]) -> std::result::Result<String, String> {
    let mut is = CodedInputStream::from_bytes(bytes);
    let err = |e: containerd_shim_protos::protobuf::Error| e.to_string();
    let (mut path, mut body) = (String::new(), Vec::new());
    while let Some(tag) = is.read_raw_tag_or_eof().map_err(err)? {
        match (tag >> 3, tag & 7) {
            (2, 2) => path = is.read_string().map_err(err)?,
            (3, 2) => body = is.read_bytes().map_err(err)?,
            (_, wire) => {
                use containerd_shim_protos::protobuf::rt::WireType;
                let wire = WireType::new(wire).ok_or(format!("bad wire type {wire}"))?;
                is.skip_field(wire).map_err(err)?;
            }
        }
    }
    if !body.is_empty() {
        return String::from_utf8(body).map_err(|_| "ConfigBody is not UTF-8".into());
    }
    if path.is_empty() {
        return Ok(String::new());
    }
    let f = std::fs::File::open(&path).map_err(|e| format!("ConfigPath {path}: {e}"))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(f, MAX_TOML + 1), &mut text)
        .map_err(|e| format!("ConfigPath {path}: {e}"))?;
    if text.len() as u64 > MAX_TOML {
        return Err(format!("ConfigPath {path}: over {MAX_TOML} bytes"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim_protos::protobuf::CodedOutputStream;

    fn any(type_url: &str, value: Vec<u8>) -> Any {
        Any {
            type_url: type_url.into(),
            value,
            ..Default::default()
        }
    }

    fn runc(o: &Options) -> Any {
        any("containerd.runc.v1.Options", o.write_to_bytes().unwrap())
    }

    /// A message written field by field: (number, value).
    enum F<'a> {
        B(u32, bool),
        S(u32, &'a str),
        U(u32, u32),
    }

    fn encode(fields: &[F]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut os = CodedOutputStream::vec(&mut out);
        for f in fields {
            match *f {
                F::B(n, v) => os.write_bool(n, v).unwrap(),
                F::S(n, v) => os.write_string(n, v).unwrap(),
                F::U(n, v) => os.write_uint32(n, v).unwrap(),
            }
        }
        os.flush().unwrap();
        drop(os);
        out
    }

    #[test]
    fn runc_options_are_honoured_or_refused_by_name() {
        assert_eq!(parse(None).unwrap(), RuntimeOptions::default());
        let o = Options {
            io_uid: 1000,
            io_gid: 1001,
            shim_cgroup: "/pods/shim".into(),
            binary_name: "/usr/bin/runc".into(),
            no_new_keyring: true,
            ..Default::default()
        };
        let r = parse(Some(&runc(&o))).unwrap();
        assert_eq!(r.io_owner, Some((1000, 1001)));
        assert_eq!(r.shim_cgroup.as_deref(), Some("/pods/shim"));
        assert!(r.no_new_keyring);
        assert_eq!(r.ignored, ["BinaryName"]);
        let no_pivot = Options {
            no_pivot_root: true,
            ..Default::default()
        };
        let e = parse(Some(&runc(&no_pivot))).unwrap_err().to_string();
        assert!(e.contains("NoPivotRoot"), "{e}");
        // SystemdCgroup: taken where the driver works, refused elsewhere.
        let systemd = Options {
            systemd_cgroup: true,
            ..Default::default()
        };
        match parse(Some(&runc(&systemd))) {
            Ok(_) => assert!(crate::cgroup::systemd::available()),
            Err(e) => {
                assert!(!crate::cgroup::systemd::available());
                assert!(e.to_string().contains("SystemdCgroup"), "{e}");
            }
        }
        let e = parse(Some(&any("example.Options", vec![])))
            .unwrap_err()
            .to_string();
        assert!(e.contains("example.Options"), "{e}");
    }

    #[test]
    fn v1_create_options_are_read_field_by_field() {
        let v1 = "containerd.linux.runc.CreateOptions";
        let bytes = encode(&[
            F::S(9, "/pods/shim"),
            F::U(10, 1000),
            F::U(11, 1001),
            F::B(8, true),
            F::B(2, true),
            F::S(6, "network"),
            F::S(6, "ipc"),
            F::S(12, "/work"),
            // A field this version does not know is skipped.
            F::S(99, "later"),
        ]);
        let r = parse(Some(&any(v1, bytes))).unwrap();
        assert_eq!(r.io_owner, Some((1000, 1001)));
        assert_eq!(r.shim_cgroup.as_deref(), Some("/pods/shim"));
        assert!(r.no_new_keyring);
        assert_eq!(r.ignored, ["CriuWorkPath", "OpenTcp", "EmptyNamespaces"]);
        let e = parse(Some(&any(v1, encode(&[F::B(1, true)]))))
            .unwrap_err()
            .to_string();
        assert!(e.contains("NoPivotRoot"), "{e}");
        let e = parse(Some(&any(v1, vec![0x0a, 0x05, b'x'])))
            .unwrap_err()
            .to_string();
        assert!(e.contains(v1), "{e}");
    }

    #[test]
    fn cri_runtime_options_are_a_toml_table_inline_or_in_a_file() {
        let cri = "runtimeoptions.v1.Options";
        let body = "IoUid = 1000\nIoGid = 1001\nShimCgroup = \"/pods/shim\"\nNoNewKeyring = true\n";
        let inline = encode(&[F::S(1, "whatever"), F::S(3, body)]);
        let r = parse(Some(&any(cri, inline))).unwrap();
        assert_eq!(r.io_owner, Some((1000, 1001)));
        assert_eq!(r.shim_cgroup.as_deref(), Some("/pods/shim"));
        assert!(r.no_new_keyring);

        let dir = std::env::temp_dir().join(format!("podshim-opts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("podshim.toml");
        std::fs::write(&file, "IoUid = 7\nBinaryName = \"runc\"\n").unwrap();
        let by_path = encode(&[F::S(2, file.to_str().unwrap())]);
        let r = parse(Some(&any(cri, by_path))).unwrap();
        assert_eq!(r.io_owner, Some((7, 0)));
        assert_eq!(r.ignored, ["BinaryName"]);

        // Refused by name: an unknown key, a field podshim cannot do, a
        // missing file.
        for (doc, word) in [
            ("Frobnicate = true", "Frobnicate"),
            ("NoPivotRoot = true", "NoPivotRoot"),
            ("IoUid = \"root\"", "IoUid"),
        ] {
            let e = parse(Some(&any(cri, encode(&[F::S(3, doc)]))))
                .unwrap_err()
                .to_string();
            assert!(e.contains(word) && !e.contains('\n'), "{doc}: {e}");
        }
        let gone = encode(&[F::S(2, "/nonexistent/podshim.toml")]);
        let e = parse(Some(&any(cri, gone))).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/podshim.toml"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
