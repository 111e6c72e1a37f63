//! The state directory: where each pod's records, events, socket and
//! namespace pins live, and how they are written (atomically) and read.
//! Synchronous std only, shared by the shim and podctl.

pub mod atomic;
pub mod error;
pub mod eventlog;
pub mod paths;
pub mod time;

pub use atomic::{read_json, write_atomic, write_json};
pub use error::StateError;
pub use eventlog::{read_events, EventDetail, EventLog};
pub use paths::{PodPaths, StateRoot, DEFAULT_ROOT};
