//! Where podctl keeps its copies of a pod's bundles and manifest in the
//! pod's state directory, for every command that reads them.

use std::path::PathBuf;

use podshim_state::PodPaths;

/// Where podctl keeps the bundles it made for a pod.
pub fn bundles_dir(p: &PodPaths) -> PathBuf {
    p.dir().join("bundles")
}

/// The sandbox bundle's directory name under [`bundles_dir`].
pub const SANDBOX_BUNDLE: &str = "_sandbox";

/// The copy of pod.json kept under [`bundles_dir`] (container names start
/// with a letter or digit, so neither name can clash with a bundle).
pub const MANIFEST_COPY: &str = "_pod.json";
