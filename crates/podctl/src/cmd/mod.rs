//! One module per podctl command: each holds its clap `Args` (whose doc
//! comment is the command's `--help`) and its `run`.

pub mod attach;
pub mod checkpoint;
pub mod debug;
pub mod events;
pub mod exec;
pub mod inspect;
pub mod kill;
pub mod logs;
pub mod ps;
pub mod recover;
pub mod reopen_log;
pub mod restore;
pub mod rm;
pub mod run;
pub mod stats;
pub mod update;
