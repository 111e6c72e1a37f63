//! What every command shares: the state root, podctl's namespace, the
//! podshim binary, and the lookups from a pod id given on the command line
//! to its state directory, its shim and its tasks.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use podshim_state::{PodPaths, StateRoot};
use podshim_types::Id;

use crate::shim::Shim;

/// Settings every command shares.
pub struct Ctx {
    pub root: StateRoot,
    pub namespace: Id,
    /// The podshim binary.
    pub shim: String,
}

/// How a command that prints a table prints it (`-o table|json`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Columns for a person.
    #[default]
    Table,
    /// One JSON document for a program.
    Json,
}

impl Format {
    /// Prints `rows` as JSON, or as the table `table` writes.
    pub fn print<T: serde::Serialize>(
        self,
        rows: &[T],
        table: impl FnOnce(&mut dyn Write, &[T]) -> std::io::Result<()>,
    ) -> anyhow::Result<ExitCode> {
        let mut out = std::io::stdout().lock();
        match self {
            Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(rows)?)?,
            Format::Table => table(&mut out, rows)?,
        }
        Ok(ExitCode::SUCCESS)
    }
}

impl Ctx {
    pub fn new(
        root: Option<PathBuf>,
        shim: Option<String>,
        namespace: &str,
    ) -> anyhow::Result<Ctx> {
        Ok(Ctx {
            root: root.map(StateRoot::new).unwrap_or_else(StateRoot::from_env),
            namespace: Id::new(namespace).with_context(|| format!("namespace {namespace:?}"))?,
            shim: shim.unwrap_or_else(crate::shim::default_shim_path),
        })
    }

    /// Refuses `what` on pods podctl does not own: those of another
    /// namespace are containerd's, which would not know of the change.
    pub fn only_own(&self, what: &str) -> anyhow::Result<()> {
        if self.namespace.as_str() != crate::NAMESPACE {
            bail!(
                "{what}: the pods of namespace {} are containerd's; podctl only reads them \
                 (ps, inspect, logs, events) and debugs them (exec, debug)",
                self.namespace
            );
        }
        Ok(())
    }

    /// A pod's id and paths; an error when there is no such pod.
    pub fn pod(&self, pod: &str) -> anyhow::Result<(Id, PodPaths)> {
        let id = Id::new(pod).with_context(|| format!("pod id {pod:?}"))?;
        let paths = self.root.pod(&self.namespace, &id);
        if !paths.record().exists() {
            bail!("pod {id} not found");
        }
        Ok((id, paths))
    }

    /// The task id of container `name` in `pod`: as podctl names it
    /// (`<pod>-<name>`), else (a pod containerd's CRI made) the container
    /// whose CRI name or id it is.
    pub fn task(&self, pod: &Id, name: &str) -> anyhow::Result<Id> {
        let ours = Id::new(&format!("{pod}-{name}")).with_context(|| format!("container {name:?}"));
        if self.namespace.as_str() == crate::NAMESPACE {
            return ours;
        }
        let paths = self.root.pod(&self.namespace, pod);
        let found = containers(&paths).into_iter().find(|r| {
            r.id == name
                || r.annotations
                    .get(podshim_types::annotations::CONTAINER_NAME)
                    .is_some_and(|n| n == name)
        });
        match found {
            Some(r) => Id::new(&r.id).with_context(|| format!("container {name:?}")),
            None => bail!("pod {pod} has no container {name}"),
        }
    }
}

/// A connection to the pod's shim, at the socket its state directory names.
pub fn connect(paths: &PodPaths) -> anyhow::Result<Shim> {
    Shim::connect(&shim_address(paths)?)
}

/// The pod's shim address, as containerd writes it (`unix://...`).
pub fn shim_address(paths: &PodPaths) -> anyhow::Result<String> {
    Ok(format!("unix://{}", paths.socket()?.display()))
}

/// A process's exit code as podctl's own (255 for what does not fit).
pub fn exit_code(code: u32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(255))
}

/// The container records of a pod, as its state directory holds them.
pub fn containers(paths: &PodPaths) -> Vec<podshim_types::ContainerRecord> {
    paths
        .list_containers()
        .unwrap_or_default()
        .iter()
        .filter_map(|id| podshim_state::read_json(&paths.container_record(id)).ok())
        .collect()
}
