//! `podctl exec [-i] [-t] POD CONTAINER -- CMD...`: a process in a running
//! container, as containerd's `ctr task exec` runs one: FIFOs for its stdio
//! in the pod's state directory, the shim's Exec/Start/Wait/Delete, the
//! container's own process settings (user, env, cwd) with CMD as args.
//!
//! With `-t` the process gets a terminal inside the container; podctl puts
//! its own terminal in raw mode (Ctrl-C reaches the process as a byte, its
//! terminal turns it into SIGINT), sends the window size at start and on
//! every SIGWINCH, and restores the terminal at the end. With `-i` podctl's
//! stdin is copied in and its end closes the process's stdin. The exit code
//! of the process is podctl's.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use serde_json::{json, Value};

use crate::bundles::bundles_dir;
use crate::shim::Shim;
use crate::terminal::{follow_window_size, set_nonblocking, window_size, RawTerminal};
use crate::Ctx;

/// Run CMD in a container; podctl exits with CMD's exit code.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Copy podctl's stdin to the process.
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Give the process a terminal (podctl's own goes raw meanwhile).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// The pod's id.
    pub pod: String,
    /// The container's name in the pod.
    pub container: String,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub cmd: Vec<String>,
}

pub fn run(c: &Ctx, a: Args) -> anyhow::Result<ExitCode> {
    let (stdin, tty, cmd) = (a.stdin, a.tty, a.cmd);
    let (pod, paths) = c.pod(&a.pod)?;
    let task = c.task(&pod, &a.container)?.to_string();
    let name = a.container;
    // The container's bundle: podctl's copy, or the one containerd made (a
    // CRI pod), as its record names it.
    let recorded = podshim_state::read_json::<podshim_types::ContainerRecord>(
        &paths.container_record(&podshim_types::Id::new(&task)?),
    )
    .ok()
    .map(|r| r.bundle)
    .filter(|b| !b.is_empty());
    let spec_path = match recorded {
        Some(b) => PathBuf::from(b).join("config.json"),
        None => bundles_dir(&paths).join(name.as_str()).join("config.json"),
    };
    let spec: Value = serde_json::from_slice(
        &std::fs::read(&spec_path).with_context(|| format!("pod {pod} has no container {name}"))?,
    )
    .with_context(|| format!("{} is not JSON", spec_path.display()))?;
    let process = exec_process(&spec, &cmd, tty);

    let exec_id = format!("podctl-exec-{}", std::process::id());
    let dir = paths.dir().join("exec").join(&exec_id);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("create {}", dir.display()))?;
    let make = |s: &Shim, stdio: [&str; 3]| {
        s.exec(&task, &exec_id, tty, stdio, &process)
            .with_context(|| format!("exec in {task}"))
    };
    let result = run_process(&paths, (&task, &exec_id), &dir, make, stdin, tty);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir(paths.dir().join("exec"));
    result
}

/// The container's process settings with `cmd` as its args.
pub(crate) fn exec_process(spec: &Value, cmd: &[String], tty: bool) -> Value {
    let mut p = spec.get("process").cloned().unwrap_or_else(|| json!({}));
    p["args"] = json!(cmd);
    p["terminal"] = json!(tty);
    if tty {
        // The size the terminal starts with; SIGWINCH follows it after.
        if let Some((rows, cols)) = window_size() {
            p["consoleSize"] = json!({"height": rows, "width": cols});
        }
        let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
        let env = p["env"].as_array().cloned().unwrap_or_default();
        if !env
            .iter()
            .any(|e| e.as_str().is_some_and(|s| s.starts_with("TERM=")))
        {
            let mut env = env;
            env.push(json!(format!("TERM={term}")));
            p["env"] = json!(env);
        }
    }
    if p.get("user").is_none() {
        p["user"] = json!({"uid": 0, "gid": 0});
    }
    if p.get("cwd").is_none() {
        p["cwd"] = json!("/");
    }
    p
}

pub(crate) fn fifo(dir: &Path, name: &str) -> anyhow::Result<(PathBuf, File)> {
    let path = dir.join(name);
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .with_context(|| format!("mkfifo {}", path.display()))?;
    // Read-write: the open never waits for the shim, and the FIFO never
    // reads as ended while the process may still write.
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .with_context(|| format!("open {}", path.display()))?;
    Ok((path, f))
}

