//! `podctl attach POD CONTAINER [--no-stdin]`: a running container's output
//! as the shim logs it, through the container's attach socket (frames
//! described in podshim's attach module). A container with a terminal also
//! gets our keystrokes: podctl's terminal goes raw (Ctrl-C reaches the
//! container's terminal as a byte), its size follows ours through
//! ResizePty, and Ctrl-P Ctrl-Q detaches, leaving the container running.
//! When the container exits, podctl exits with its exit code.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use podshim_state::read_json;
use podshim_types::{ContainerRecord, TaskStatus};

use podshim_types::attach::{self as wire, FRAME_EXIT, FRAME_INPUT, FRAME_STDERR, FRAME_STDOUT};

use crate::shim::Shim;
use crate::terminal::{follow_window_size, RawTerminal};
use crate::Ctx;

/// Ctrl-P then Ctrl-Q, as docker and podman detach.
const DETACH: [u8; 2] = [0x10, 0x11];

/// Follow a container's output, and type into its terminal if it has one.
///
/// Detach with Ctrl-P Ctrl-Q; otherwise podctl exits with the container's
/// exit code when it ends.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pod's id.
    pub pod: String,
    /// The container's name in the pod.
    pub container: String,
    /// Only watch: send no keystrokes to the container's terminal.
    #[arg(long)]
    pub no_stdin: bool,
}

pub fn run(c: &Ctx, a: Args) -> anyhow::Result<ExitCode> {
    let no_stdin = a.no_stdin;
    let (pod, paths) = c.pod(&a.pod)?;
    let task = c.task(&pod, &a.container)?;
    let name = a.container;
    let record: ContainerRecord = read_json(&paths.container_record(&task))
        .with_context(|| format!("pod {pod} has no container {name}"))?;
    if record.status != TaskStatus::Running {
        bail!(
            "container {name} is {}, not running",
            format!("{:?}", record.status).to_lowercase()
        );
    }
    let socket = paths.container_attach(&task);
    let (address, dir) = podshim_state::paths::socket_address(&socket)
        .with_context(|| format!("attach socket {}", socket.display()))?;
    let mut conn = UnixStream::connect(&address).with_context(|| {
        format!(
            "attach to {name}: {} (is its output logged by the shim?)",
            socket.display()
        )
    })?;
    drop(dir);
    let spec = crate::bundles::bundles_dir(&paths)
        .join(&name)
        .join("config.json");
    let terminal = std::fs::read(&spec)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["process"]["terminal"].as_bool())
        .unwrap_or(false);

    let shim_address = crate::ctx::shim_address(&paths)?;
    let detached = Arc::new(AtomicBool::new(false));
    let raw = if terminal {
        follow_window_size(&shim_address, task.as_str(), "");
        if no_stdin {
            None
        } else {
            copy_in(conn.try_clone()?, detached.clone());
            RawTerminal::enter()
        }
    } else {
        None
    };
    let exited = copy_out(&mut conn);
    drop(raw);
    if detached.load(Ordering::SeqCst) {
        eprintln!("podctl: detached from {name}");
        return Ok(ExitCode::SUCCESS);
    }
    if !exited? {
        bail!("the shim let go of the attach: its output was not read fast enough");
    }
    let s = Shim::connect(&shim_address)?;
    let code = s
        .wait(task.as_str(), Duration::from_secs(10))?
        .with_context(|| format!("no exit code for {name}"))?;
    Ok(crate::ctx::exit_code(code))
}

/// Writes the frames to our stdout and stderr. True when the container
/// exited, false when the connection ended without saying so.
fn copy_out(conn: &mut UnixStream) -> anyhow::Result<bool> {
    let mut header = [0u8; 5];
    let mut data = Vec::new();
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    loop {
        if conn.read_exact(&mut header).is_err() {
            return Ok(false);
        }
        let (kind, len) = wire::parse_header(header);
        data.resize(len, 0);
        if conn.read_exact(&mut data).is_err() {
            return Ok(false);
        }
        let to: &mut dyn Write = match kind {
            FRAME_EXIT => return Ok(true),
            FRAME_STDOUT => &mut out,
            FRAME_STDERR => &mut err,
            other => bail!("attach: unknown frame kind {other}"),
        };
        to.write_all(&data).and_then(|()| to.flush())?;
    }
}

/// Sends our stdin to the container's terminal; Ctrl-P Ctrl-Q detaches
/// (ends the connection). Its end leaves the container's terminal open.
fn copy_in(mut conn: UnixStream, detached: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut input = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        // A Ctrl-P held back until we know whether Ctrl-Q follows.
        let mut held = false;
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let mut send = Vec::with_capacity(n + 1);
            for &b in &buf[..n] {
                if held {
                    held = false;
                    if b == DETACH[1] {
                        detached.store(true, Ordering::SeqCst);
                        let _ = conn.write_all(&frame(&send));
                        let _ = conn.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                    send.push(DETACH[0]);
                }
                if b == DETACH[0] {
                    held = true;
                } else {
                    send.push(b);
                }
            }
            if !send.is_empty() && conn.write_all(&frame(&send)).is_err() {
                return;
            }
        }
    });
}

fn frame(data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(5 + data.len());
    f.extend_from_slice(&wire::header(FRAME_INPUT, data.len()));
    f.extend_from_slice(data);
    f
}
