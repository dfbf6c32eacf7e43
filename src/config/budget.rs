//! Spend budgets: at most `max_budget` USD per `budget_duration` (LiteLLM's names), per consumer
//! and for the whole gateway. Periods start on UTC calendar boundaries, so every replica and
//! every restart agrees on which period a moment belongs to: `1d` is a UTC day, `7d` (or `1w`)
//! an ISO week from Monday 00:00 UTC, `30d` (or `1mo`) a calendar month; other lengths (`12h`,
//! `2d`, `3mo`) are runs of that many units counted from the Unix epoch (months from January
//! 1970). Without a duration the budget never resets.

use chrono::{DateTime, Datelike, TimeZone, Utc};

/// How long a budget period lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetPeriod {
    Seconds(u32),
    Minutes(u32),
    Hours(u32),
    Days(u32),
    Weeks(u32),
    Months(u32),
    /// No reset.
    Forever,
}

/// A spend limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// USD per period.
    pub max_usd: f64,
    pub period: BudgetPeriod,
}

impl BudgetPeriod {
    /// Reads LiteLLM's duration (`30s`, `15m`, `12h`, `1d`, `7d`, `2w`, `30d`, `1mo`).
    pub fn parse(text: &str) -> Option<BudgetPeriod> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let (number, unit) = text.split_at(split);
        let n: u32 = number.parse().ok().filter(|n| *n > 0)?;
        Some(match (unit, n) {
            ("s", _) => BudgetPeriod::Seconds(n),
            ("m", _) => BudgetPeriod::Minutes(n),
            ("h", _) => BudgetPeriod::Hours(n),
            ("d", 7) => BudgetPeriod::Weeks(1),
            ("d", 30) => BudgetPeriod::Months(1),
            ("d", _) => BudgetPeriod::Days(n),
            ("w", _) => BudgetPeriod::Weeks(n),
            ("mo", _) => BudgetPeriod::Months(n),
            _ => return None,
        })
    }

    /// The period `now` (Unix seconds) belongs to: its start and its end (`None`: never).
    pub fn bounds(self, now: i64) -> (i64, Option<i64>) {
        let aligned = |length: i64, offset: i64| {
            let start = (now - offset).div_euclid(length) * length + offset;
            (start, Some(start + length))
        };
        const DAY: i64 = 86_400;
        match self {
            BudgetPeriod::Seconds(n) => aligned(i64::from(n), 0),
            BudgetPeriod::Minutes(n) => aligned(i64::from(n) * 60, 0),
            BudgetPeriod::Hours(n) => aligned(i64::from(n) * 3_600, 0),
            BudgetPeriod::Days(n) => aligned(i64::from(n) * DAY, 0),
            // 1970-01-05 was a Monday.
            BudgetPeriod::Weeks(n) => aligned(i64::from(n) * 7 * DAY, 4 * DAY),
            BudgetPeriod::Months(n) => {
                let date = Utc.timestamp_opt(now, 0).single().unwrap_or_default();
                let months = i64::from(date.year() - 1970) * 12 + i64::from(date.month0());
                let first = months.div_euclid(i64::from(n)) * i64::from(n);
                (month_start(first), Some(month_start(first + i64::from(n))))
            }
            BudgetPeriod::Forever => (0, None),
        }
    }
}

/// The first second of the month `months` after January 1970.
fn month_start(months: i64) -> i64 {
    let year = 1970 + months.div_euclid(12);
    let month = months.rem_euclid(12) + 1;
    let start: Option<DateTime<Utc>> = i32::try_from(year)
        .ok()
        .and_then(|y| Utc.with_ymd_and_hms(y, month as u32, 1, 0, 0, 0).single());
    start.map_or(0, |d| d.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp()
    }

    #[test]
    fn durations_read_as_litellm_writes_them() {
        assert_eq!(BudgetPeriod::parse("1d"), Some(BudgetPeriod::Days(1)));
        assert_eq!(BudgetPeriod::parse("7d"), Some(BudgetPeriod::Weeks(1)));
        assert_eq!(BudgetPeriod::parse("30d"), Some(BudgetPeriod::Months(1)));
        assert_eq!(BudgetPeriod::parse("1mo"), Some(BudgetPeriod::Months(1)));
        assert_eq!(BudgetPeriod::parse("12h"), Some(BudgetPeriod::Hours(12)));
        assert_eq!(BudgetPeriod::parse("30s"), Some(BudgetPeriod::Seconds(30)));
        for bad in ["", "d", "0d", "1y", "1.5d", "-1d"] {
            assert_eq!(BudgetPeriod::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn periods_start_on_utc_calendar_boundaries() {
        let now = at("2026-12-02T19:35:18Z");
        let day = BudgetPeriod::Days(1).bounds(now);
        assert_eq!(
            day,
            (at("2026-12-02T00:00:00Z"), Some(at("2026-12-03T00:00:00Z")))
        );
        // 2026-12-02 is a Wednesday: its week began on Monday the 30th of November.
        let week = BudgetPeriod::Weeks(1).bounds(now);
        assert_eq!(
            week,
            (at("2026-11-30T00:00:00Z"), Some(at("2026-12-07T00:00:00Z")))
        );
        let month = BudgetPeriod::Months(1).bounds(now);
        assert_eq!(
            month,
            (at("2026-12-01T00:00:00Z"), Some(at("2027-01-01T00:00:00Z")))
        );
        let quarter = BudgetPeriod::Months(3).bounds(now);
        assert_eq!(
            quarter,
            (at("2026-10-01T00:00:00Z"), Some(at("2027-01-01T00:00:00Z")))
        );
        let hours = BudgetPeriod::Hours(12).bounds(now);
        assert_eq!(
            hours,
            (at("2026-12-02T12:00:00Z"), Some(at("2026-12-03T00:00:00Z")))
        );
        assert_eq!(BudgetPeriod::Forever.bounds(now), (0, None));
        // The last second of a period is in it; the next is the next period's.
        let end = at("2026-12-03T00:00:00Z");
        assert_eq!(BudgetPeriod::Days(1).bounds(end - 1).1, Some(end));
        assert_eq!(BudgetPeriod::Days(1).bounds(end).0, end);
    }
}
