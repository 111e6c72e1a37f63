//! `podctl debug POD CONTAINER [-- CMD...]`: prints the nsenter command that
//! enters the container (its pid on the host, every namespace it has) and
//! runs it in place of podctl.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context};
use podshim_state::read_json;
use podshim_types::{ContainerRecord, TaskStatus};

use crate::Ctx;

/// Print the nsenter command that enters a container, and run it.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only print the command.
    #[arg(long)]
    pub print: bool,
    /// The pod's id.
    pub pod: String,
    /// The container's name in the pod.
    pub container: String,
    /// What to run inside (default: sh), after `--`.
    #[arg(last = true, value_name = "CMD")]
    pub cmd: Vec<String>,
}

/// The nsenter arguments that enter every namespace of `pid`.
pub fn nsenter_args(pid: i32, cmd: &[String]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "-t".into(),
        pid.to_string(),
        "-m".into(),
        "-u".into(),
        "-i".into(),
        "-n".into(),
        "-p".into(),
    ];
    v.push("--".into());
    if cmd.is_empty() {
        v.push("sh".into());
    } else {
        v.extend(cmd.iter().cloned());
    }
    v
}

/// Quotes an argument for a POSIX shell when it needs it.
fn shell_quote(a: &str) -> String {
    let plain = !a.is_empty()
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b));
    if plain {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

pub fn run(c: &Ctx, a: Args) -> anyhow::Result<ExitCode> {
    let print_only = a.print;
    let (pod, paths) = c.pod(&a.pod)?;
    let id = c.task(&pod, &a.container)?;
    let name = a.container;
    let rec: ContainerRecord = read_json(&paths.container_record(&id))
        .with_context(|| format!("container {name} of pod {pod}"))?;
    if rec.status != TaskStatus::Running || !rec.stamp().map(|s| s.is_alive()).unwrap_or(false) {
        bail!(
            "container {name} of pod {pod} is not running ({})",
            rec.status.as_str()
        );
    }
    let args = nsenter_args(rec.pid, &a.cmd);
    let shown: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
    eprintln!("+ nsenter {}", shown.join(" "));
    if print_only {
        println!("nsenter {}", shown.join(" "));
        return Ok(ExitCode::SUCCESS);
    }
    let err = Command::new("nsenter").args(&args).exec();
    Err(err).context("exec nsenter")
}
