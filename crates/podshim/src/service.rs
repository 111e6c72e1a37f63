//! containerd's Task service (shim v2, `containerd.task.v2.Task`) over
//! ttrpc: protobuf in and out, each method handed to the [`Pod`] with the
//! process its request names; no lifecycle logic lives here.

use std::sync::Arc;

use async_trait::async_trait;
use containerd_shim_protos::api::{self, Empty, Status};
use containerd_shim_protos::protobuf::{EnumOrUnknown, MessageField};
use containerd_shim_protos::shim_async::Task;
use podshim_sys::msg::RootfsMount;
use podshim_types::TaskStatus;
use ttrpc::asynchronous::TtrpcContext;

use crate::error::ShimError;
use crate::pod::Pod;
use crate::publish::timestamp;

pub struct TaskService {
    pub pod: Arc<Pod>,
}

type R<T> = ttrpc::Result<T>;

fn status_of(s: TaskStatus) -> Status {
    match s {
        TaskStatus::Creating => Status::UNKNOWN,
        TaskStatus::Created => Status::CREATED,
        TaskStatus::Running => Status::RUNNING,
        TaskStatus::Paused => Status::PAUSED,
        TaskStatus::Stopped => Status::STOPPED,
    }
}

/// Runs a lifecycle step on a task of its own. ttrpc drops a request's
/// future at the client's deadline (and a client may crash): that drops
/// the request, never the step half-way; the step completes or rolls back.
async fn detached<T: Send + 'static>(
    step: impl std::future::Future<Output = crate::error::Result<T>> + Send + 'static,
) -> crate::error::Result<T> {
    tokio::spawn(step)
        .await
        .map_err(|e| ShimError::Internal(format!("request task: {e}")))?
}

