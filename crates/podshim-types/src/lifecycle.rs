//! The lifecycle as data: which verb a process (a task's init, an exec,
//! the pause) allows in which status. Every verb of the shim asks
//! [`TaskStatus::check`] before it acts, so the rules live here and only
//! here.

use crate::record::TaskStatus;

/// What a client asks of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Run it (Start).
    Start,
    /// Add an exec process to it.
    Exec,
    /// Freeze it.
    Pause,
    /// Thaw it.
    Resume,
    /// New resources.
    Update,
    /// Remove it; a created process is killed first.
    Delete,
    /// Dump it with CRIU.
    Checkpoint,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Start => "start",
            Verb::Exec => "exec",
            Verb::Pause => "pause",
            Verb::Resume => "resume",
            Verb::Update => "update",
            Verb::Delete => "delete",
            Verb::Checkpoint => "checkpoint",
        }
    }
}

/// A verb the status does not allow, and why in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is {}: {}", status.as_str(), why)]
pub struct Refused {
    pub status: TaskStatus,
    pub verb: Verb,
    pub why: &'static str,
}

impl TaskStatus {
    /// Whether `verb` may act on a process in this status.
    pub fn check(self, verb: Verb) -> Result<(), Refused> {
        use TaskStatus::*;
        let why = match (verb, self) {
            (Verb::Start, Created) => return Ok(()),
            (Verb::Start, Creating) => "start needs it created",
            (Verb::Start, _) => "it was started already",
            (Verb::Exec, Running) => return Ok(()),
            (Verb::Exec, _) => "exec needs it running",
            (Verb::Pause, Running) => return Ok(()),
            (Verb::Pause, _) => "not running",
            (Verb::Resume, Paused) => return Ok(()),
            (Verb::Resume, _) => "not paused",
            (Verb::Update, Stopped) => "it has stopped",
            (Verb::Update, _) => return Ok(()),
            (Verb::Delete, Created | Stopped) => return Ok(()),
            (Verb::Delete, Running | Paused) => "kill it before delete",
            (Verb::Delete, Creating) => "it is being created",
            (Verb::Checkpoint, Running | Paused) => return Ok(()),
            (Verb::Checkpoint, _) => "checkpoint needs it running",
        };
        Err(Refused {
            status: self,
            verb,
            why,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskStatus::*;

    const ALL: [TaskStatus; 5] = [Creating, Created, Running, Paused, Stopped];

    fn allowed(verb: Verb) -> Vec<TaskStatus> {
        ALL.into_iter().filter(|s| s.check(verb).is_ok()).collect()
    }

    #[test]
    fn each_verb_is_allowed_where_runc_allows_it() {
        assert_eq!(allowed(Verb::Start), [Created]);
        assert_eq!(allowed(Verb::Exec), [Running]);
        assert_eq!(allowed(Verb::Pause), [Running]);
        assert_eq!(allowed(Verb::Resume), [Paused]);
        assert_eq!(allowed(Verb::Update), [Creating, Created, Running, Paused]);
        assert_eq!(allowed(Verb::Delete), [Created, Stopped]);
        assert_eq!(allowed(Verb::Checkpoint), [Running, Paused]);
    }

    #[test]
    fn a_refusal_says_the_status_and_what_to_do() {
        let e = Running.check(Verb::Delete).unwrap_err();
        assert_eq!(e.to_string(), "is running: kill it before delete");
        assert_eq!(
            Paused.check(Verb::Pause).unwrap_err().to_string(),
            "is paused: not running"
        );
        assert_eq!(
            Running.check(Verb::Resume).unwrap_err().to_string(),
            "is running: not paused"
        );
    }
}
