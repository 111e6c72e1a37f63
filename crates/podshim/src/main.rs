//! podshim: one shim per pod. `main` dispatches the re-exec entry points
//! (`pause`, `init`, `exec`, `criu`) before anything else runs, so they
//! start as fresh single-threaded processes; everything else is the shim
//! v2 command line.

mod bundle;
mod cgroup;
mod child;
mod criu;
mod delete;
mod error;
mod fault;
mod flags;
mod hooks;
mod info;
mod listen;
mod options;
mod pod;
mod publish;
mod serve;
mod service;
mod start;
mod stdio;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if matches!(
        args.get(1).map(String::as_str),
        Some("pause" | "init" | "exec" | "criu")
    ) {
        // The shim raised its own limit; its children get back the one it
        // started with (posix_spawn cannot set it for them).
        podshim_sys::vspawn::restore_nofile();
    }
    match args.get(1).map(String::as_str) {
        Some("pause") => {
            podshim_sys::proc::set_name("podshim-pause");
            return code(podshim_sys::pause::run());
        }
        Some("init") => {
            podshim_sys::proc::set_name("podshim-init");
            return code(podshim_sys::init::run());
        }
        Some("exec") => {
            podshim_sys::proc::set_name("podshim-exec");
            return code(podshim_sys::exec::run());
        }
        Some("criu") => return code(podshim_sys::criu::run()),
        _ => podshim_sys::proc::set_name("podshim"),
    }
    let flags = match flags::Flags::parse(&args[1..]) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("podshim: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match flags.action.as_str() {
        "start" => start::run(&flags),
        "delete" => delete::run(&flags),
        "serve" => serve::run(&flags),
        "version" => {
            println!("podshim {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        "info" => info::run(),
        other => Err(anyhow::anyhow!(
            "unknown action {other:?}: expected start, delete or version"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("podshim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn code(c: i32) -> ExitCode {
    ExitCode::from(c.clamp(0, 255) as u8)
}
