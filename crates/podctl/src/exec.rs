//! `podctl exec POD CONTAINER [-i] [-t] -- CMD...`: a process in a running
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

use anyhow::{bail, Context};
use nix::sys::termios::{self, SetArg, Termios};
use podshim_types::Id;
use serde_json::{json, Value};

use crate::args::Args;
use crate::bundles::bundles_dir;
use crate::shim::Shim;
use crate::Ctx;

pub fn exec(c: &Ctx, a: &mut Args) -> anyhow::Result<ExitCode> {
    let both = a.flag(&["-it", "-ti"]);
    let stdin = both || a.flag(&["-i", "--stdin"]);
    let tty = both || a.flag(&["-t", "--tty"]);
    let (pod, paths) = crate::show::pod_paths(c, &a.required("POD")?)?;
    let name = Id::new(&a.required("CONTAINER")?)?;
    a.done()?;
    let cmd = std::mem::take(&mut a.rest);
    if cmd.is_empty() {
        bail!("no command: podctl exec POD CONTAINER [-it] -- CMD [ARG...]");
    }
    let task = format!("{pod}-{name}");
    let spec_path = bundles_dir(&paths).join(name.as_str()).join("config.json");
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
    let result = run(c, &paths, &task, &exec_id, &dir, process, stdin, tty);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir(paths.dir().join("exec"));
    result
}

/// The container's process settings with `cmd` as its args.
fn exec_process(spec: &Value, cmd: &[String], tty: bool) -> Value {
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

fn fifo(dir: &Path, name: &str) -> anyhow::Result<(PathBuf, File)> {
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

#[allow(clippy::too_many_arguments)]
fn run(
    _c: &Ctx,
    paths: &podshim_state::PodPaths,
    task: &str,
    exec_id: &str,
    dir: &Path,
    process: Value,
    stdin: bool,
    tty: bool,
) -> anyhow::Result<ExitCode> {
    let address = format!("unix://{}", paths.socket()?.display());
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
    s.exec(
        task,
        exec_id,
        tty,
        [&in_path, &out_path.to_string_lossy(), &err_path],
        &process,
    )
    .with_context(|| format!("exec in {task}"))?;

    let done = Arc::new(AtomicBool::new(false));
    let mut copiers = vec![copy_out(out_fifo, std::io::stdout(), done.clone())];
    if let Some(f) = err_fifo {
        copiers.push(copy_out(f, std::io::stderr(), done.clone()));
    }
    let raw = if tty { RawTerminal::enter() } else { None };
    let started = s.exec_start(task, exec_id);
    if let Err(e) = started {
        done.store(true, Ordering::SeqCst);
        drop(raw);
        let _ = s.delete_exec(task, exec_id);
        return Err(e).with_context(|| format!("start exec in {task}"));
    }
    if tty {
        follow_window_size(&address, task, exec_id);
    }
    if let Some(f) = in_fifo {
        copy_in(f, address.clone(), task.to_string(), exec_id.to_string());
    }
    let code = s.wait_exec(task, exec_id);
    done.store(true, Ordering::SeqCst);
    for h in copiers {
        let _ = h.join();
    }
    drop(raw);
    let _ = s.delete_exec(task, exec_id);
    let code = code.with_context(|| format!("wait for exec in {task}"))?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(255)))
}

/// Copies a FIFO to our stdout/stderr until `done`, then what is left.
fn copy_out<W: Write + Send + 'static>(
    fifo: File,
    mut to: W,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let _ = set_nonblocking(fifo.as_fd());
        let mut fifo = fifo;
        let mut buf = [0u8; 16384];
        loop {
            match fifo.read(&mut buf) {
                Ok(n) if n > 0 => {
                    if to.write_all(&buf[..n]).and_then(|()| to.flush()).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // Nothing buffered: finished once the process has exited.
                _ => {
                    if done.load(Ordering::SeqCst) {
                        return;
                    }
                    let fd = fifo.as_fd();
                    let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
                    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(20u8));
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

/// Sends our terminal's size now and on every SIGWINCH.
pub(crate) fn follow_window_size(address: &str, task: &str, exec_id: &str) {
    let Ok(s) = Shim::connect(address) else {
        return;
    };
    let send = |s: &Shim, task: &str, exec_id: &str| {
        if let Some((rows, cols)) = window_size() {
            let _ = s.resize(task, exec_id, rows, cols);
        }
    };
    send(&s, task, exec_id);
    let Ok(mut signals) = signal_hook::iterator::Signals::new([libc::SIGWINCH]) else {
        return;
    };
    let (task, exec_id) = (task.to_string(), exec_id.to_string());
    std::thread::spawn(move || {
        for _ in signals.forever() {
            send(&s, &task, &exec_id);
        }
    });
}

/// Our terminal in raw mode, restored on drop.
pub(crate) struct RawTerminal {
    saved: Termios,
}

impl RawTerminal {
    pub(crate) fn enter() -> Option<RawTerminal> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = std::io::stdout().flush();
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Puts a descriptor in non-blocking mode.
fn set_nonblocking(fd: std::os::fd::BorrowedFd<'_>) -> nix::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use std::os::fd::AsRawFd;
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(drop)
}

/// The caller's terminal size as (rows, columns), when stdin is one.
pub fn window_size() -> Option<(u16, u16)> {
    let (terminal_size::Width(cols), terminal_size::Height(rows)) =
        terminal_size::terminal_size_of(std::io::stdin())?;
    (rows > 0).then_some((rows, cols))
}
