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

    /// Wall-clock time for timestamps (tokens and audit rows always use the real time).
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// `now` as stored in the database (UTC, microsecond precision on both backends).
    pub fn now_naive(&self) -> NaiveDateTime {
        let now = Utc::now().naive_utc();
        now - chrono::Duration::nanoseconds((now.and_utc().timestamp_subsec_nanos() % 1000) as i64)
    }
}
