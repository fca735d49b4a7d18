//! Human-readable durations: Kubernetes' AGE style and Docker's "5 minutes ago" style.

use chrono::{DateTime, Duration, Utc};

/// Kubernetes `duration.HumanDuration` (apimachinery), what `kubectl get` prints in AGE columns:
/// <2m "Ns"; <10m "MmSs"; <3h "Mm"; <8h "HhMm"; <48h "Hh"; <8d "DdHh"; <2y "Dd"; <8y "YyDd"; else "Yy".
pub fn human_duration(d: Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return with_remainder(minutes, "m", seconds % 60, "s");
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return with_remainder(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return with_remainder(hours / 24, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return with_remainder(hours / 24 / 365, "y", (hours / 24) % 365, "d");
    }
    format!("{}y", hours / 24 / 365)
}

fn with_remainder(major: i64, major_unit: &str, minor: i64, minor_unit: &str) -> String {
    if minor == 0 {
        format!("{major}{major_unit}")
    } else {
        format!("{major}{major_unit}{minor}{minor_unit}")
    }
}

/// Docker's `units.HumanDuration`, lowercased as `docker service ps` prints it in
/// "Running 5 minutes ago".
pub fn docker_duration(d: Duration) -> String {
    let seconds = d.num_seconds();
    let minutes = d.num_minutes();
    // go-units rounds hours to nearest for this branch.
    let hours = (d.num_milliseconds() as f64 / 3_600_000.0 + 0.5) as i64;
    match () {
        _ if seconds < 1 => "less than a second".into(),
        _ if seconds == 1 => "1 second".into(),
        _ if seconds < 60 => format!("{seconds} seconds"),
        _ if minutes == 1 => "about a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "about an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", d.num_hours() / 24 / 365),
    }
}

/// Parses an RFC 3339 timestamp (`metadata.creationTimestamp`, `status.timestamp`).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
