//! `podctl debug POD CONTAINER [-- CMD...]`: a shell (or CMD) in a running
//! container, confined exactly as the container's own processes are: it
//! goes through the shim's Exec (`podctl exec -i`, with a terminal when
//! podctl has one), so it gets the container's capabilities, seccomp
//! profile, no_new_privs, user and cgroup. What runs is the container's
//! own program, which the container may have replaced: it can do nothing
//! the container cannot.
//!
//! `--privileged` is the explicit choice of the old way: nsenter into every
//! namespace with all of root's capabilities, no seccomp and the host's
//! cgroup; a replaced /bin/sh then runs as host root. `--print` prints that
//! nsenter command and runs nothing.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context};
use podshim_state::read_json;
use podshim_types::{ContainerRecord, TaskStatus};

use crate::Ctx;

/// A shell in a container, confined as the container is.
///
/// With --privileged: nsenter into its namespaces as host root, without
/// the container's capabilities, seccomp or cgroup (the container's own
/// programs then run with all of root's power).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only print the nsenter command that enters the container.
    #[arg(long)]
    pub print: bool,
    /// Enter with nsenter as host root, unconfined (see above).
    #[arg(long, conflicts_with = "rootfs")]
    pub privileged: bool,
    /// Debug from a tools rootfs: a temporary container made from DIR in
    /// the container's pid, net, ipc and uts namespaces (its processes are
    /// yours to see, its root at /proc/1/root), removed when CMD ends.
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<std::path::PathBuf>,
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
    if let Some(rootfs) = &a.rootfs {
        let (pod, paths) = c.pod(&a.pod)?;
        let task = c.task(&pod, &a.container)?;
        return crate::toolbox::run(&paths, &pod, &task, rootfs, a.cmd);
    }
    if !a.privileged && !a.print {
        use std::io::IsTerminal;
        let cmd = if a.cmd.is_empty() {
            vec!["sh".to_string()]
        } else {
            a.cmd
        };
        return crate::cmd::exec::run(
            c,
            crate::cmd::exec::Args {
                stdin: true,
                tty: std::io::stdin().is_terminal(),
                pod: a.pod,
                container: a.container,
                cmd,
            },
        );
    }
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
    if !print_only {
        eprintln!(
            "podctl: warning: --privileged: {name} runs its own programs as host root, \
             without its capabilities, seccomp or cgroup"
        );
    }
    eprintln!("+ nsenter {}", shown.join(" "));
    if print_only {
        println!("nsenter {}", shown.join(" "));
        return Ok(ExitCode::SUCCESS);
    }
    let err = Command::new("nsenter").args(&args).exec();
    Err(err).context("exec nsenter")
}
