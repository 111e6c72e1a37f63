//! The OCI hooks that run in the runtime namespace, started by the shim:
//! prestart and createRuntime during Create (while the container's pid 1
//! waits, namespaces made, before pivot_root), poststart after Start,
//! poststop after Delete. A failing prestart or createRuntime hook fails
//! the Create; poststart and poststop failures are logged and the
//! lifecycle goes on, as the runtime spec says. createContainer and
//! startContainer run inside the container, in its pid 1
//! (`podshim_sys::hooks::run_all`).

use oci_spec::runtime::{Hook, Hooks};

use crate::child::Child;
use crate::error::Result;

/// The spec's hooks of one stage (empty when none).
pub fn of(hooks: &Hooks, stage: &str) -> Vec<Hook> {
    let list = match stage {
        "prestart" => hooks.prestart(),
        "createRuntime" => hooks.create_runtime(),
        "createContainer" => hooks.create_container(),
        "startContainer" => hooks.start_container(),
        "poststart" => hooks.poststart(),
        "poststop" => hooks.poststop(),
        _ => &None,
    };
    list.clone().unwrap_or_default()
}

/// Kills a hook that was not waited for to its end.
struct KillUnlessWaited<'a>(&'a podshim_sys::hooks::Started, bool);

impl Drop for KillUnlessWaited<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.kill();
        }
    }
}

/// Runs the hooks of `stage` in order; the first failure is the error.
pub async fn run(hooks: &Hooks, stage: &str, state: &str) -> Result<()> {
    for (i, hook) in of(hooks, stage).iter().enumerate() {
        let field = format!("hooks.{stage}[{i}]");
        let started = podshim_sys::hooks::start(hook, state, &field)?;
        // Ours to wait for: the orphan reaper must leave it alone.
        let child = Child::from_pidfd(
            started.pid,
            started
                .pidfd
                .try_clone()
                .map_err(|e| crate::error::ShimError::Internal(format!("dup pidfd: {e}")))?,
        );
        // A Create that a Delete stops drops this future: the hook is
        // killed with it rather than left running.
        let mut guard = KillUnlessWaited(&started, false);
        let waited = match started.timeout {
            Some(t) => tokio::time::timeout(t, child.wait()).await.ok(),
            None => Some(child.wait().await),
        };
        guard.1 = waited.is_some();
        drop(guard);
        let code = match waited {
            Some(code) => code?,
            None => {
                started.kill();
                child.wait().await?;
                None
            }
        };
        started.finish(code, &field, &hook.path().to_string_lossy())?;
    }
    Ok(())
}

/// Runs the hooks of a stage whose failure does not stop the lifecycle.
pub async fn run_logged(hooks: &Hooks, stage: &str, state: &str) {
    if let Err(e) = run(hooks, stage, state).await {
        tracing::warn!("{e}");
    }
}
