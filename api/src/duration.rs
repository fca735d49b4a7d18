//! Go-style duration strings ("5s", "1m30s", "500ms", "0"), as Swarm and the docker CLI write them.
//!
//! Durations are stored as strings in the API so objects read like `docker service inspect`; this
//! module turns them into [`std::time::Duration`] and back.

use std::time::Duration;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("invalid duration {0:?}: expected a number with a unit (ns, us, ms, s, m, h), e.g. \"5s\" or \"1m30s\"")]
    Syntax(String),
    #[error("missing unit in duration {0:?}: valid units are ns, us, ms, s, m, h")]
    MissingUnit(String),
    #[error("unknown unit {unit:?} in duration {input:?}: valid units are ns, us, ms, s, m, h")]
    UnknownUnit { input: String, unit: String },
    #[error("duration {0:?} must not be negative")]
    Negative(String),
    #[error("duration {0:?} is out of range")]
    Overflow(String),
}

/// Parses a Go duration string (`time.ParseDuration` grammar). Negative values are an error
/// because no Swarm duration may be negative.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let (negative, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err(DurationError::Syntax(input.to_string()));
    }
    let mut total: u128 = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let (nanos, tail) = parse_component(input, rest)?;
        total = total
            .checked_add(nanos)
            .ok_or_else(|| DurationError::Overflow(input.to_string()))?;
        rest = tail;
    }
    if negative && total > 0 {
        return Err(DurationError::Negative(input.to_string()));
    }
    let secs = u64::try_from(total / 1_000_000_000)
        .map_err(|_| DurationError::Overflow(input.to_string()))?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// Parses one `<number>[.<fraction>]<unit>` component, returning nanoseconds and the rest.
fn parse_component<'a>(input: &str, s: &'a str) -> Result<(u128, &'a str), DurationError> {
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let number = &s[..num_end];
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(DurationError::Syntax(input.to_string()));
    }
    let after = &s[num_end..];
    let unit_end = after
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(after.len());
    let unit = &after[..unit_end];
    if unit.is_empty() {
        return Err(DurationError::MissingUnit(input.to_string()));
    }
    let scale: u128 = match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => {
            return Err(DurationError::UnknownUnit {
                input: input.to_string(),
                unit: unit.to_string(),
            })
        }
    };
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    let overflow = || DurationError::Overflow(input.to_string());
    let int: u128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| overflow())?
    };
    let mut nanos = int.checked_mul(scale).ok_or_else(overflow)?;
    // Fractions finer than a nanosecond are truncated, as Go does.
    let mut div: u128 = 1;
    for digit in frac_part.bytes().take(30) {
        div *= 10;
        nanos += u128::from(digit - b'0') * scale / div;
    }
    Ok((nanos, &after[unit_end..]))
}

/// Formats a duration the way Go's `Duration.String` does ("1m30s", "500ms", "0s").
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale) = match nanos {
            n if n < 1_000 => ("ns", 1u128),
            n if n < 1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{}{unit}", fraction(nanos, scale));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let secs = fraction(nanos % 60_000_000_000, 1_000_000_000);
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{secs}s"));
    out
}

/// `value / scale` as a decimal without trailing zeros.
fn fraction(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let rem = value % scale;
    if rem == 0 {
        return whole.to_string();
    }
    let width = scale.to_string().len() - 1;
    let frac = format!("{rem:0width$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let cases = [
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("5s", Duration::from_secs(5)),
            ("1m30s", Duration::from_secs(90)),
            ("500ms", Duration::from_millis(500)),
            ("1.5h", Duration::from_secs(5400)),
            ("2h45m", Duration::from_secs(9900)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            (".5s", Duration::from_millis(500)),
            ("+3s", Duration::from_secs(3)),
            ("-0s", Duration::ZERO),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration(input), Ok(want), "{input}");
        }
    }

    #[test]
    fn rejects_bad_durations() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(
            parse_duration("5"),
            Err(DurationError::MissingUnit("5".into()))
        );
        assert_eq!(
            parse_duration("5d"),
            Err(DurationError::UnknownUnit {
                input: "5d".into(),
                unit: "d".into()
            })
        );
        assert_eq!(
            parse_duration("-5s"),
            Err(DurationError::Negative("-5s".into()))
        );
        assert_eq!(parse_duration("s"), Err(DurationError::Syntax("s".into())));
        assert_eq!(
            parse_duration("1.2.3s"),
            Err(DurationError::Syntax("1.2.3s".into()))
        );
        assert!(matches!(
            parse_duration("99999999999999999999h"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_secs(5)), "5s");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_micros(10)), "10µs");
    }
}
