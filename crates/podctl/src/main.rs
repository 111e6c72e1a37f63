//! podctl: a small supervisor in containerd's image. It starts a pod's shim
//! exactly as containerd does (`podshim start`, read the address), drives it
//! over ttrpc, and reads the state directory for everything it shows.

mod args;
mod attach;
mod bundles;
mod cni;
mod debug;
mod etc;
mod exec;
mod limits;
mod logs;
mod rm;
mod run;
mod shim;
mod show;

use std::process::ExitCode;

use podshim_state::StateRoot;
use podshim_types::Id;

/// The containerd namespace podctl's pods live in.
pub const NAMESPACE: &str = "podctl";

const USAGE: &str = "usage: podctl [--root DIR] [--shim PATH] COMMAND
  run [--rm] POD_DIR               start the pod described by POD_DIR/pod.json, print its id;
                                   --rm: wait for every container to exit, remove the pod,
                                   exit with the first non-zero exit code
  ps                               pods and containers: status, pids, exit codes
  inspect POD                      pod and container records as JSON
  events POD [--follow]            the pod's event log
  logs POD CONTAINER [--follow] [--tail N] [--since RFC3339] [--timestamps]
                                   a container's stdout/stderr (its CRI log, rotated files too)
  reopen-log POD CONTAINER         make the shim reopen the log file (after an outside rotation)
  kill POD CONTAINER [--signal S]  signal a container (default TERM)
  exec POD CONTAINER [-i] [-t] -- CMD...
                                   run CMD in the container (-t: with a terminal, -i: with stdin);
                                   exits with CMD's exit code
  attach POD CONTAINER [--no-stdin]
                                   the container's output as it comes, and its terminal if it
                                   has one (detach: Ctrl-P Ctrl-Q); exits with its exit code
  debug POD CONTAINER [-- CMD...]  print and run the nsenter command that enters the container
  stats POD [--json]               memory, cpu, pids and OOM kills per container
  update POD CONTAINER [--memory SIZE] [--memory-swap SIZE] [--cpus N] [--cpu-quota US]
         [--cpu-period US] [--cpu-shares N] [--pids N]
                                   change a running container's limits
  recover POD                      start the pod's shim again after it died; it takes the
                                   pod over (exits while it was gone are recorded as 255)
  rm POD [--timeout SECS]          stop what runs and delete everything of the pod
                                   (TERM, then KILL after SECS, default 10; 0: KILL at once)";

/// Settings every command shares.
pub struct Ctx {
    pub root: StateRoot,
    pub namespace: Id,
    /// The podshim binary.
    pub shim: String,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match real_main(argv) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("podctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main(argv: Vec<String>) -> anyhow::Result<ExitCode> {
    let mut a = args::Args::new(argv);
    let root = a.option("--root")?;
    let shim = a.option("--shim")?;
    let ctx = Ctx {
        root: root.map(StateRoot::new).unwrap_or_else(StateRoot::from_env),
        namespace: Id::new(NAMESPACE)?,
        shim: shim
            .or_else(|| std::env::var("PODSHIM_BIN").ok())
            .unwrap_or_else(shim::default_shim_path),
    };
    let Some(cmd) = a.next_positional() else {
        println!("{USAGE}");
        return Ok(ExitCode::from(2));
    };
    match cmd.as_str() {
        "run" => run::run(&ctx, &mut a),
        "ps" => show::ps(&ctx, &mut a).map(|()| ExitCode::SUCCESS),
        "inspect" => show::inspect(&ctx, &mut a).map(|()| ExitCode::SUCCESS),
        "events" => show::events(&ctx, &mut a).map(|()| ExitCode::SUCCESS),
        "logs" => logs::logs(&ctx, &mut a).map(|()| ExitCode::SUCCESS),
        "reopen-log" => logs::reopen(&ctx, &mut a).map(|()| ExitCode::SUCCESS),
        "kill" => rm::kill(&ctx, &mut a).map(|()| ExitCode::SUCCESS),
        "rm" => rm::rm(&ctx, &mut a).map(|()| ExitCode::SUCCESS),
        "debug" => debug::debug(&ctx, &mut a),
        "exec" => exec::exec(&ctx, &mut a),
        "attach" => attach::attach(&ctx, &mut a),
        "recover" => run::recover(&ctx, &mut a),
        "stats" => limits::stats(&ctx, &mut a).map(|()| ExitCode::SUCCESS),
        "update" => limits::update(&ctx, &mut a).map(|()| ExitCode::SUCCESS),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => anyhow::bail!("unknown command {other:?}\n{USAGE}"),
    }
}
