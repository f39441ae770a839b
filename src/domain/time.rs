//! Dates for people: days in the operator's zone, as a fixed UTC offset.

/// Days since 1970-01-01 in a zone `offset_minutes` east of UTC.
pub fn day_number(at_ms: i64, offset_minutes: i64) -> i64 {
    (at_ms + offset_minutes * 60_000).div_euclid(86_400_000)
}

/// How often an allowance's limit starts afresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "day" => Some(Period::Day),
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    /// The number of the period holding `at_ms` in the operator's zone:
    /// days; weeks from Monday; months as year * 12 + month.
    pub fn number(self, at_ms: i64, offset_minutes: i64) -> i64 {
        let day = day_number(at_ms, offset_minutes);
        match self {
            Period::Day => day,
            // 1970-01-01 was a Thursday: shift so that weeks start on Monday.
            Period::Week => (day + 3).div_euclid(7),
            Period::Month => {
                let (y, m, _) = civil(day);
                y * 12 + m
            }
        }
    }
}

/// (year, month, day) of a day number (Howard Hinnant's civil-from-days).
pub fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `24/11`, as receipts and statements show it.
pub fn day_month(at_ms: i64, offset_minutes: i64) -> String {
    let (_, m, d) = civil(day_number(at_ms, offset_minutes));
    format!("{d:02}/{m:02}")
}

/// `2026-11-24`.
pub fn iso_date(day: i64) -> String {
    let (y, m, d) = civil(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2026-11-24T12:00:00Z` (RFC 3339, UTC, whole seconds).
pub fn rfc3339(at_ms: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    let at =
        time::OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.format(&Rfc3339).unwrap_or_default()
}

/// Milliseconds since the epoch of an RFC 3339 time (`2026-11-24T12:00:00+03:00`).
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    use time::format_description::well_known::Rfc3339;
    let at = time::OffsetDateTime::parse(s.trim(), &Rfc3339)
        .map_err(|e| format!("'{s}' is not an RFC 3339 time such as 2026-11-24T12:00:00+03:00 ({e})"))?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|_| format!("'{s}' is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_turn_over_on_monday_and_on_the_first() {
        let day_ms = 86_400_000;
        // 2026-11-29 is a Sunday, 2026-11-30 a Monday, 2026-12-01 a Tuesday (UTC).
        let sunday = 20_786 * day_ms;
        assert_eq!(iso_date(day_number(sunday, 0)), "2026-11-29");
        assert_ne!(Period::Week.number(sunday, 0), Period::Week.number(sunday + day_ms, 0));
        assert_eq!(Period::Week.number(sunday + day_ms, 0), Period::Week.number(sunday + 7 * day_ms - 1, 0));
        assert_eq!(Period::Month.number(sunday, 0), Period::Month.number(sunday + day_ms, 0));
        assert_ne!(Period::Month.number(sunday + day_ms, 0), Period::Month.number(sunday + 2 * day_ms, 0));
        assert_eq!(Period::Day.number(sunday, 0) + 1, Period::Day.number(sunday + day_ms, 0));
    }

    #[test]
    fn dates_in_east_africa_time() {
        // 2026-11-24 22:30 UTC is already 25/11 in Nairobi (UTC+3).
        let at = 1_795_559_400_000;
        assert_eq!(day_month(at, 0), "24/11");
        assert_eq!(day_month(at, 180), "25/11");
        assert_eq!(iso_date(day_number(at, 0)), "2026-11-24");
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(iso_date(day_number(951_782_400_000, 0)), "2000-02-29");
    }

    #[test]
    fn rfc3339_both_ways() {
        assert_eq!(rfc3339(1_795_559_400_000), "2026-11-24T22:30:00Z");
        assert_eq!(parse_rfc3339("2026-11-25T01:30:00+03:00"), Ok(1_795_559_400_000));
        assert!(parse_rfc3339("25/11/2026").is_err());
    }
}
