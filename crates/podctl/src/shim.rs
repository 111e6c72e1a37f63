//! Talking to a pod's shim the way containerd does: `podshim start` with
//! the shim v2 flags (cwd = the sandbox bundle), its address on stdout,
//! then the ttrpc Task service.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use containerd_shim_protos::api;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::MessageField;
use containerd_shim_protos::TaskClient;
use podshim_types::Id;

use crate::Ctx;

/// `podshim` next to this binary, else on PATH.
pub fn default_shim_path() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("podshim")))
        .filter(|p| p.exists())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "podshim".to_string())
}

/// A connected shim.
pub struct Shim {
    client: TaskClient,
}

fn ctx(timeout: Duration) -> ttrpc::context::Context {
    ttrpc::context::with_timeout(timeout.as_nanos() as i64)
}

const CALL: Duration = Duration::from_secs(30);

/// A Create of task `id` from `bundle` with `stdio` [stdin, stdout, stderr].
fn create_request(id: &str, bundle: &Path, stdio: [&str; 3]) -> api::CreateTaskRequest {
    let [stdin, stdout, stderr] = stdio;
    api::CreateTaskRequest {
        id: id.to_string(),
        bundle: bundle.to_string_lossy().into_owned(),
        stdin: stdin.to_string(),
        stdout: stdout.to_string(),
        stderr: stderr.to_string(),
        ..Default::default()
    }
}