#[async_trait]
impl Task for TaskService {
    async fn create(
        &self,
        _ctx: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> R<api::CreateTaskResponse> {
        let checkpoint =
            (!req.checkpoint.is_empty()).then(|| std::path::PathBuf::from(&req.checkpoint));
        if let Some(c) = checkpoint.as_ref().filter(|c| !c.is_absolute()) {
            return Err(ShimError::InvalidArgument(format!(
                "checkpoint {:?} is not an absolute path",
                c.display()
            ))
            .into());
        }
        let rootfs: Vec<RootfsMount> = req
            .rootfs
            .iter()
            .map(|m| RootfsMount {
                typ: m.type_.clone(),
                source: m.source.clone(),
                options: m.options.clone(),
            })
            .collect();
        // A task it leaves after its client has gone is the client's to
        // Delete, as always; a Create stuck on the way, too.
        let options = crate::options::parse(req.options.as_ref())?;
        if let Some(o) = req.options.as_ref() {
            tracing::debug!(pod = %self.pod.id, id = %req.id, kind = %o.type_url, ?options, "runtime options");
        }
        let pod = self.pod.clone();
        let pid = detached(async move {
            pod.apply_options(&options)?;
            pod.create(
                &req.id,
                &req.bundle,
                [&req.stdin, &req.stdout, &req.stderr],
                req.terminal,
                crate::pod::Source {
                    rootfs: &rootfs,
                    checkpoint: checkpoint.as_deref(),
                },
                &options,
            )
            .await
        })
        .await?;
        Ok(api::CreateTaskResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    async fn start(&self, _ctx: &TtrpcContext, req: api::StartRequest) -> R<api::StartResponse> {
        tracing::debug!(pod = %self.pod.id, request = "start", "{req:?}");
        let pod = self.pod.clone();
        let pid = detached(async move { pod.start(&req.id, &req.exec_id).await }).await?;
        Ok(api::StartResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    async fn state(&self, _ctx: &TtrpcContext, req: api::StateRequest) -> R<api::StateResponse> {
        tracing::debug!(pod = %self.pod.id, request = "state", "{req:?}");
        let v = self.pod.process(&req.id, &req.exec_id)?.view();
        let bundle = if req.exec_id.is_empty() {
            self.pod.bundle_of(&req.id)
        } else {
            String::new()
        };
        let [stdin, stdout, stderr] = v.stdio;
        Ok(api::StateResponse {
            id: req.id,
            bundle,
            exec_id: req.exec_id,
            pid: v.pid.max(0) as u32,
            status: EnumOrUnknown::new(status_of(v.status)),
            stdin,
            stdout,
            stderr,
            terminal: v.terminal,
            exit_status: v.exit.map(|e| e.code as u32).unwrap_or(0),
            exited_at: v.exit.map(|e| timestamp(e.at)).into(),
            ..Default::default()
        })
    }

    async fn wait(&self, _ctx: &TtrpcContext, req: api::WaitRequest) -> R<api::WaitResponse> {
        tracing::debug!(pod = %self.pod.id, request = "wait", "{req:?}");
        let exit = self.pod.process(&req.id, &req.exec_id)?.wait().await;
        Ok(api::WaitResponse {
            exit_status: exit.code as u32,
            exited_at: MessageField::some(timestamp(exit.at)),
            ..Default::default()
        })
    }

    async fn kill(&self, _ctx: &TtrpcContext, req: api::KillRequest) -> R<Empty> {
        tracing::debug!(pod = %self.pod.id, request = "kill", "{req:?}");
        self.pod.kill(&req.id, &req.exec_id, req.signal, req.all)?;
        Ok(Empty::new())
    }

    async fn delete(&self, _ctx: &TtrpcContext, req: api::DeleteRequest) -> R<api::DeleteResponse> {
        tracing::debug!(pod = %self.pod.id, request = "delete", "{req:?}");
        let pod = self.pod.clone();
        let (pid, exit) = detached(async move { pod.delete(&req.id, &req.exec_id).await }).await?;
        Ok(api::DeleteResponse {
            pid: pid.max(0) as u32,
            exit_status: exit.code as u32,
            exited_at: MessageField::some(timestamp(exit.at)),
            ..Default::default()
        })
    }

    async fn pids(&self, _ctx: &TtrpcContext, req: api::PidsRequest) -> R<api::PidsResponse> {
        tracing::debug!(pod = %self.pod.id, request = "pids", "{req:?}");
        let processes = self
            .pod
            .pids(&req.id)?
            .into_iter()
            .map(|pid| api::ProcessInfo {
                pid: pid as u32,
                ..Default::default()
            })
            .collect();
        Ok(api::PidsResponse {
            processes,
            ..Default::default()
        })
    }

    async fn connect(
        &self,
        _ctx: &TtrpcContext,
        req: api::ConnectRequest,
    ) -> R<api::ConnectResponse> {
        let task_pid = self.pod.process(&req.id, "").map(|p| p.pid()).unwrap_or(0);
        Ok(api::ConnectResponse {
            shim_pid: std::process::id(),
            task_pid: task_pid.max(0) as u32,
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        })
    }

    async fn shutdown(&self, _ctx: &TtrpcContext, _req: api::ShutdownRequest) -> R<Empty> {
        self.pod.shutdown();
        Ok(Empty::new())
    }

    async fn exec(&self, _ctx: &TtrpcContext, req: api::ExecProcessRequest) -> R<Empty> {
        tracing::debug!(pod = %self.pod.id, request = "exec", "{req:?}");
        let spec = req
            .spec
            .as_ref()
            .map(|a| a.value.as_slice())
            .unwrap_or_default();
        self.pod.exec_add(
            &req.id,
            &req.exec_id,
            req.terminal,
            [&req.stdin, &req.stdout, &req.stderr],
            spec,
        )?;
        Ok(Empty::new())
    }

    async fn resize_pty(&self, _ctx: &TtrpcContext, req: api::ResizePtyRequest) -> R<Empty> {
        tracing::debug!(pod = %self.pod.id, request = "resize_pty", "{req:?}");
        self.pod
            .process(&req.id, &req.exec_id)?
            .resize(req.width, req.height)?;
        Ok(Empty::new())
    }

    async fn close_io(&self, _ctx: &TtrpcContext, req: api::CloseIORequest) -> R<Empty> {
        tracing::debug!(pod = %self.pod.id, request = "close_io", "{req:?}");
        if req.stdin {
            self.pod.process(&req.id, &req.exec_id)?.close_stdin();
        }
        Ok(Empty::new())
    }

    async fn update(&self, _ctx: &TtrpcContext, req: api::UpdateTaskRequest) -> R<Empty> {
        tracing::debug!(pod = %self.pod.id, request = "update", "{req:?}");
        let value = req
            .resources
            .as_ref()
            .map(|a| a.value.as_slice())
            .unwrap_or_default();
        if req
            .annotations
            .contains_key(crate::stdio::crilog::REOPEN_ANNOTATION)
        {
            self.pod.reopen_log(&req.id)?;
            if value.is_empty() {
                return Ok(Empty::new());
            }
        }
        let (pod, value) = (self.pod.clone(), value.to_vec());
        detached(async move { pod.update(&req.id, &value).await }).await?;
        Ok(Empty::new())
    }

    async fn stats(&self, _ctx: &TtrpcContext, req: api::StatsRequest) -> R<api::StatsResponse> {
        let stats = self.pod.stats(&req.id)?;
        Ok(api::StatsResponse {
            stats: MessageField::some(stats),
            ..Default::default()
        })
    }

    async fn pause(&self, _ctx: &TtrpcContext, req: api::PauseRequest) -> R<Empty> {
        let pod = self.pod.clone();
        detached(async move { pod.set_paused(&req.id, true).await }).await?;
        Ok(Empty::new())
    }

    async fn resume(&self, _ctx: &TtrpcContext, req: api::ResumeRequest) -> R<Empty> {
        let pod = self.pod.clone();
        detached(async move { pod.set_paused(&req.id, false).await }).await?;
        Ok(Empty::new())
    }

    async fn checkpoint(&self, _ctx: &TtrpcContext, req: api::CheckpointTaskRequest) -> R<Empty> {
        let plan = crate::criu::plan(&req.path, req.options.as_ref())?;
        let pod = self.pod.clone();
        detached(async move { pod.checkpoint(&req.id, plan).await }).await?;
        Ok(Empty::new())
    }
}
