//! A bundle's config.json and a pod.json as the shim and podctl read
//! them: parsed, then every check that turns spec fields into kernel
//! input (seccomp compilation, mount options, cgroup paths, id maps).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::Spec;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = podshim_types::PodManifest::parse(text);
    }
    let Ok(spec) = serde_json::from_slice::<Spec>(data) else {
        return;
    };
    for m in spec.mounts().iter().flatten() {
        let _ = podshim_sys::rootfs::parse_options(m.options().as_deref().unwrap_or(&[]));
    }
    if let Some(linux) = spec.linux() {
        if let Some(profile) = linux.seccomp() {
            let _ = podshim_sys::seccomp::compile(profile);
        }
        if let Some(path) = linux.cgroups_path() {
            let _ = podshim_sys::cgroup::CgroupPath::parse(&path.to_string_lossy());
        }
        let _ = podshim_sys::userns::map_text(linux.uid_mappings().as_deref().unwrap_or(&[]));
    }
});
