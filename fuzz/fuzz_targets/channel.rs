//! Frames on the socketpair between the shim and its re-executed
//! children, decoded as each side decodes them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podshim_sys::channel::{decode, frame_len};
use podshim_sys::msg::{
    ExecConfig, ExecReport, InitCommand, InitConfig, InitReport, PauseCommand, PauseConfig,
    PauseReport,
};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let Ok(len) = frame_len([data[0], data[1], data[2], data[3]]) else {
        return;
    };
    let body = &data[4..data.len().min(4 + len)];
    let _ = decode::<InitConfig>(body);
    let _ = decode::<ExecConfig>(body);
    let _ = decode::<PauseConfig>(body);
    let _ = decode::<PauseReport>(body);
    let _ = decode::<PauseCommand>(body);
    let _ = decode::<InitReport>(body);
    let _ = decode::<InitCommand>(body);
    let _ = decode::<ExecReport>(body);
});
