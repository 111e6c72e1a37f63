//! The Linux layer of podshim. Synchronous, no tokio. Everything that acts
//! on namespaces, mounts or processes lives here, and so does every
//! `unsafe` block of the project.
//!
//! The namespace work runs only in fresh single-threaded processes that the
//! shim re-executes from its own binary: [`pause::run`] (`podshim pause`),
//! [`init::run`] (`podshim init`), [`exec::run`] (`podshim exec`) and
//! [`criu::run`] (`podshim criu`). They talk to the shim over a
//! socketpair ([`channel`]) with the messages in [`msg`].

#[allow(unsafe_code)]
pub mod caps;
pub mod cgroup;
#[allow(unsafe_code)]
pub mod channel;
pub mod criu;
pub mod error;
#[allow(unsafe_code)]
pub mod exe;
pub mod exec;
#[allow(unsafe_code)]
pub mod fds;
#[allow(unsafe_code)]
pub mod fork;
pub mod hooks;
pub mod init;
#[allow(unsafe_code)]
pub mod keyring;
pub mod msg;
#[allow(unsafe_code)]
pub mod net;
pub mod ns;
pub mod pause;
#[allow(unsafe_code)]
pub mod proc;
pub mod process;
#[allow(unsafe_code)]
pub mod rootfs;
pub mod seccomp;
/// SysV shared memory for the test program (podprobe); not in the shim.
#[cfg(feature = "probe")]
#[allow(unsafe_code)]
pub mod shm;
#[allow(unsafe_code)]
pub mod spawn;
pub mod sysctl;
#[allow(unsafe_code)]
pub mod tty;
pub mod userns;
#[allow(unsafe_code)]
pub mod vspawn;

pub use error::SysError;
