//! The shim's error type and its mapping onto ttrpc status codes, which
//! containerd turns back into its errdefs (NotFound, AlreadyExists, ...).

use podshim_state::StateError;
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
    Unimplemented(String),
    #[error("{0}")]
    Internal(String),
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
            ShimError::Unimplemented(_) => Code::UNIMPLEMENTED,
            ShimError::Internal(_) => Code::INTERNAL,
        };
        ttrpc::Error::RpcStatus(ttrpc::get_status(code, e.to_string()))
    }
}

pub type Result<T> = std::result::Result<T, ShimError>;