/// Runs a process through the shim with FIFOs in `dir` for its stdio, as
/// containerd's clients do: `make` makes it (an Exec; or a Create, for a
/// task, whose exec id is then empty), then Start, our terminal and stdin
/// wired to it, Wait, Delete. The process's exit code is ours.
pub(crate) fn run_process(
    paths: &podshim_state::PodPaths,
    (task, exec_id): (&str, &str),
    dir: &Path,
    make: impl FnOnce(&Shim, [&str; 3]) -> anyhow::Result<()>,
    stdin: bool,
    tty: bool,
) -> anyhow::Result<ExitCode> {
    let address = crate::ctx::shim_address(paths)?;
    let s = Shim::connect(&address)?;
    let (in_path, in_fifo) = if stdin {
        let (p, f) = fifo(dir, "stdin")?;
        (p.to_string_lossy().into_owned(), Some(f))
    } else {
        (String::new(), None)
    };
    let (out_path, out_fifo) = fifo(dir, "stdout")?;
    let (err_path, err_fifo) = if tty {
        (String::new(), None)
    } else {
        let (p, f) = fifo(dir, "stderr")?;
        (p.to_string_lossy().into_owned(), Some(f))
    };
    make(&s, [&in_path, &out_path.to_string_lossy(), &err_path])?;

    let done = Arc::new(AtomicBool::new(false));
    // Its write end closed wakes the copiers the moment the process ends.
    let (wake_r, wake_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let mut wake_w = Some(wake_w);
    let mut copiers = vec![copy_out(
        out_fifo,
        std::io::stdout(),
        done.clone(),
        wake_r.try_clone()?,
    )];
    if let Some(f) = err_fifo {
        copiers.push(copy_out(
            f,
            std::io::stderr(),
            done.clone(),
            wake_r.try_clone()?,
        ));
    }
    drop(wake_r);
    let raw = if tty { RawTerminal::enter() } else { None };
    let started = s.exec_start(task, exec_id);
    if let Err(e) = started {
        done.store(true, Ordering::SeqCst);
        drop(wake_w.take());
        drop(raw);
        let _ = s.delete_exec(task, exec_id);
        return Err(e).with_context(|| format!("start {} in {task}", what(exec_id)));
    }
    if tty {
        follow_window_size(&address, task, exec_id);
    }
    if let Some(f) = in_fifo {
        copy_in(f, address.clone(), task.to_string(), exec_id.to_string());
    }
    let code = s.wait_exec(task, exec_id);
    done.store(true, Ordering::SeqCst);
    drop(wake_w.take());
    for h in copiers {
        let _ = h.join();
    }
    drop(raw);
    let _ = s.delete_exec(task, exec_id);
    let code = code.with_context(|| format!("wait for {} in {task}", what(exec_id)))?;
    Ok(crate::ctx::exit_code(code))
}

fn what(exec_id: &str) -> &'static str {
    if exec_id.is_empty() {
        "the process"
    } else {
        "exec"
    }
}

/// Copies a FIFO to our stdout/stderr until `done`, then what is left;
/// `wake` hangs up when `done` is set.
fn copy_out<W: Write + Send + 'static>(
    fifo: File,
    mut to: W,
    done: Arc<AtomicBool>,
    wake: std::os::fd::OwnedFd,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let _ = set_nonblocking(fifo.as_fd());
        let mut fifo = fifo;
        let mut buf = [0u8; 16384];
        loop {
            // Read before the FIFO is: once the process had exited before
            // this read, an empty FIFO means all it wrote has been copied.
            // (Looked at after an empty read, the flag could have turned
            // between the two while the last output arrived.)
            let exited = done.load(Ordering::SeqCst);
            match fifo.read(&mut buf) {
                Ok(n) if n > 0 => {
                    if to.write_all(&buf[..n]).and_then(|()| to.flush()).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // Nothing buffered: finished if the process had exited.
                _ => {
                    if exited {
                        return;
                    }
                    let mut fds = [
                        nix::poll::PollFd::new(fifo.as_fd(), nix::poll::PollFlags::POLLIN),
                        nix::poll::PollFd::new(wake.as_fd(), nix::poll::PollFlags::POLLIN),
                    ];
                    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE);
                }
            }
        }
    })
}

/// Copies our stdin into the process; its end closes the process's stdin.
fn copy_in(mut fifo: File, address: String, task: String, exec_id: String) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        let mut input = std::io::stdin().lock();
        loop {
            match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if fifo.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if let Ok(s) = Shim::connect(&address) {
            let _ = s.close_stdin(&task, &exec_id);
        }
    });
}
