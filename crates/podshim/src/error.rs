//! The shim's error type and its mapping onto ttrpc status codes, which
//! containerd turns back into its errdefs (NotFound, AlreadyExists, ...).
//! A child's failure keeps its cause on the way: a spec the kernel refuses
//! is INVALID_ARGUMENT, an EPERM is PERMISSION_DENIED, a full table is
//! RESOURCE_EXHAUSTED.

use podshim_state::StateError;
use podshim_sys::msg::{ChildError, ErrorCause};
use podshim_sys::SysError;

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    ResourceExhausted(String),
    #[error("{0}")]
    Unimplemented(String),
    #[error("{0}")]
    Internal(String),
}

impl ShimError {
    /// The same error with `what: ` before its message.
    pub fn context(self, what: &str) -> ShimError {
        self.map_message(|m| format!("{what}: {m}"))
    }

    fn map_message(self, f: impl FnOnce(String) -> String) -> ShimError {
        use ShimError::*;
        match self {
            InvalidArgument(m) => InvalidArgument(f(m)),
            NotFound(m) => NotFound(f(m)),
            AlreadyExists(m) => AlreadyExists(f(m)),
            FailedPrecondition(m) => FailedPrecondition(f(m)),
            PermissionDenied(m) => PermissionDenied(f(m)),
            ResourceExhausted(m) => ResourceExhausted(f(m)),
            Unimplemented(m) => Unimplemented(f(m)),
            Internal(m) => Internal(f(m)),
        }
    }

    /// The error an errno stands for, with `message`.
    pub fn from_errno(errno: i32, message: String) -> ShimError {
        match errno {
            libc::EINVAL => ShimError::InvalidArgument(message),
            libc::ENOENT | libc::ESRCH => ShimError::NotFound(message),
            libc::EEXIST => ShimError::AlreadyExists(message),
            libc::EPERM | libc::EACCES => ShimError::PermissionDenied(message),
            libc::ENOSPC | libc::ENOMEM | libc::EMFILE | libc::ENFILE | libc::EAGAIN => {
                ShimError::ResourceExhausted(message)
            }
            _ => ShimError::Internal(message),
        }
    }
}

impl From<ChildError> for ShimError {
    fn from(e: ChildError) -> Self {
        let message = e.to_string();
        match e.cause {
            ErrorCause::Spec { .. } => ShimError::InvalidArgument(message),
            ErrorCause::Os { errno } | ErrorCause::Io { errno: Some(errno) } => {
                ShimError::from_errno(errno, message)
            }
            ErrorCause::Io { errno: None } | ErrorCause::Channel | ErrorCause::Cgroup => {
                ShimError::Internal(message)
            }
        }
    }
}

impl From<SysError> for ShimError {
    fn from(e: SysError) -> Self {
        match e {
            SysError::Spec { .. } => ShimError::InvalidArgument(e.to_string()),
            e => ShimError::Internal(e.to_string()),
        }
    }
}

impl From<StateError> for ShimError {
    fn from(e: StateError) -> Self {
        ShimError::Internal(e.to_string())
    }
}

impl From<ShimError> for ttrpc::Error {
    fn from(e: ShimError) -> Self {
        use ttrpc::Code;
        let code = match &e {
            ShimError::InvalidArgument(_) => Code::INVALID_ARGUMENT,
            ShimError::NotFound(_) => Code::NOT_FOUND,
            ShimError::AlreadyExists(_) => Code::ALREADY_EXISTS,
            ShimError::FailedPrecondition(_) => Code::FAILED_PRECONDITION,
            ShimError::PermissionDenied(_) => Code::PERMISSION_DENIED,
            ShimError::ResourceExhausted(_) => Code::RESOURCE_EXHAUSTED,
            ShimError::Unimplemented(_) => Code::UNIMPLEMENTED,
            ShimError::Internal(_) => Code::INTERNAL,
        };
        ttrpc::Error::RpcStatus(ttrpc::get_status(code, e.to_string()))
    }
}

pub type Result<T> = std::result::Result<T, ShimError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: ShimError) -> ttrpc::Code {
        match ttrpc::Error::from(e) {
            ttrpc::Error::RpcStatus(s) => s.code(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_child_error_keeps_its_kind_on_the_wire() {
        let child = |e: SysError| ShimError::from(ChildError::new("rootfs", &e));
        let eperm = child(SysError::os("mount", "/x", nix::errno::Errno::EPERM));
        assert!(eperm.to_string().starts_with("rootfs: mount /x"), "{eperm}");
        assert_eq!(code(eperm), ttrpc::Code::PERMISSION_DENIED);
        assert_eq!(
            code(child(SysError::spec("mounts[1]", "bad option"))),
            ttrpc::Code::INVALID_ARGUMENT
        );
        let enoent = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(
            code(child(SysError::io("open", "/bin/nope", enoent))),
            ttrpc::Code::NOT_FOUND
        );
        assert_eq!(
            code(child(SysError::os("clone", "x", nix::errno::Errno::ENOSPC))),
            ttrpc::Code::RESOURCE_EXHAUSTED
        );
        assert_eq!(
            code(child(SysError::Channel("eof".into()))),
            ttrpc::Code::INTERNAL
        );
    }

    #[test]
    fn context_keeps_the_kind() {
        let e = ShimError::NotFound("x".into()).context("create a");
        assert_eq!(e.to_string(), "create a: x");
        assert_eq!(code(e), ttrpc::Code::NOT_FOUND);
    }
}
