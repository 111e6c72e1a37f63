//! Validated ids. Every pod, container, exec and namespace name passes
//! through [`Id::new`] before a path is built from it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest id accepted. containerd allows 76 characters; CRI sandbox ids are
/// 64 hex characters. The socket path must stay under 108 bytes.
pub const MAX_ID_LEN: usize = 76;

/// Why an id was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("id is empty")]
    Empty,
    #[error("id {id:?} is {len} bytes long, the limit is {MAX_ID_LEN}")]
    TooLong { id: String, len: usize },
    #[error("id {id:?} contains {what}, which is not allowed (letters, digits, '.', '-', '_' only, not starting with '.')")]
    BadCharacter { id: String, what: String },
}

/// An id that is safe to use as a single path component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Id(String);

impl Id {
    /// Accepts `[A-Za-z0-9][A-Za-z0-9._-]*`, at most [`MAX_ID_LEN`] long:
    /// containerd's own identifier rule. No `/`, no `..`, no NUL.
    pub fn new(id: &str) -> Result<Self, IdError> {
        if id.is_empty() {
            return Err(IdError::Empty);
        }
        if id.len() > MAX_ID_LEN {
            let shown: String = id.chars().take(32).collect();
            return Err(IdError::TooLong {
                id: format!("{shown}..."),
                len: id.len(),
            });
        }
        // Shown as given: whole characters (never a byte of one), control
        // characters escaped once, by the message's {:?}.
        let first = id.chars().next().unwrap_or_default();
        if !first.is_ascii_alphanumeric() {
            return Err(IdError::BadCharacter {
                id: id.to_string(),
                what: format!("{first:?} as its first character"),
            });
        }
        if let Some(c) = id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        {
            return Err(IdError::BadCharacter {
                id: id.to_string(),
                what: format!("{c:?}"),
            });
        }
        Ok(Id(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Id {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Id::new(&s)
    }
}

impl From<Id> for String {
    fn from(id: Id) -> String {
        id.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl AsRef<str> for Id {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_containerd_style_ids() {
        for ok in ["web", "web-sidecar", "a.b_c-1", &"f".repeat(64)] {
            assert_eq!(Id::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_path_tricks_and_junk() {
        assert_eq!(Id::new(""), Err(IdError::Empty));
        for bad in [
            "a/b", "..", ".", "../x", "a\0b", "-x", ".hidden", "a b", "é",
        ] {
            assert!(Id::new(bad).is_err(), "{bad:?} was accepted");
        }
        let long = "a".repeat(10_000);
        match Id::new(&long) {
            Err(IdError::TooLong { len, .. }) => assert_eq!(len, 10_000),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn refused_ids_are_shown_as_given() {
        let e = Id::new("été").unwrap_err().to_string();
        assert!(
            e.contains("\"été\"") && e.contains("'é' as its first"),
            "{e}"
        );
        let e = Id::new("caféine").unwrap_err().to_string();
        assert!(e.contains("\"caféine\"") && e.contains("'é'"), "{e}");
        let e = Id::new("a\nb").unwrap_err().to_string();
        assert!(e.contains(r#""a\nb""#), "{e}");
        let e = Id::new(&"é".repeat(40)).unwrap_err().to_string();
        assert!(e.contains("80 bytes") && e.contains(&"é".repeat(32)), "{e}");
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<Id>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<Id>("\"../etc\"").is_err());
    }
}
