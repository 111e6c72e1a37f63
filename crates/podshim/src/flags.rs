//! The shim v2 command line, as containerd passes it:
//! `-namespace N -id ID -address A -publish-binary B [-debug] ACTION`.
//! Go-style single-dash flags; `--flag` and `-flag=value` work too.

use podshim_types::Id;

#[derive(Debug, Clone)]
pub struct Flags {
    pub namespace: Id,
    pub id: Id,
    /// containerd's gRPC address (unused: events go to TTRPC_ADDRESS).
    pub address: String,
    pub publish_binary: String,
    pub bundle: Option<String>,
    pub debug: bool,
    pub action: String,
}

impl Flags {
    pub fn parse(args: &[String]) -> Result<Flags, String> {
        let mut namespace = None;
        let mut id = None;
        let mut address = String::new();
        let mut publish_binary = String::new();
        let mut bundle = None;
        let mut debug = false;
        let mut action = None;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if !arg.starts_with('-') {
                if action.replace(arg.clone()).is_some() {
                    return Err(format!("unexpected argument {arg:?}"));
                }
                continue;
            }
            let flag = arg.trim_start_matches('-');
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (flag, None),
            };
            if matches!(name, "debug" | "v" | "version" | "info") {
                match name {
                    "debug" => debug = true,
                    // containerd 2.x asks what the runtime supports.
                    "info" => action = Some("info".into()),
                    _ => action = Some("version".into()),
                }
                continue;
            }
            let value = match inline {
                Some(v) => v,
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("flag -{name} needs a value"))?,
            };
            match name {
                "namespace" => namespace = Some(value),
                "id" => id = Some(value),
                "address" => address = value,
                "publish-binary" => publish_binary = value,
                "bundle" => bundle = Some(value),
                // Accepted for compatibility, not used.
                "socket" | "containerd-binary" | "runtime-root" | "systemd-cgroup" | "criu" => {}
                other => return Err(format!("unknown flag -{other}")),
            }
        }
        let action = action.ok_or("no action given: expected start, delete or version")?;
        if action == "version" || action == "info" {
            return Ok(Flags {
                namespace: Id::new("default").map_err(|e| e.to_string())?,
                id: Id::new("version").map_err(|e| e.to_string())?,
                address,
                publish_binary,
                bundle,
                debug,
                action,
            });
        }
        let namespace = namespace.ok_or("-namespace is required")?;
        let namespace = Id::new(&namespace).map_err(|e| format!("-namespace: {e}"))?;
        let id = id.ok_or("-id is required")?;
        let id = Id::new(&id).map_err(|e| format!("-id: {e}"))?;
        Ok(Flags {
            namespace,
            id,
            address,
            publish_binary,
            bundle,
            debug,
            action,
        })
    }

    /// The arguments that start the same shim again with another action.
    pub fn to_args(&self, action: &str) -> Vec<String> {
        let mut v = vec![
            "-namespace".into(),
            self.namespace.to_string(),
            "-id".into(),
            self.id.to_string(),
            "-address".into(),
            self.address.clone(),
            "-publish-binary".into(),
            self.publish_binary.clone(),
        ];
        if self.debug {
            v.push("-debug".into());
        }
        v.push(action.into());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_containerd_command_line() {
        let f = Flags::parse(&s(&[
            "-namespace",
            "k8s.io",
            "-address",
            "/run/containerd/containerd.sock",
            "-publish-binary",
            "/usr/bin/containerd",
            "-id",
            "abc",
            "-debug",
            "start",
        ]))
        .unwrap();
        assert_eq!(f.namespace.as_str(), "k8s.io");
        assert_eq!(f.id.as_str(), "abc");
        assert!(f.debug);
        assert_eq!(f.action, "start");
        let again = Flags::parse(&f.to_args("serve")).unwrap();
        assert_eq!(again.action, "serve");
        assert_eq!(again.id, f.id);
    }

    #[test]
    fn refuses_bad_ids_and_missing_flags() {
        assert!(
            Flags::parse(&s(&["-namespace", "n", "-id", "../x", "start"]))
                .unwrap_err()
                .contains("-id")
        );
        assert!(Flags::parse(&s(&["-id", "x", "start"]))
            .unwrap_err()
            .contains("namespace"));
        assert!(Flags::parse(&s(&["-namespace", "n", "-id", "x"]))
            .unwrap_err()
            .contains("action"));
        assert!(Flags::parse(&s(&["-bogus", "1", "start"]))
            .unwrap_err()
            .contains("bogus"));
    }
}
