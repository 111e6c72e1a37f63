//! The values podctl's options take, parsed for clap: signals (by name or
//! number), sizes (binary units, as docker and runc take them), durations
//! (seconds or `1h30m`), and points in time (RFC 3339 with any offset, or a
//! duration back from now, as kubectl's `--since` takes them).

use std::time::{Duration, SystemTime};

use jiff::{SignedDuration, Timestamp};

/// A signal given as `TERM`, `SIGTERM`, `term` or `15`.
pub fn signal(s: &str) -> Result<i32, String> {
    if let Ok(n) = s.parse::<i32>() {
        // Real-time signals have no name: any number the kernel knows.
        return if (1..=libc::SIGRTMAX()).contains(&n) {
            Ok(n)
        } else {
            Err(format!(
                "signal {n} is out of range (1-{})",
                libc::SIGRTMAX()
            ))
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| format!("unknown signal {s:?}"))
}

/// A size in bytes: `64M` and `64Mi` are both 64 MiB, `-1` is unlimited.
pub fn size(s: &str) -> Result<i64, String> {
    if s == "-1" {
        return Ok(-1);
    }
    let bytes = parse_size::Config::new()
        .with_binary()
        .parse_size(s)
        .map_err(|e| format!("{s:?} is not a size like 64M, 1Gi or 4096: {e}"))?;
    match i64::try_from(bytes) {
        Ok(0) => Err(format!("size {s:?} is zero")),
        Ok(b) => Ok(b),
        Err(_) => Err(format!("size {s:?} is out of range")),
    }
}

/// A duration: a number of seconds (`0.5`) or a span like `90s`, `5m`,
/// `1h30m`; never negative.
pub fn duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("{s:?} is not a number of seconds"));
    }
    span(s).ok_or_else(|| format!("{s:?} is neither a number of seconds nor a duration like 5m"))
}

/// `90s`, `5m`, `1h30m` and the like; no bare numbers, nothing negative.
fn span(s: &str) -> Option<Duration> {
    let d: SignedDuration = s.parse().ok()?;
    Duration::try_from(d).ok()
}

/// A point in time: RFC 3339 (any offset), or a duration back from now.
pub fn since(s: &str) -> Result<SystemTime, String> {
    if let Some(at) = time(s) {
        return Ok(at);
    }
    span(s)
        .and_then(|d| SystemTime::now().checked_sub(d))
        .ok_or_else(|| format!("{s:?} is neither an RFC 3339 time nor a duration like 5m"))
}

/// An RFC 3339 time, as the CRI log stamps its lines.
pub fn time(s: &str) -> Option<SystemTime> {
    s.parse::<Timestamp>().ok().map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(signal("TERM"), Ok(libc::SIGTERM));
        assert_eq!(signal("SIGKILL"), Ok(libc::SIGKILL));
        assert_eq!(signal("usr1"), Ok(libc::SIGUSR1));
        assert_eq!(signal("9"), Ok(9));
        assert_eq!(signal("40"), Ok(40));
        for bad in ["0", "65", "-1", "TERMINATE", ""] {
            assert!(signal(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes_are_binary_and_nonsense_is_refused() {
        assert_eq!(size("64M"), Ok(64 << 20));
        assert_eq!(size("64Mi"), Ok(64 << 20));
        assert_eq!(size("16MiB"), Ok(16 << 20));
        assert_eq!(size("1G"), Ok(1 << 30));
        assert_eq!(size("512Ki"), Ok(512 << 10));
        assert_eq!(size("4096"), Ok(4096));
        assert_eq!(size("-1"), Ok(-1));
        for bad in ["lots", "0", "99999999999999G", "", "-5"] {
            let e = size(bad).unwrap_err();
            assert!(e.contains(bad), "{bad:?}: {e}");
        }
    }

    #[test]
    fn durations_in_seconds_or_spans() {
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        assert_eq!(duration("0.2"), Ok(Duration::from_millis(200)));
        assert_eq!(duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5400)));
        for bad in ["soon", "-1", "-5m", "", "NaN"] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn since_takes_times_and_durations() {
        let now = SystemTime::now();
        let back = |t: &str| now.duration_since(since(t).unwrap()).unwrap().as_secs();
        assert!((5395..5405).contains(&back("1h30m")));
        assert!((85..95).contains(&back("90s")));
        let utc = since("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(since("2026-01-01T01:00:00+01:00"), Ok(utc));
        assert_eq!(
            since("2026-01-01T00:00:00.5Z").unwrap(),
            utc + Duration::from_millis(500)
        );
        for bad in [
            "",
            "5",
            "m",
            "yesterday",
            "-5m",
            "2026-01-01",
            "99999999999999999999s",
        ] {
            assert!(since(bad).is_err(), "{bad:?}");
        }
    }
}
