//! The state directory's files as readers meet them after a crash or a
//! hostile edit: the event log, pod and container records, ids.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podshim_types::{ContainerRecord, PodRecord};

fuzz_target!(|data: &[u8]| {
    let _ = podshim_state::eventlog::parse_events(data);
    let _ = serde_json::from_slice::<PodRecord>(data);
    if let Ok(rec) = serde_json::from_slice::<ContainerRecord>(data) {
        let _ = rec.stamp();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = podshim_types::Id::new(text);
    }
});
