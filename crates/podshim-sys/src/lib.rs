//! The Linux layer of podshim. Synchronous, no tokio. Everything that acts
//! on namespaces, mounts or processes lives here, and so does every
//! `unsafe` block of the project.
//!
//! The namespace work runs only in fresh single-threaded processes that the
//! shim re-executes from its own binary: [`pause::run`] (`podshim pause`)
//! and [`init::run`] (`podshim init`). They talk to the shim over a
//! socketpair ([`channel`]) with the messages in [`msg`].

pub mod caps;
pub mod cgroup;
pub mod channel;
pub mod error;
pub mod exec;
pub mod fds;
pub mod fork;
pub mod hooks;
pub mod init;
pub mod msg;
pub mod net;
pub mod ns;
pub mod pause;
pub mod proc;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod shm;
pub mod spawn;
pub mod tty;
pub mod userns;

pub use error::SysError;
