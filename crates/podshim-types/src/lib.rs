//! Types shared by the podshim binaries: validated ids, the pod manifest that
//! podctl reads, the records kept in the state directory, event lines, and the
//! annotation keys containerd's CRI uses. No syscalls and no I/O live here.

pub mod annotations;
pub mod attach;
pub mod event;
pub mod id;
pub mod lifecycle;
pub mod manifest;
pub mod record;

pub use event::{EventRecord, Topic};
pub use id::{Id, IdError};
pub use lifecycle::{Refused, Verb};
pub use manifest::{ContainerEntry, Dns, ManifestError, PodManifest, PortMapping};
pub use record::{ContainerRecord, PodRecord, PodStatus, ProcessStamp, TaskStatus};
