//! Starting OCI hooks and waiting for them in a single-threaded process.
//! A hook gets exactly its spec's args and env, the container state JSON
//! on stdin (a sealed-size memfd, so a large state never blocks a pipe),
//! its own session (a timeout kills the whole group), and its stdout and
//! stderr in a memfd whose start is quoted when the hook fails.
//!
//! The shim waits for the runtime-namespace hooks on its pidfd
//! asynchronously; the container's pid 1 uses [`run_all`] for
//! createContainer and startContainer.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::SysError;
use crate::spawn::{spawn, ChildStdio, Reexec};

/// How much of a failed hook's output is quoted.
const QUOTED_OUTPUT: usize = 2048;

/// The state a hook reads on stdin (OCI runtime spec, "State").
pub fn state_json(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &str,
    annotations: &impl serde::Serialize,
) -> String {
    serde_json::json!({
        "ociVersion": "1.0.2",
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": annotations,
    })
    .to_string()
}

/// A started hook.
pub struct Started {
    pub pid: i32,
    pub pidfd: OwnedFd,
    output: File,
    pub timeout: Option<Duration>,
}

fn memfd(name: &str) -> Result<File, SysError> {
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
    let c = std::ffi::CString::new(name).unwrap_or_default();
    memfd_create(&c, MemFdCreateFlag::MFD_CLOEXEC)
        .map(File::from)
        .map_err(|e| SysError::os("memfd_create", name, e))
}

/// Starts `hook` with `state` on its stdin. `field` names it in errors
/// (`hooks.createRuntime[0]`).
pub fn start(hook: &Hook, state: &str, field: &str) -> Result<Started, SysError> {
    let path = hook.path().to_string_lossy().into_owned();
    if !hook.path().is_absolute() {
        return Err(SysError::spec(
            field,
            format!("path {path:?} is not absolute"),
        ));
    }
    let timeout = match hook.timeout() {
        None => None,
        Some(t) if t > 0 => Some(Duration::from_secs(t as u64)),
        Some(t) => {
            return Err(SysError::spec(
                field,
                format!("timeout {t} is not positive"),
            ))
        }
    };
    let mut stdin = memfd("hook-state")?;
    stdin
        .write_all(state.as_bytes())
        .and_then(|()| stdin.seek(SeekFrom::Start(0)).map(drop))
        .map_err(|e| SysError::io("write hook state", &path, e))?;
    let output = memfd("hook-output")?;
    let out2 = output
        .try_clone()
        .map_err(|e| SysError::io("dup hook output", &path, e))?;
    let args = hook.args().clone().unwrap_or_default();
    let arg0 = args.first().cloned().unwrap_or_else(|| path.clone());
    let env = hook
        .env()
        .iter()
        .flatten()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.clone(), String::new()),
        })
        .collect();
    let pid = spawn(Reexec {
        exe: &path,
        arg0: &arg0,
        args: args.into_iter().skip(1).collect(),
        stdio: ChildStdio {
            stdin: Some(stdin.into()),
            stdout: Some(
                out2.try_clone()
                    .map_err(|e| SysError::io("dup", &path, e))?
                    .into(),
            ),
            stderr: Some(out2.into()),
        },
        fds: Vec::new(),
        setsid: true,
        env,
        env_clear: true,
        cwd: None,
    })
    .map_err(|e| SysError::spec(field, e.to_string()))?;
    let pidfd = crate::proc::pidfd_open(pid)?;
    Ok(Started {
        pid,
        pidfd,
        output,
        timeout,
    })
}

impl Started {
    /// The hook ended with `code` (128 + signal when killed): Ok for 0,
    /// else an error quoting the start of its output.
    pub fn finish(mut self, code: Option<i32>, field: &str, path: &str) -> Result<(), SysError> {
        if code == Some(0) {
            return Ok(());
        }
        let mut out = Vec::new();
        let _ = self.output.seek(SeekFrom::Start(0));
        let _ = (&mut self.output)
            .take(QUOTED_OUTPUT as u64)
            .read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out);
        let text = text.trim();
        let what = match code {
            Some(c) => format!("{path} exited with code {c}"),
            None => format!(
                "{path} did not finish within {} s and was killed",
                self.timeout.map(|t| t.as_secs()).unwrap_or(0)
            ),
        };
        Err(SysError::spec(
            field,
            if text.is_empty() {
                what
            } else {
                format!("{what}: {text}")
            },
        ))
    }

    /// Kills the hook's whole session.
    pub fn kill(&self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = crate::proc::pidfd_signal(&self.pidfd, libc::SIGKILL);
    }
}

/// Runs `hooks` one after the other, blocking; the first failure ends it.
pub fn run_all(hooks: &[Hook], state: &str, stage: &str) -> Result<(), SysError> {
    for (i, hook) in hooks.iter().enumerate() {
        let field = format!("hooks.{stage}[{i}]");
        let started = start(hook, state, &field)?;
        let code = wait_blocking(&started)?;
        started.finish(code, &field, &hook.path().to_string_lossy())?;
    }
    Ok(())
}

/// Waits for a started hook; None when its timeout passed (it is killed
/// and reaped).
fn wait_blocking(h: &Started) -> Result<Option<i32>, SysError> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = h.timeout.map(|t| Instant::now() + t);
    loop {
        if let Some(code) = crate::proc::try_reap(&h.pidfd)? {
            return Ok(Some(code));
        }
        let wait = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    h.kill();
                    while crate::proc::try_reap(&h.pidfd)?.is_none() {
                        let mut fds = [PollFd::new(h.pidfd.as_fd(), PollFlags::POLLIN)];
                        let _ = poll(&mut fds, PollTimeout::from(100u16));
                    }
                    return Ok(None);
                }
                PollTimeout::try_from(left.as_millis().min(60_000) as i32)
                    .unwrap_or(PollTimeout::NONE)
            }
        };
        let mut fds = [PollFd::new(h.pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, wait) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(SysError::os("poll", "hook pidfd", e)),
        }
    }
}
