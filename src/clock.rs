//! The service's notion of today. Statutory deadlines depend on it, so demos and acceptance
//! tests fix it with `ESMA_TODAY=YYYY-MM-DD` (API.md "Conventions").

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, Utc};

#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    fixed_today: Option<NaiveDate>,
}

impl Clock {
    pub fn system() -> Self {
        Clock { fixed_today: None }
    }

    pub fn fixed(today: NaiveDate) -> Self {
        Clock {
            fixed_today: Some(today),
        }
    }

    /// Parses `ESMA_TODAY` when set.
    pub fn from_env_value(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(Clock::system()),
            Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map(Clock::fixed)
                .map_err(|_| format!("ESMA_TODAY should be a date like 2026-11-23, not '{v}'")),
        }
    }

    /// Today for statutory counting: the fixed date when set, else the local date in England.
    pub fn today(&self) -> NaiveDate {
        self.fixed_today
            .unwrap_or_else(|| Local::now().date_naive())
    }

    pub fn is_fixed(&self) -> bool {
        self.fixed_today.is_some()
    }

    /// Wall-clock time (tokens use the real time whatever the clock says).
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// Monotonic time, for what counts seconds between events (the token throttle).
    pub fn instant(&self) -> std::time::Instant {
        std::time::Instant::now()
    }

    /// The time records are stamped with (UTC, microsecond precision on both backends). With a
    /// fixed today it is that day at the real time of day, so that what is received "today" is
    /// received on the day every statutory clock counts from (a referral received on the fixed
    /// day may start support that day, R10.2).
    pub fn now_naive(&self) -> NaiveDateTime {
        let now = wall_naive();
        match self.fixed_today {
            None => now,
            Some(day) => day.and_time(now.time()),
        }
    }
}

/// The real time, as stored (UTC, microseconds): for what must follow real time whatever the
/// statutory clock says, such as webhook retries.
pub fn wall_naive() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now - chrono::Duration::nanoseconds((now.and_utc().timestamp_subsec_nanos() % 1000) as i64)
}
