//! podctl: a small supervisor in containerd's image. It starts a pod's shim
//! exactly as containerd does (`podshim start`, read the address), drives it
//! over ttrpc, and reads the state directory for everything it shows.
//!
//! The command line is clap's: `podctl COMMAND --help` for each command,
//! usage errors exit 2, runtime errors 1, and the commands that run a
//! process (`exec`, `attach`, `run --rm`) exit with its exit code.

mod bundles;
mod cmd;
mod cni;
mod crilog;
mod ctx;
mod etc;
mod metrics;
mod remove;
mod shim;
mod terminal;
mod toolbox;
mod values;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use ctx::Ctx;

/// The containerd namespace podctl's pods live in.
pub const NAMESPACE: &str = "podctl";

/// Runs pods from bundles with podshim, shows them and attaches to them.
#[derive(Parser, Debug)]
#[command(name = "podctl", version, propagate_version = true)]
struct Cli {
    /// The state directory (the shim's PODSHIM_ROOT).
    #[arg(long, global = true, env = "PODSHIM_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,
    /// The podshim binary (default: next to podctl, else on PATH).
    #[arg(long, global = true, env = "PODSHIM_BIN", value_name = "PATH")]
    shim: Option<String>,
    /// The containerd namespace whose pods to show: podctl's own, or one
    /// containerd runs pods in with podshim (k8s.io for Kubernetes), whose
    /// pods podctl only reads (ps, inspect, logs, events) and debugs.
    #[arg(short, long, global = true, env = "PODCTL_NAMESPACE", default_value = NAMESPACE)]
    namespace: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Run(cmd::run::Args),
    Ps(cmd::ps::Args),
    Inspect(cmd::inspect::Args),
    Events(cmd::events::Args),
    Logs(cmd::logs::Args),
    ReopenLog(cmd::reopen_log::Args),
    Kill(cmd::kill::Args),
    Checkpoint(cmd::checkpoint::Args),
    Restore(cmd::restore::Args),
    Exec(cmd::exec::Args),
    Attach(cmd::attach::Args),
    Debug(cmd::debug::Args),
    Stats(cmd::stats::Args),
    Update(cmd::update::Args),
    Recover(cmd::recover::Args),
    Rm(cmd::rm::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // The reader of our output went away (`podctl logs | head`): there
        // is no one left to tell, so end quietly, as ripgrep and git do.
        Err(e) if reader_left(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("podctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `e` is a write to a pipe whose reader has closed it.
fn reader_left(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let c = Ctx::new(cli.root, cli.shim, &cli.namespace)?;
    match cli.command {
        Command::Run(a) => cmd::run::run(&c, a),
        Command::Ps(a) => cmd::ps::run(&c, a),
        Command::Inspect(a) => cmd::inspect::run(&c, a),
        Command::Events(a) => cmd::events::run(&c, a),
        Command::Logs(a) => cmd::logs::run(&c, a),
        Command::ReopenLog(a) => cmd::reopen_log::run(&c, a),
        Command::Kill(a) => cmd::kill::run(&c, a),
        Command::Checkpoint(a) => cmd::checkpoint::run(&c, a),
        Command::Restore(a) => cmd::restore::run(&c, a),
        Command::Exec(a) => cmd::exec::run(&c, a),
        Command::Attach(a) => cmd::attach::run(&c, a),
        Command::Debug(a) => cmd::debug::run(&c, a),
        Command::Stats(a) => cmd::stats::run(&c, a),
        Command::Update(a) => cmd::update::run(&c, a),
        Command::Recover(a) => cmd::recover::run(&c, a),
        Command::Rm(a) => cmd::rm::run(&c, a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_go_before_or_after_the_command() {
        let cli =
            Cli::try_parse_from(["podctl", "rm", "--root", "/x", "p", "--timeout", "0.5"]).unwrap();
        assert_eq!(cli.root.as_deref(), Some(std::path::Path::new("/x")));
        let Command::Rm(a) = cli.command else {
            panic!("not rm")
        };
        assert_eq!(a.timeout, std::time::Duration::from_millis(500));
    }

    #[test]
    fn usage_errors_are_clap_errors() {
        use clap::error::ErrorKind;
        let kind = |argv: &[&str]| Cli::try_parse_from(argv).unwrap_err().kind();
        assert_eq!(
            kind(&["podctl"]),
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );
        assert_eq!(
            kind(&["podctl", "frobnicate"]),
            ErrorKind::InvalidSubcommand
        );
        assert_eq!(
            kind(&["podctl", "kill", "p"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            kind(&["podctl", "ps", "--bogus"]),
            ErrorKind::UnknownArgument
        );
        assert_eq!(
            kind(&["podctl", "exec", "p", "c"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            kind(&["podctl", "update", "p", "c", "--memory", "lots"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["podctl", "rm", "p", "--timeout", "soon"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["podctl", "ps", "-o", "yaml"]),
            ErrorKind::InvalidValue
        );
        assert_eq!(kind(&["podctl", "rm", "--help"]), ErrorKind::DisplayHelp);
    }

    #[test]
    fn exec_takes_short_flags_together_and_the_command_after_dashes() {
        let cli = Cli::try_parse_from(["podctl", "exec", "-it", "p", "c", "--", "sh", "-c", "x"])
            .unwrap();
        let Command::Exec(a) = cli.command else {
            panic!("not exec")
        };
        assert!(a.stdin && a.tty);
        assert_eq!(a.cmd, ["sh", "-c", "x"]);
    }
}