/// Runs `podshim start` for task `id` whose bundle is `bundle`.
pub fn start(c: &Ctx, id: &Id, bundle: &Path) -> anyhow::Result<String> {
    let out = Command::new(&c.shim)
        .args([
            "-namespace",
            c.namespace.as_str(),
            "-id",
            id.as_str(),
            "-address",
            "",
            "-publish-binary",
            "",
            "start",
        ])
        .current_dir(bundle)
        .env("PODSHIM_ROOT", c.root.path())
        .env_remove("TTRPC_ADDRESS")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {} start", c.shim))?;
    if !out.status.success() {
        bail!(
            "{} start failed: {}",
            c.shim,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let addr = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !addr.starts_with("unix://") {
        bail!("{} start printed {addr:?}, not a unix:// address", c.shim);
    }
    Ok(addr)
}

impl Shim {
    pub fn connect(address: &str) -> anyhow::Result<Shim> {
        let client = ttrpc::Client::connect(address)
            .with_context(|| format!("connect to shim at {address}"))?;
        Ok(Shim {
            client: TaskClient::new(client),
        })
    }

    /// Create of task `id`; `stdio` is [stdin, stdout, stderr].
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        stdio: [&str; 3],
        terminal: bool,
    ) -> anyhow::Result<u32> {
        let req = api::CreateTaskRequest {
            terminal,
            ..create_request(id, bundle, stdio)
        };
        Ok(self.client.create(ctx(CALL), &req).map_err(rpc)?.pid)
    }

    /// Create of task `id` from the checkpoint image in `image` (CRIU
    /// restores it stopped; Start resumes it).
    pub fn restore(
        &self,
        id: &str,
        bundle: &Path,
        stdio: [&str; 3],
        image: &Path,
    ) -> anyhow::Result<u32> {
        let req = api::CreateTaskRequest {
            checkpoint: image.to_string_lossy().into_owned(),
            ..create_request(id, bundle, stdio)
        };
        Ok(self
            .client
            .create(ctx(Duration::from_secs(600)), &req)
            .map_err(rpc)?
            .pid)
    }

    pub fn start(&self, id: &str) -> anyhow::Result<u32> {
        let req = api::StartRequest {
            id: id.to_string(),
            ..Default::default()
        };
        Ok(self.client.start(ctx(CALL), &req).map_err(rpc)?.pid)
    }

    pub fn kill(&self, id: &str, signal: u32) -> anyhow::Result<()> {
        let req = api::KillRequest {
            id: id.to_string(),
            signal,
            ..Default::default()
        };
        self.client.kill(ctx(CALL), &req).map_err(rpc)?;
        Ok(())
    }

    /// Waits up to `timeout` for the task to exit; `None` on timeout.
    pub fn wait(&self, id: &str, timeout: Duration) -> anyhow::Result<Option<u32>> {
        let req = api::WaitRequest {
            id: id.to_string(),
            ..Default::default()
        };
        match self.client.wait(ctx(timeout), &req) {
            Ok(r) => Ok(Some(r.exit_status)),
            Err(ttrpc::Error::Others(m)) if m.contains("imeout") => Ok(None),
            Err(ttrpc::Error::RpcStatus(s)) if s.code() == ttrpc::Code::DEADLINE_EXCEEDED => {
                Ok(None)
            }
            Err(e) => Err(rpc(e)),
        }
    }

    pub fn delete(&self, id: &str) -> anyhow::Result<u32> {
        let req = api::DeleteRequest {
            id: id.to_string(),
            ..Default::default()
        };
        Ok(self
            .client
            .delete(ctx(CALL), &req)
            .map_err(rpc)?
            .exit_status)
    }

    pub fn state(&self, id: &str) -> anyhow::Result<api::StateResponse> {
        let req = api::StateRequest {
            id: id.to_string(),
            ..Default::default()
        };
        self.client.state(ctx(CALL), &req).map_err(rpc)
    }

    /// Adds an exec process (`process`: OCI Process JSON) to a task.
    pub fn exec(
        &self,
        id: &str,
        exec_id: &str,
        terminal: bool,
        stdio: [&str; 3],
        process: &serde_json::Value,
    ) -> anyhow::Result<()> {
        let req = api::ExecProcessRequest {
            id: id.to_string(),
            exec_id: exec_id.to_string(),
            terminal,
            stdin: stdio[0].to_string(),
            stdout: stdio[1].to_string(),
            stderr: stdio[2].to_string(),
            spec: MessageField::some(Any {
                type_url: "types.containerd.io/opencontainers/runtime-spec/1/Process".into(),
                value: serde_json::to_vec(process)?,
                ..Default::default()
            }),
            ..Default::default()
        };
        self.client.exec(ctx(CALL), &req).map_err(rpc)?;
        Ok(())
    }

    pub fn exec_start(&self, id: &str, exec_id: &str) -> anyhow::Result<u32> {
        let req = api::StartRequest {
            id: id.to_string(),
            exec_id: exec_id.to_string(),
            ..Default::default()
        };
        Ok(self.client.start(ctx(CALL), &req).map_err(rpc)?.pid)
    }

    /// Waits, without a time limit, for an exec process to exit.
    pub fn wait_exec(&self, id: &str, exec_id: &str) -> anyhow::Result<u32> {
        let req = api::WaitRequest {
            id: id.to_string(),
            exec_id: exec_id.to_string(),
            ..Default::default()
        };
        Ok(self
            .client
            .wait(ttrpc::context::Context::default(), &req)
            .map_err(rpc)?
            .exit_status)
    }

    pub fn delete_exec(&self, id: &str, exec_id: &str) -> anyhow::Result<()> {
        let req = api::DeleteRequest {
            id: id.to_string(),
            exec_id: exec_id.to_string(),
            ..Default::default()
        };
        self.client.delete(ctx(CALL), &req).map_err(rpc)?;
        Ok(())
    }

    pub fn close_stdin(&self, id: &str, exec_id: &str) -> anyhow::Result<()> {
        let req = api::CloseIORequest {
            id: id.to_string(),
            exec_id: exec_id.to_string(),
            stdin: true,
            ..Default::default()
        };
        self.client.close_io(ctx(CALL), &req).map_err(rpc)?;
        Ok(())
    }

    pub fn resize(&self, id: &str, exec_id: &str, rows: u16, cols: u16) -> anyhow::Result<()> {
        let req = api::ResizePtyRequest {
            id: id.to_string(),
            exec_id: exec_id.to_string(),
            width: u32::from(cols),
            height: u32::from(rows),
            ..Default::default()
        };
        self.client.resize_pty(ctx(CALL), &req).map_err(rpc)?;
        Ok(())
    }

    /// Asks the shim to reopen the task's CRI log file (podshim's Update
    /// annotation; the resources stay as they are).
    pub fn reopen_log(&self, id: &str) -> anyhow::Result<()> {
        let req = api::UpdateTaskRequest {
            id: id.to_string(),
            annotations: [("io.podshim.log/reopen".to_string(), "true".to_string())].into(),
            ..Default::default()
        };
        self.client.update(ctx(CALL), &req).map_err(rpc)?;
        Ok(())
    }

    /// The task's cgroup metrics, as packed by the shim.
    pub fn stats(&self, id: &str) -> anyhow::Result<Any> {
        let req = api::StatsRequest {
            id: id.to_string(),
            ..Default::default()
        };
        let r = self.client.stats(ctx(CALL), &req).map_err(rpc)?;
        r.stats
            .into_option()
            .ok_or_else(|| anyhow::anyhow!("the shim sent no stats for {id}"))
    }

    /// New limits (OCI linux.resources JSON) for a running task.
    pub fn update(&self, id: &str, resources: &serde_json::Value) -> anyhow::Result<()> {
        let req = api::UpdateTaskRequest {
            id: id.to_string(),
            resources: MessageField::some(Any {
                type_url: "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources".into(),
                value: serde_json::to_vec(resources)?,
                ..Default::default()
            }),
            ..Default::default()
        };
        self.client.update(ctx(CALL), &req).map_err(rpc)?;
        Ok(())
    }

    /// A CRIU checkpoint of task `id` into directory `image`, as containerd
    /// asks for one (runc's CheckpointOptions).
    pub fn checkpoint(
        &self,
        id: &str,
        image: &Path,
        options: &containerd_shim_protos::shim::oci::CheckpointOptions,
    ) -> anyhow::Result<()> {
        use containerd_shim_protos::protobuf::Message;
        let req = api::CheckpointTaskRequest {
            id: id.to_string(),
            path: image.to_string_lossy().into_owned(),
            options: MessageField::some(Any {
                type_url: "containerd.runc.v1.CheckpointOptions".into(),
                value: options.write_to_bytes()?,
                ..Default::default()
            }),
            ..Default::default()
        };
        // A dump takes as long as the container's memory takes to write.
        self.client
            .checkpoint(ctx(Duration::from_secs(600)), &req)
            .map_err(rpc)?;
        Ok(())
    }

    pub fn shutdown(&self, id: &str) -> anyhow::Result<()> {
        let req = api::ShutdownRequest {
            id: id.to_string(),
            ..Default::default()
        };
        self.client.shutdown(ctx(CALL), &req).map_err(rpc)?;
        Ok(())
    }
}

/// A status the shim answered with: its code and its message (shown
/// without ttrpc's wrapping).
#[derive(Debug)]
pub struct Refused {
    pub code: ttrpc::Code,
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

fn rpc(e: ttrpc::Error) -> anyhow::Error {
    match e {
        ttrpc::Error::RpcStatus(s) => anyhow::Error::new(Refused {
            code: s.code(),
            message: s.message().to_string(),
        }),
        e => anyhow::anyhow!("{e}"),
    }
}

/// The status code the shim refused a call with, if it did.
pub fn code_of(e: &anyhow::Error) -> Option<ttrpc::Code> {
    e.downcast_ref::<Refused>().map(|r| r.code)
}

/// True when an error says the task or process is gone already.
pub fn is_not_found(e: &anyhow::Error) -> bool {
    code_of(e) == Some(ttrpc::Code::NOT_FOUND) || e.to_string().contains("already finished")
}
