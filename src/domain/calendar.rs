//! School days and LA calendars (RULES.md R3).
//!
//! Statutory deadlines (unexplained absence R5, illness counting R4, review schedules R11) are counted
//! in school days, so everything here answers one question: is this date a school day, and which
//! date is N school days away? Pure domain code: no I/O, no database, no web types.

use std::cmp::min;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

// ---------------------------------------------------------------------------------------------
// Academic year
// ---------------------------------------------------------------------------------------------

/// An academic year, 1 September to 31 August, written `2025-26` (RULES.md R3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AcademicYear {
    start_year: i32,
}

impl AcademicYear {
    /// The academic year that starts on 1 September of `start_year`.
    pub const fn new(start_year: i32) -> AcademicYear {
        AcademicYear { start_year }
    }

    /// Parses exactly `2025-26`: four digits, a hyphen, and the last two digits of the next year
    /// (`1999-00` is 1999 to 2000). Errors are sentences that can go straight into an API problem.
    pub fn parse(text: &str) -> Result<AcademicYear, String> {
        let bytes = text.as_bytes();
        let shape_ok = bytes.len() == 7
            && bytes[..4].iter().all(u8::is_ascii_digit)
            && bytes[4] == b'-'
            && bytes[5..].iter().all(u8::is_ascii_digit);
        if !shape_ok {
            return Err(Self::shape_error(text));
        }
        let year = AcademicYear::new(digits_value(&bytes[..4]));
        let next_two = digits_value(&bytes[5..]);
        if i64::from(next_two) != year.next_year_last_two_digits() {
            return Err(format!(
                "academic year should be written like {year} (a year and the next year's last \
                 two digits), not {text}"
            ));
        }
        Ok(year)
    }

    fn shape_error(text: &str) -> String {
        if text.is_empty() {
            return "academic year is empty; it should be written like 2026-27 (a year and the \
                    next year's last two digits)"
                .to_string();
        }
        // Suggest the year the caller most likely meant (`2025-2026` -> `2025-26`).
        let bytes = text.as_bytes();
        let example = if bytes.len() >= 4 && bytes[..4].iter().all(u8::is_ascii_digit) {
            AcademicYear::new(digits_value(&bytes[..4]))
        } else {
            AcademicYear::new(2026)
        };
        // Input is echoed back, so keep it short.
        let shown: String = text.chars().take(40).collect();
        let ellipsis = if text.chars().count() > 40 { "..." } else { "" };
        format!(
            "academic year should be written like {example} (a year and the next year's last two \
             digits), not {shown}{ellipsis}"
        )
    }

    /// The calendar year in which this academic year starts (September).
    pub const fn start_year(self) -> i32 {
        self.start_year
    }

    /// The academic year a date falls in: 1 September to 31 August (RULES.md R3.2).
    pub fn containing(date: NaiveDate) -> AcademicYear {
        if date.month() >= 9 {
            AcademicYear::new(date.year())
        } else {
            AcademicYear::new(date.year() - 1)
        }
    }

    /// 1 September. For a year outside chrono's date range this is clamped to the nearest
    /// representable date, so callers never panic.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.start_year, 9, 1).unwrap_or(self.clamp_date())
    }

    /// 31 August of the following calendar year (clamped like [`AcademicYear::first_day`]).
    pub fn last_day(self) -> NaiveDate {
        self.start_year
            .checked_add(1)
            .and_then(|year| NaiveDate::from_ymd_opt(year, 8, 31))
            .unwrap_or(self.clamp_date())
    }

    fn clamp_date(self) -> NaiveDate {
        if self.start_year < 0 {
            NaiveDate::MIN
        } else {
            NaiveDate::MAX
        }
    }

    /// Whether `date` is between 1 September and 31 August of this year.
    pub fn contains(self, date: NaiveDate) -> bool {
        AcademicYear::containing(date) == self
    }

    /// The following academic year.
    pub const fn next(self) -> AcademicYear {
        AcademicYear::new(self.start_year.saturating_add(1))
    }

    /// The preceding academic year.
    pub const fn previous(self) -> AcademicYear {
        AcademicYear::new(self.start_year.saturating_sub(1))
    }

    fn next_year_last_two_digits(self) -> i64 {
        (i64::from(self.start_year) + 1).rem_euclid(100)
    }
}

/// Value of a run of ASCII digits (at most four, so no overflow); callers check the digits.
fn digits_value(digits: &[u8]) -> i32 {
    digits
        .iter()
        .fold(0, |value, digit| value * 10 + i32::from(digit - b'0'))
}

impl fmt::Display for AcademicYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}",
            self.start_year,
            self.next_year_last_two_digits()
        )
    }
}

impl FromStr for AcademicYear {
    type Err = String;

    fn from_str(text: &str) -> Result<AcademicYear, String> {
        AcademicYear::parse(text)
    }
}

impl Serialize for AcademicYear {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AcademicYear {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<AcademicYear, D::Error> {
        struct AcademicYearVisitor;

        impl Visitor<'_> for AcademicYearVisitor {
            type Value = AcademicYear;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an academic year written like 2026-27")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<AcademicYear, E> {
                AcademicYear::parse(text).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(AcademicYearVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// Terms and the LA calendar
// ---------------------------------------------------------------------------------------------

/// The half-term holiday inside a term (both dates inclusive).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HalfTerm {
    pub starts: NaiveDate,
    pub ends: NaiveDate,
}

impl HalfTerm {
    /// Whether `date` is in the holiday (inclusive).
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.starts <= date && date <= self.ends
    }
}

/// A term of the LA calendar. `starts..=ends` includes the half term, which is a holiday inside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Term {
    pub name: String,
    pub starts: NaiveDate,
    pub ends: NaiveDate,
    #[serde(default)]
    pub half_term: Option<HalfTerm>,
}

impl Term {
    /// Whether `date` is between the term's first and last day (inclusive, half term included).
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.starts <= date && date <= self.ends
    }

    /// Whether `date` is a teaching date of this term: inside it and outside its half term
    /// (weekends and closures are the calendar's business).
    fn is_teaching_date(&self, date: NaiveDate) -> bool {
        self.contains(date)
            && !self
                .half_term
                .as_ref()
                .is_some_and(|half_term| half_term.contains(date))
    }
}

/// The teaching weeks of a term between two holidays (RULES.md R11.2 "half term"): the part of a
/// term before its half term, or after it. Dates are the block's calendar span, inclusive; they
/// may fall on a weekend or closure, so use the school calendar to find its first or last school day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeachingBlock {
    pub term: String,
    pub starts: NaiveDate,
    pub ends: NaiveDate,
}

/// One validation failure, with a JSON Pointer into the calendar request body
/// `{ "terms": [...], "closures": [...] }` (API.md conventions: `errors: [{ pointer, message }]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarProblem {
    pub pointer: String,
    pub message: String,
}

impl CalendarProblem {
    fn new(pointer: impl Into<String>, message: impl Into<String>) -> CalendarProblem {
        CalendarProblem {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

/// The LA's term dates for one academic year (API.md `PUT /api/v1/calendar/{academic_year}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaCalendar {
    pub academic_year: AcademicYear,
    pub terms: Vec<Term>,
    pub closures: Vec<NaiveDate>,
}

impl LaCalendar {
    /// Checks the calendar and reports every problem found, each pointing at the offending field.
    pub fn validate(&self) -> Result<(), Vec<CalendarProblem>> {
        let mut problems = Vec::new();
        let year = self.academic_year;
        let year_span = format!(
            "academic year {year} ({} to {})",
            year.first_day(),
            year.last_day()
        );

        if self.terms.is_empty() {
            problems.push(CalendarProblem::new(
                "/terms",
                format!(
                    "the calendar for {year} has no terms; give at least one term with its name, \
                     start date and end date"
                ),
            ));
        }

        // Names compare trimmed and case-insensitively: 'Autumn' and 'autumn' would confuse a reader.
        let mut seen_names: HashSet<String> = HashSet::new();
        // The latest earlier term whose dates make sense; an inverted term would only add noise.
        let mut previous: Option<(usize, &Term)> = None;

        for (index, term) in self.terms.iter().enumerate() {
            let at = |field: &str| format!("/terms/{index}/{field}");
            let label = term_label(index, term);

            let name = term.name.trim();
            if name.is_empty() {
                problems.push(CalendarProblem::new(
                    at("name"),
                    format!("{label} needs a name, such as 'autumn'"),
                ));
            } else if !seen_names.insert(name.to_lowercase()) {
                problems.push(CalendarProblem::new(
                    at("name"),
                    format!(
                        "term name '{}' is used more than once; each term needs its own name",
                        term.name
                    ),
                ));
            }

            let well_formed = term.starts <= term.ends;
            if !well_formed {
                problems.push(CalendarProblem::new(
                    at("ends"),
                    format!(
                        "{label} ends on {}, before it starts on {}; a term cannot end before it \
                         starts",
                        term.ends, term.starts
                    ),
                ));
            }
            if !year.contains(term.starts) {
                problems.push(CalendarProblem::new(
                    at("starts"),
                    format!("{label} starts on {}, outside {year_span}", term.starts),
                ));
            }
            if !year.contains(term.ends) {
                problems.push(CalendarProblem::new(
                    at("ends"),
                    format!("{label} ends on {}, outside {year_span}", term.ends),
                ));
            }

            if let Some((previous_index, previous_term)) = previous {
                let previous_label = term_label(previous_index, previous_term);
                if term.starts < previous_term.starts {
                    problems.push(CalendarProblem::new(
                        at("starts"),
                        format!(
                            "{label} starts on {}, before {previous_label} (listed before it) \
                             starts on {}; list terms in date order",
                            term.starts, previous_term.starts
                        ),
                    ));
                } else if term.starts == previous_term.ends {
                    problems.push(CalendarProblem::new(
                        at("starts"),
                        format!(
                            "{label} starts on {}, the day {previous_label} ends; terms must not \
                             overlap",
                            term.starts
                        ),
                    ));
                } else if term.starts < previous_term.ends {
                    problems.push(CalendarProblem::new(
                        at("starts"),
                        format!(
                            "{label} starts on {}, before {previous_label} ends on {}; terms must \
                             not overlap",
                            term.starts, previous_term.ends
                        ),
                    ));
                }
            }
            if well_formed {
                previous = Some((index, term));
            }

            if let Some(half_term) = &term.half_term {
                let at = |field: &str| format!("/terms/{index}/half_term/{field}");
                // Inclusive containment: a half term may touch the term's first or last day.
                if half_term.starts > half_term.ends {
                    problems.push(CalendarProblem::new(
                        at("ends"),
                        format!(
                            "the half term of {label} ends on {}, before it starts on {}; a half \
                             term cannot end before it starts",
                            half_term.ends, half_term.starts
                        ),
                    ));
                }
                if half_term.starts < term.starts || half_term.starts > term.ends {
                    problems.push(CalendarProblem::new(
                        at("starts"),
                        format!(
                            "the half term of {label} starts on {}, outside the term ({} to {}); \
                             a half term must lie inside its term",
                            half_term.starts, term.starts, term.ends
                        ),
                    ));
                }
                if half_term.ends < term.starts || half_term.ends > term.ends {
                    problems.push(CalendarProblem::new(
                        at("ends"),
                        format!(
                            "the half term of {label} ends on {}, outside the term ({} to {}); a \
                             half term must lie inside its term",
                            half_term.ends, term.starts, term.ends
                        ),
                    ));
                }
            }
        }

        let mut occurrences: HashMap<NaiveDate, usize> = HashMap::new();
        for closure in &self.closures {
            *occurrences.entry(*closure).or_default() += 1;
        }
        let mut seen_closures: HashSet<NaiveDate> = HashSet::new();
        for (index, closure) in self.closures.iter().enumerate() {
            let at = format!("/closures/{index}");
            if !year.contains(*closure) {
                problems.push(CalendarProblem::new(
                    at.clone(),
                    format!("closure {closure} is outside {year_span}"),
                ));
            }
            // Report the repeats, not the first listing, so the pointer is at the one to delete.
            if !seen_closures.insert(*closure) {
                let times = match occurrences.get(closure).copied().unwrap_or(2) {
                    2 => "twice".to_string(),
                    n => format!("{n} times"),
                };
                problems.push(CalendarProblem::new(
                    at,
                    format!("{closure} is listed {times}; list each closure once"),
                ));
            }
        }

        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// RULES.md R3.1: a weekday inside a term of this calendar's academic year, outside that term's
    /// half term and not a closure. Dates outside the academic year are never school days of this
    /// calendar (another year's calendar decides them).
    pub fn is_school_day(&self, date: NaiveDate) -> bool {
        is_weekday(date)
            && self.academic_year.contains(date)
            && self.terms.iter().any(|term| term.is_teaching_date(date))
            && !self.closures.contains(&date)
    }

    /// The number of school days in this calendar's academic year.
    pub fn count_school_days(&self) -> u32 {
        let year = self.academic_year;
        let count = days_inclusive(year.first_day(), year.last_day())
            .filter(|date| self.is_school_day(*date))
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    /// The teaching blocks of the year, in term order: for each term, the span before its half term
    /// and the span after it (a term without a half term is one block). Used for half-termly
    /// reviews (RULES.md R11.2). Empty spans (a half term touching the term's edge) are left out.
    pub fn teaching_blocks(&self) -> Vec<TeachingBlock> {
        let mut blocks = Vec::new();
        let mut push = |term: &Term, starts: Option<NaiveDate>, ends: Option<NaiveDate>| {
            if let (Some(starts), Some(ends)) = (starts, ends) {
                if starts <= ends {
                    blocks.push(TeachingBlock {
                        term: term.name.clone(),
                        starts,
                        ends,
                    });
                }
            }
        };
        for term in &self.terms {
            match &term.half_term {
                // An inverted half term holds no dates (see HalfTerm::contains), so it splits nothing.
                Some(half_term) if half_term.starts <= half_term.ends => {
                    let before_ends = half_term.starts.pred_opt().map(|d| min(d, term.ends));
                    let after_starts = half_term.ends.succ_opt().map(|d| d.max(term.starts));
                    push(term, Some(term.starts), before_ends);
                    push(term, after_starts, Some(term.ends));
                }
                _ => push(term, Some(term.starts), Some(term.ends)),
            }
        }
        blocks
    }
}

/// How a term is named in messages: by its name, or by position when it has none.
fn term_label(index: usize, term: &Term) -> String {
    if term.name.trim().is_empty() {
        format!("term {} (unnamed)", index + 1)
    } else {
        format!("term '{}'", term.name)
    }
}

fn is_weekday(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Every date from `first` to `last` inclusive (nothing when `last < first`).
fn days_inclusive(first: NaiveDate, last: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    first.iter_days().take_while(move |date| *date <= last)
}

/// Mondays to Fridays from `first` to `last` inclusive, by arithmetic so spans of any length are cheap.
fn weekdays_between(first: NaiveDate, last: NaiveDate) -> u64 {
    if last < first {
        return 0;
    }
    let days = last.signed_duration_since(first).num_days() + 1;
    let start = i64::from(first.weekday().num_days_from_monday());
    let leftover = (0..days % 7)
        .filter(|offset| (start + offset) % 7 < 5)
        .count() as i64;
    u64::try_from(days / 7 * 5 + leftover).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// The school calendar: every LA calendar known
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct LoadedYear {
    calendar: LaCalendar,
    /// Cached so searches can step over whole academic years (see `SchoolCalendar::walk`).
    school_days: u32,
}

/// The LA calendars known, by academic year. Years without a calendar count Monday to Friday as
/// school days (RULES.md R3.1).
#[derive(Clone, Debug, Default)]
pub struct SchoolCalendar {
    years: BTreeMap<AcademicYear, LoadedYear>,
}

#[derive(Clone, Copy)]
enum Direction {
    Forward,
    Backward,
}

impl SchoolCalendar {
    /// A school calendar from LA calendars; when two share an academic year the later one wins.
    /// Calendars are taken as given: validate them before storing them.
    pub fn new(calendars: Vec<LaCalendar>) -> SchoolCalendar {
        let mut school_calendar = SchoolCalendar::empty();
        for calendar in calendars {
            school_calendar.insert(calendar);
        }
        school_calendar
    }

    /// No calendars loaded: every Monday to Friday is a school day (RULES.md R3.1).
    pub fn empty() -> SchoolCalendar {
        SchoolCalendar {
            years: BTreeMap::new(),
        }
    }

    /// Loads (or replaces) the calendar of its academic year, returning the one it replaced.
    pub fn insert(&mut self, calendar: LaCalendar) -> Option<LaCalendar> {
        let school_days = calendar.count_school_days();
        self.years
            .insert(
                calendar.academic_year,
                LoadedYear {
                    calendar,
                    school_days,
                },
            )
            .map(|loaded| loaded.calendar)
    }

    /// The LA calendar loaded for `year`, if any.
    pub fn calendar_for(&self, year: AcademicYear) -> Option<&LaCalendar> {
        self.years.get(&year).map(|loaded| &loaded.calendar)
    }

    /// The loaded calendars in academic-year order.
    pub fn calendars(&self) -> impl Iterator<Item = &LaCalendar> {
        self.years.values().map(|loaded| &loaded.calendar)
    }

    /// RULES.md R3.1, using the calendar of the date's academic year, or Monday to Friday without one.
    pub fn is_school_day(&self, date: NaiveDate) -> bool {
        match self.calendar_for(AcademicYear::containing(date)) {
            Some(calendar) => calendar.is_school_day(date),
            None => is_weekday(date),
        }
    }

    /// The number of school days in an academic year.
    pub fn school_days_in_year(&self, year: AcademicYear) -> u32 {
        match self.years.get(&year) {
            Some(loaded) => loaded.school_days,
            None => saturate(weekdays_between(year.first_day(), year.last_day())),
        }
    }

    /// RULES.md R3.3: the Nth school day strictly after `date` (`date` is day 0, so `n == 0` gives
    /// `date` itself, school day or not).
    ///
    /// Whole academic years with fewer school days than still needed are stepped over using their
    /// cached count, so the search costs at most two partial years of day-by-day steps plus one
    /// step per year skipped. It always ends: a year with no school days is skipped in one step and
    /// only finitely many years have calendars (the rest have Mondays to Fridays). Should the count
    /// run past the last date chrono can represent, the result is `NaiveDate::MAX`.
    pub fn school_day_after(&self, date: NaiveDate, n: u32) -> NaiveDate {
        self.walk(date, n, Direction::Forward)
    }

    /// The Nth school day strictly before `date` (the mirror of [`SchoolCalendar::school_day_after`],
    /// e.g. for RULES.md R11.4 "10 school days before the gate"); `NaiveDate::MIN` if the count runs
    /// past the earliest representable date.
    pub fn school_day_before(&self, date: NaiveDate, n: u32) -> NaiveDate {
        self.walk(date, n, Direction::Backward)
    }

    /// RULES.md R3.3 "within N school days after D": the school days strictly after `after`, up to
    /// and including `up_to` (0 when `up_to` is not later than `after`).
    pub fn school_days_between(&self, after: NaiveDate, up_to: NaiveDate) -> u32 {
        if up_to <= after {
            return 0;
        }
        let Some(mut starts) = after.succ_opt() else {
            return 0;
        };
        let mut total: u64 = 0;
        // One academic year per step, so long spans stay cheap.
        loop {
            let year = AcademicYear::containing(starts);
            let ends = min(up_to, year.last_day());
            if ends < starts {
                break; // cannot happen for representable dates; guards the loop regardless
            }
            total += if starts == year.first_day() && ends == year.last_day() {
                u64::from(self.school_days_in_year(year))
            } else {
                self.school_days_in_part_of_year(year, starts, ends)
            };
            match ends.succ_opt() {
                Some(next) if ends < up_to => starts = next,
                _ => break,
            }
        }
        saturate(total)
    }

    /// `date` if it is a school day, otherwise the first school day after it.
    pub fn next_school_day_on_or_after(&self, date: NaiveDate) -> NaiveDate {
        if self.is_school_day(date) {
            date
        } else {
            self.school_day_after(date, 1)
        }
    }

    /// `date` if it is a school day, otherwise the last school day before it.
    pub fn previous_school_day_on_or_before(&self, date: NaiveDate) -> NaiveDate {
        if self.is_school_day(date) {
            date
        } else {
            self.school_day_before(date, 1)
        }
    }

    /// School days from `first` to `last` inclusive, both inside `year`.
    fn school_days_in_part_of_year(
        &self,
        year: AcademicYear,
        first: NaiveDate,
        last: NaiveDate,
    ) -> u64 {
        match self.calendar_for(year) {
            Some(calendar) => days_inclusive(first, last)
                .filter(|date| calendar.is_school_day(*date))
                .count() as u64,
            None => weekdays_between(first, last),
        }
    }

    fn walk(&self, from: NaiveDate, n: u32, direction: Direction) -> NaiveDate {
        let mut remaining = n;
        let mut day = from;
        while remaining > 0 {
            let stepped = match direction {
                Direction::Forward => day.succ_opt(),
                Direction::Backward => day.pred_opt(),
            };
            let Some(next) = stepped else {
                return match direction {
                    Direction::Forward => NaiveDate::MAX,
                    Direction::Backward => NaiveDate::MIN,
                };
            };
            let year = AcademicYear::containing(next);
            let (entry, exit) = match direction {
                Direction::Forward => (year.first_day(), year.last_day()),
                Direction::Backward => (year.last_day(), year.first_day()),
            };
            if next == entry {
                let in_year = self.school_days_in_year(year);
                if in_year < remaining {
                    remaining -= in_year;
                    day = exit;
                    continue;
                }
            }
            day = next;
            if self.is_school_day(day) {
                remaining -= 1;
            }
        }
        day
    }
}

fn saturate(count: u64) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------------------------
// A realistic calendar for demos and tests
// ---------------------------------------------------------------------------------------------

/// A date known at compile time (used with `const { .. }` so a typo fails the build, not a request).
const fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) => date,
        None => panic!("invalid hard-coded date"),
    }
}

/// Hertfordshire-style term dates for 2026-27, with the early May bank holiday as a closure.
/// 193 school days (see the test `hertfordshire_2026_27_has_193_school_days`).
pub fn hertfordshire_2026_27() -> LaCalendar {
    let term = |name: &str, starts, ends, half_starts, half_ends| Term {
        name: name.to_string(),
        starts,
        ends,
        half_term: Some(HalfTerm {
            starts: half_starts,
            ends: half_ends,
        }),
    };
    LaCalendar {
        academic_year: AcademicYear::new(2026),
        terms: vec![
            term(
                "autumn",
                const { ymd(2026, 9, 3) },
                const { ymd(2026, 12, 18) },
                const { ymd(2026, 10, 26) },
                const { ymd(2026, 10, 30) },
            ),
            term(
                "spring",
                const { ymd(2027, 1, 5) },
                const { ymd(2027, 3, 26) },
                const { ymd(2027, 2, 15) },
                const { ymd(2027, 2, 19) },
            ),
            term(
                "summer",
                const { ymd(2027, 4, 12) },
                const { ymd(2027, 7, 21) },
                const { ymd(2027, 5, 31) },
                const { ymd(2027, 6, 4) },
            ),
        ],
        // Early May bank holiday.
        closures: vec![const { ymd(2027, 5, 3) }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{Error as ValueError, StrDeserializer};
    use serde::de::IntoDeserializer;

    fn d(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).expect("valid test date")
    }

    fn herts() -> SchoolCalendar {
        SchoolCalendar::new(vec![hertfordshire_2026_27()])
    }

    /// 2027-28 with the autumn term starting on Monday 6 September 2027.
    fn calendar_2027_28() -> LaCalendar {
        LaCalendar {
            academic_year: AcademicYear::new(2027),
            terms: vec![
                Term {
                    name: "autumn".to_string(),
                    starts: d(2027, 9, 6),
                    ends: d(2027, 12, 17),
                    half_term: Some(HalfTerm {
                        starts: d(2027, 10, 25),
                        ends: d(2027, 10, 29),
                    }),
                },
                Term {
                    name: "spring".to_string(),
                    starts: d(2028, 1, 4),
                    ends: d(2028, 3, 31),
                    half_term: None,
                },
            ],
            closures: vec![],
        }
    }

    fn problems(calendar: &LaCalendar) -> Vec<CalendarProblem> {
        calendar.validate().expect_err("calendar should be refused")
    }

    fn pointers(calendar: &LaCalendar) -> Vec<String> {
        problems(calendar).into_iter().map(|p| p.pointer).collect()
    }

    fn only_problem(calendar: &LaCalendar) -> CalendarProblem {
        let mut found = problems(calendar);
        assert_eq!(found.len(), 1, "expected one problem, got {found:?}");
        found.remove(0)
    }

    // --- Academic years (RULES.md R3.2) -----------------------------------------------------

    #[test]
    fn academic_year_parses_the_written_form_and_displays_it_back() {
        let year = AcademicYear::parse("2025-26").unwrap();
        assert_eq!(year.start_year(), 2025);
        assert_eq!(year.to_string(), "2025-26");
        assert_eq!(
            "2026-27".parse::<AcademicYear>(),
            Ok(AcademicYear::new(2026))
        );
    }

    #[test]
    fn academic_year_1999_00_runs_from_1999_to_2000() {
        let year = AcademicYear::parse("1999-00").unwrap();
        assert_eq!(year.start_year(), 1999);
        assert_eq!(year.first_day(), d(1999, 9, 1));
        assert_eq!(year.last_day(), d(2000, 8, 31));
        assert_eq!(year.to_string(), "1999-00");
        assert_eq!(year.next().to_string(), "2000-01");
    }

    #[test]
    fn academic_year_with_the_wrong_second_year_is_refused_with_the_right_form() {
        assert_eq!(
            AcademicYear::parse("2026-28"),
            Err(
                "academic year should be written like 2026-27 (a year and the next year's last \
                 two digits), not 2026-28"
                    .to_string()
            )
        );
        assert_eq!(
            AcademicYear::parse("2025-27"),
            Err(
                "academic year should be written like 2025-26 (a year and the next year's last \
                 two digits), not 2025-27"
                    .to_string()
            )
        );
        assert!(AcademicYear::parse("1999-99").is_err());
    }

    #[test]
    fn academic_year_in_other_shapes_is_refused() {
        let message = AcademicYear::parse("2025-2026").unwrap_err();
        assert!(message.contains("like 2025-26"), "{message}");
        assert!(message.ends_with("not 2025-2026"), "{message}");

        let message = AcademicYear::parse("25-26").unwrap_err();
        assert!(message.contains("like 2026-27"), "{message}");
        assert!(message.ends_with("not 25-26"), "{message}");

        assert_eq!(
            AcademicYear::parse(""),
            Err(
                "academic year is empty; it should be written like 2026-27 (a year and the next \
                 year's last two digits)"
                    .to_string()
            )
        );
        for bad in [
            " 2025-26",
            "2025-26 ",
            "2025/26",
            "2025_26",
            "+025-26",
            "2025-2a",
            "２０２５-26",
            "2025-٢٦",
            "2025-26-27",
        ] {
            assert!(AcademicYear::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn academic_year_error_does_not_echo_long_input_in_full() {
        let message = AcademicYear::parse(&"x".repeat(1000)).unwrap_err();
        assert!(message.len() < 200, "{message}");
        assert!(message.ends_with("..."), "{message}");
    }

    #[test]
    fn academic_year_runs_from_1_september_to_31_august() {
        let year = AcademicYear::new(2026);
        assert_eq!(year.first_day(), d(2026, 9, 1));
        assert_eq!(year.last_day(), d(2027, 8, 31));
        assert_eq!(
            AcademicYear::containing(d(2026, 8, 31)),
            AcademicYear::new(2025)
        );
        assert_eq!(AcademicYear::containing(d(2026, 9, 1)), year);
        assert_eq!(AcademicYear::containing(d(2027, 1, 1)), year);
        assert_eq!(AcademicYear::containing(d(2027, 8, 31)), year);
        assert!(year.contains(d(2026, 9, 1)));
        assert!(year.contains(d(2027, 8, 31)));
        assert!(!year.contains(d(2026, 8, 31)));
        assert!(!year.contains(d(2027, 9, 1)));
        assert_eq!(year.next(), AcademicYear::new(2027));
        assert_eq!(year.previous(), AcademicYear::new(2025));
        assert!(year.previous() < year && year < year.next());
    }

    #[test]
    fn academic_year_deserializes_from_its_written_form() {
        let good: StrDeserializer<ValueError> = "2026-27".into_deserializer();
        assert_eq!(AcademicYear::deserialize(good), Ok(AcademicYear::new(2026)));

        let bad: StrDeserializer<ValueError> = "2026-28".into_deserializer();
        let message = AcademicYear::deserialize(bad).unwrap_err().to_string();
        assert!(message.contains("like 2026-27"), "{message}");
    }

    #[test]
    fn academic_year_out_of_chrono_range_does_not_panic() {
        let huge = AcademicYear::new(i32::MAX);
        assert_eq!(huge.first_day(), NaiveDate::MAX);
        assert_eq!(huge.last_day(), NaiveDate::MAX);
        assert_eq!(huge.next(), huge);
        assert_eq!(AcademicYear::new(i32::MIN).first_day(), NaiveDate::MIN);
    }

    // --- School-day counting (RULES.md R3.3) --------------------------------------------------

    #[test]
    fn zero_school_days_after_a_date_is_the_date_itself() {
        let none = SchoolCalendar::empty();
        let saturday = d(2026, 11, 21);
        assert_eq!(saturday.weekday(), Weekday::Sat);
        assert_eq!(none.school_day_after(saturday, 0), saturday);
        assert_eq!(
            herts().school_day_after(d(2026, 10, 28), 0),
            d(2026, 10, 28)
        );
        assert_eq!(none.school_day_before(saturday, 0), saturday);
    }

    #[test]
    fn the_first_school_day_after_a_friday_is_the_monday() {
        let none = SchoolCalendar::empty();
        assert_eq!(d(2026, 11, 20).weekday(), Weekday::Fri);
        assert_eq!(none.school_day_after(d(2026, 11, 20), 1), d(2026, 11, 23));
        // D need not be a school day: counting from Saturday, day 1 is Monday.
        assert_eq!(none.school_day_after(d(2026, 11, 21), 1), d(2026, 11, 23));
    }

    #[test]
    fn a_school_week_is_five_school_days() {
        let none = SchoolCalendar::empty();
        assert_eq!(d(2026, 11, 18).weekday(), Weekday::Wed);
        assert_eq!(none.school_day_after(d(2026, 11, 18), 5), d(2026, 11, 25));
        assert_eq!(none.school_day_after(d(2026, 11, 18), 30), d(2026, 12, 30));
        assert_eq!(
            none.school_days_between(d(2026, 11, 18), d(2026, 11, 25)),
            5
        );
    }

    #[test]
    fn within_counts_strictly_after_up_to_and_including_the_later_date() {
        let none = SchoolCalendar::empty();
        assert_eq!(
            none.school_days_between(d(2026, 11, 20), d(2026, 11, 20)),
            0
        );
        assert_eq!(
            none.school_days_between(d(2026, 11, 20), d(2026, 11, 22)),
            0
        );
        assert_eq!(
            none.school_days_between(d(2026, 11, 20), d(2026, 11, 23)),
            1
        );
        assert_eq!(
            none.school_days_between(d(2026, 11, 23), d(2026, 11, 20)),
            0
        );
    }

    #[test]
    fn r5_1_example_unexplained_absence_counts_without_a_calendar() {
        let none = SchoolCalendar::empty();
        let today = d(2026, 11, 23);
        assert_eq!(today.weekday(), Weekday::Mon);
        // An N of Friday 13 November: 16, 17, 18, 19, 20, 23 -> 6, more than 5: overdue.
        assert_eq!(none.school_days_between(d(2026, 11, 13), today), 6);
        // An N of Monday 16 November: 17, 18, 19, 20, 23 -> 5: not yet overdue.
        assert_eq!(none.school_days_between(d(2026, 11, 16), today), 5);
    }

    #[test]
    fn counting_forwards_and_back_agree() {
        let calendar = SchoolCalendar::new(vec![hertfordshire_2026_27(), calendar_2027_28()]);
        for start in [
            d(2026, 7, 1),
            d(2026, 10, 23),
            d(2027, 2, 13),
            d(2027, 7, 20),
        ] {
            for n in 0..=250 {
                let due = calendar.school_day_after(start, n);
                assert_eq!(calendar.school_days_between(start, due), n, "{start} + {n}");
                if n > 0 {
                    assert!(calendar.is_school_day(due), "{start} + {n} = {due}");
                    assert_eq!(calendar.school_day_before(due, n), {
                        // Going back n school days lands on the last school day on or before start.
                        calendar.previous_school_day_on_or_before(start)
                    });
                }
            }
        }
    }

    // --- Weekends, half terms, closures, holidays (RULES.md R3.1) -----------------------------

    #[test]
    fn weekends_are_never_school_days() {
        let calendar = herts();
        assert!(calendar.is_school_day(d(2026, 11, 20))); // Friday in the autumn term
        assert!(!calendar.is_school_day(d(2026, 11, 21))); // Saturday
        assert!(!calendar.is_school_day(d(2026, 11, 22))); // Sunday
        assert!(calendar.is_school_day(d(2026, 11, 23))); // Monday
        assert!(!SchoolCalendar::empty().is_school_day(d(2026, 11, 22)));
    }

    #[test]
    fn the_autumn_half_term_is_skipped() {
        let calendar = herts();
        for day in 26..=30 {
            assert!(!calendar.is_school_day(d(2026, 10, day)), "2026-10-{day}");
        }
        assert_eq!(d(2026, 10, 23).weekday(), Weekday::Fri);
        assert_eq!(
            calendar.school_day_after(d(2026, 10, 23), 1),
            d(2026, 11, 2)
        );
        // Thursday 22 October + 3: Friday 23, Monday 2 November, Tuesday 3 November.
        assert_eq!(
            calendar.school_day_after(d(2026, 10, 22), 3),
            d(2026, 11, 3)
        );
        assert_eq!(
            calendar.school_days_between(d(2026, 10, 23), d(2026, 11, 2)),
            1
        );
        // The same dates without a calendar: the half-term week counts.
        assert_eq!(
            SchoolCalendar::empty().school_day_after(d(2026, 10, 22), 3),
            d(2026, 10, 27)
        );
    }

    #[test]
    fn spring_and_summer_half_terms_are_skipped() {
        let calendar = herts();
        assert_eq!(calendar.school_day_after(d(2027, 2, 12), 1), d(2027, 2, 22));
        assert_eq!(calendar.school_day_after(d(2027, 5, 28), 1), d(2027, 6, 7));
    }

    #[test]
    fn a_closure_is_not_a_school_day() {
        let calendar = herts();
        let bank_holiday = d(2027, 5, 3);
        assert_eq!(bank_holiday.weekday(), Weekday::Mon);
        assert!(!calendar.is_school_day(bank_holiday));
        assert!(calendar.is_school_day(d(2027, 5, 4)));
        assert_eq!(calendar.school_day_after(d(2027, 4, 30), 1), d(2027, 5, 4));
        // Friday 30 April to Friday 7 May: Tuesday to Friday only.
        assert_eq!(
            calendar.school_days_between(d(2027, 4, 30), d(2027, 5, 7)),
            4
        );
    }

    #[test]
    fn the_christmas_holiday_is_skipped() {
        let calendar = herts();
        assert!(!calendar.is_school_day(d(2026, 12, 21)));
        assert!(!calendar.is_school_day(d(2027, 1, 4))); // Monday before the spring term
        assert_eq!(calendar.school_day_after(d(2026, 12, 18), 1), d(2027, 1, 5));
        assert_eq!(
            calendar.school_days_between(d(2026, 12, 18), d(2027, 1, 5)),
            1
        );
        assert_eq!(
            calendar.next_school_day_on_or_after(d(2026, 12, 25)),
            d(2027, 1, 5)
        );
        assert_eq!(
            calendar.previous_school_day_on_or_before(d(2026, 12, 25)),
            d(2026, 12, 18)
        );
    }

    #[test]
    fn days_before_the_first_term_are_not_school_days() {
        let calendar = herts();
        assert!(!calendar.is_school_day(d(2026, 9, 1))); // Tuesday, 2026-27, before term
        assert!(!calendar.is_school_day(d(2026, 9, 2)));
        assert_eq!(calendar.school_day_after(d(2026, 9, 1), 1), d(2026, 9, 3));
        // Monday 31 August 2026 belongs to 2025-26, which has no calendar: Monday to Friday.
        assert!(calendar.is_school_day(d(2026, 8, 31)));
        assert_eq!(
            calendar.previous_school_day_on_or_before(d(2026, 9, 2)),
            d(2026, 8, 31)
        );
    }

    #[test]
    fn next_and_previous_school_days() {
        let calendar = herts();
        assert_eq!(
            calendar.next_school_day_on_or_after(d(2026, 11, 20)),
            d(2026, 11, 20)
        );
        assert_eq!(
            calendar.next_school_day_on_or_after(d(2026, 11, 21)),
            d(2026, 11, 23)
        );
        assert_eq!(
            calendar.previous_school_day_on_or_before(d(2026, 11, 21)),
            d(2026, 11, 20)
        );
        assert_eq!(
            calendar.next_school_day_on_or_after(d(2026, 10, 28)),
            d(2026, 11, 2)
        );
        assert_eq!(
            calendar.previous_school_day_on_or_before(d(2026, 10, 28)),
            d(2026, 10, 23)
        );
        assert_eq!(
            calendar.school_day_before(d(2026, 11, 2), 1),
            d(2026, 10, 23)
        );
        assert_eq!(
            SchoolCalendar::empty().school_day_before(d(2026, 11, 23), 5),
            d(2026, 11, 16)
        );
    }

    // --- Academic-year boundaries and missing calendars ---------------------------------------

    #[test]
    fn from_july_into_september_without_a_calendar_for_the_next_year() {
        let calendar = herts();
        assert_eq!(calendar.school_day_after(d(2027, 7, 20), 1), d(2027, 7, 21));
        // After the summer term: the rest of July and August are 2026-27 holidays...
        assert!(!calendar.is_school_day(d(2027, 7, 22)));
        assert!(!calendar.is_school_day(d(2027, 8, 2))); // a Monday
                                                         // ...and 2027-28 has no calendar, so Wednesday 1 September 2027 counts (Monday to Friday).
        assert_eq!(d(2027, 9, 1).weekday(), Weekday::Wed);
        assert_eq!(calendar.school_day_after(d(2027, 7, 20), 2), d(2027, 9, 1));
        // 21 July, then 1, 2, 3 September.
        assert_eq!(
            calendar.school_days_between(d(2027, 7, 20), d(2027, 9, 3)),
            4
        );
        // 21 July, then 1-3 and 6-10 September.
        assert_eq!(
            calendar.school_days_between(d(2027, 7, 20), d(2027, 9, 10)),
            9
        );
    }

    #[test]
    fn from_july_into_september_with_a_calendar_for_the_next_year() {
        let calendar = SchoolCalendar::new(vec![hertfordshire_2026_27(), calendar_2027_28()]);
        assert!(!calendar.is_school_day(d(2027, 9, 1)));
        assert_eq!(calendar.school_day_after(d(2027, 7, 20), 2), d(2027, 9, 6));
        // 21 July, then Monday 6 to Friday 10 September.
        assert_eq!(
            calendar.school_days_between(d(2027, 7, 20), d(2027, 9, 10)),
            6
        );
    }

    #[test]
    fn with_no_calendar_at_all_every_weekday_counts_including_august() {
        let none = SchoolCalendar::empty();
        assert!(none.is_school_day(d(2027, 8, 2)));
        assert!(none.is_school_day(d(2026, 12, 25))); // a Friday: no calendar, no holiday
        assert_eq!(none.school_day_after(d(2027, 7, 20), 2), d(2027, 7, 22));
        assert_eq!(none.calendar_for(AcademicYear::new(2026)), None);
    }

    #[test]
    fn two_hundred_school_days_from_july_cross_the_summer_holiday() {
        let calendar = herts();
        // From Wednesday 1 July 2026 (2025-26, no calendar): 22 weekdays left in July and 21 in
        // August make 43; then 157 of 2026-27: autumn 72 + spring 54 = 126, and the 31st school
        // day of the summer term is Tuesday 25 May 2027 (Monday 3 May is a closure).
        assert_eq!(
            calendar.school_day_after(d(2026, 7, 1), 200),
            d(2027, 5, 25)
        );
        assert_eq!(
            calendar.school_day_after(d(2026, 9, 2), 193),
            d(2027, 7, 21)
        );
        assert_eq!(calendar.school_day_after(d(2026, 9, 2), 194), d(2027, 9, 1));
        assert_eq!(
            calendar.school_days_between(d(2026, 8, 31), d(2027, 8, 31)),
            193
        );
    }

    #[test]
    fn a_year_with_no_school_days_is_passed_over() {
        let no_terms = |start_year| LaCalendar {
            academic_year: AcademicYear::new(start_year),
            terms: vec![],
            closures: vec![],
        };
        let calendar = SchoolCalendar::new(vec![no_terms(2026)]);
        assert_eq!(calendar.school_days_in_year(AcademicYear::new(2026)), 0);
        assert_eq!(calendar.school_day_after(d(2026, 10, 1), 1), d(2027, 9, 1));
        assert_eq!(
            calendar.previous_school_day_on_or_before(d(2027, 6, 1)),
            d(2026, 8, 31)
        );
        assert_eq!(
            calendar.school_days_between(d(2026, 8, 31), d(2027, 9, 1)),
            1
        );

        let calendar = SchoolCalendar::new(vec![no_terms(2026), no_terms(2027), no_terms(2028)]);
        assert_eq!(d(2029, 9, 1).weekday(), Weekday::Sat);
        assert_eq!(calendar.school_day_after(d(2026, 10, 1), 1), d(2029, 9, 3));
    }

    #[test]
    fn absurd_counts_end_at_the_edge_of_the_representable_dates() {
        let calendar = herts();
        assert_eq!(
            calendar.school_day_after(d(2026, 1, 1), u32::MAX),
            NaiveDate::MAX
        );
        assert_eq!(
            calendar.school_day_before(d(2026, 1, 1), u32::MAX),
            NaiveDate::MIN
        );
        assert!(calendar.school_days_between(NaiveDate::MIN, NaiveDate::MAX) > 100_000_000);
        assert_eq!(
            calendar.next_school_day_on_or_after(NaiveDate::MAX),
            NaiveDate::MAX
        );
        assert_eq!(
            calendar.previous_school_day_on_or_before(NaiveDate::MIN),
            NaiveDate::MIN
        );
    }

    #[test]
    fn the_latest_calendar_for_a_year_wins() {
        let mut replacement = hertfordshire_2026_27();
        replacement.closures.push(d(2026, 11, 23));
        let mut calendar = SchoolCalendar::new(vec![hertfordshire_2026_27(), replacement.clone()]);
        assert!(!calendar.is_school_day(d(2026, 11, 23)));
        assert_eq!(
            calendar.calendar_for(AcademicYear::new(2026)),
            Some(&replacement)
        );
        assert_eq!(calendar.school_days_in_year(AcademicYear::new(2026)), 192);
        assert_eq!(calendar.insert(hertfordshire_2026_27()), Some(replacement));
        assert!(calendar.is_school_day(d(2026, 11, 23)));
        assert_eq!(calendar.calendars().count(), 1);
    }

    // --- The Hertfordshire calendar and teaching blocks --------------------------------------

    #[test]
    fn hertfordshire_2026_27_has_193_school_days() {
        let calendar = hertfordshire_2026_27();
        assert_eq!(calendar.validate(), Ok(()));
        // By hand: autumn Thu 3 Sep - Fri 18 Dec is 2 + 15 weeks (75) less half term (5) = 72;
        // spring Tue 5 Jan - Fri 26 Mar is 4 + 11 weeks (55) less half term (5) = 54;
        // summer Mon 12 Apr - Wed 21 Jul is 14 weeks (70) + 3 less half term (5) less the
        // 3 May bank holiday = 67. Total 193.
        let school = herts();
        assert_eq!(
            school.school_days_between(d(2026, 9, 2), d(2026, 12, 18)),
            72
        );
        assert_eq!(
            school.school_days_between(d(2027, 1, 4), d(2027, 3, 26)),
            54
        );
        assert_eq!(
            school.school_days_between(d(2027, 4, 11), d(2027, 7, 21)),
            67
        );
        assert_eq!(calendar.count_school_days(), 193);
        assert_eq!(school.school_days_in_year(AcademicYear::new(2026)), 193);
        // Without a calendar the same year has 261 weekdays.
        assert_eq!(
            SchoolCalendar::empty().school_days_in_year(AcademicYear::new(2026)),
            261
        );
    }

    #[test]
    fn teaching_blocks_are_the_spans_either_side_of_each_half_term() {
        let block = |term: &str, starts, ends| TeachingBlock {
            term: term.to_string(),
            starts,
            ends,
        };
        assert_eq!(
            hertfordshire_2026_27().teaching_blocks(),
            vec![
                block("autumn", d(2026, 9, 3), d(2026, 10, 25)),
                block("autumn", d(2026, 10, 31), d(2026, 12, 18)),
                block("spring", d(2027, 1, 5), d(2027, 2, 14)),
                block("spring", d(2027, 2, 20), d(2027, 3, 26)),
                block("summer", d(2027, 4, 12), d(2027, 5, 30)),
                block("summer", d(2027, 6, 5), d(2027, 7, 21)),
            ]
        );
        assert_eq!(
            calendar_2027_28().teaching_blocks()[2],
            block("spring", d(2028, 1, 4), d(2028, 3, 31))
        );
    }

    #[test]
    fn a_half_term_touching_the_start_of_its_term_leaves_one_block() {
        let mut calendar = hertfordshire_2026_27();
        calendar.terms[0].half_term = Some(HalfTerm {
            starts: d(2026, 9, 3),
            ends: d(2026, 9, 4),
        });
        assert_eq!(calendar.validate(), Ok(()));
        assert_eq!(
            calendar.teaching_blocks()[0],
            TeachingBlock {
                term: "autumn".to_string(),
                starts: d(2026, 9, 5),
                ends: d(2026, 12, 18),
            }
        );
        assert!(!calendar.is_school_day(d(2026, 9, 3)));
    }

    // --- Validation --------------------------------------------------------------------------

    #[test]
    fn a_calendar_needs_a_term() {
        let calendar = LaCalendar {
            academic_year: AcademicYear::new(2026),
            terms: vec![],
            closures: vec![],
        };
        assert_eq!(
            only_problem(&calendar),
            CalendarProblem {
                pointer: "/terms".to_string(),
                message: "the calendar for 2026-27 has no terms; give at least one term with its \
                          name, start date and end date"
                    .to_string(),
            }
        );
    }

    #[test]
    fn a_term_needs_a_name_of_its_own() {
        let mut calendar = hertfordshire_2026_27();
        calendar.terms[0].name = "  ".to_string();
        let problem = only_problem(&calendar);
        assert_eq!(problem.pointer, "/terms/0/name");
        assert_eq!(
            problem.message,
            "term 1 (unnamed) needs a name, such as 'autumn'"
        );

        let mut calendar = hertfordshire_2026_27();
        calendar.terms[1].name = "Autumn".to_string();
        let problem = only_problem(&calendar);
        assert_eq!(problem.pointer, "/terms/1/name");
        assert_eq!(
            problem.message,
            "term name 'Autumn' is used more than once; each term needs its own name"
        );
    }

    #[test]
    fn a_term_cannot_end_before_it_starts() {
        let mut calendar = hertfordshire_2026_27();
        calendar.terms[0].half_term = None;
        calendar.terms[0].ends = d(2026, 9, 1);
        let problem = only_problem(&calendar);
        assert_eq!(problem.pointer, "/terms/0/ends");
        assert_eq!(
            problem.message,
            "term 'autumn' ends on 2026-09-01, before it starts on 2026-09-03; a term cannot end \
             before it starts"
        );
    }

    #[test]
    fn terms_must_lie_inside_the_academic_year() {
        let mut calendar = hertfordshire_2026_27();
        calendar.terms[0].starts = d(2026, 8, 28);
        calendar.terms[2].ends = d(2027, 9, 2);
        let found = problems(&calendar);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].pointer, "/terms/0/starts");
        assert_eq!(
            found[0].message,
            "term 'autumn' starts on 2026-08-28, outside academic year 2026-27 (2026-09-01 to \
             2027-08-31)"
        );
        assert_eq!(found[1].pointer, "/terms/2/ends");
    }

    #[test]
    fn terms_must_be_in_date_order() {
        let mut calendar = hertfordshire_2026_27();
        calendar.terms.swap(0, 1);
        let problem = only_problem(&calendar);
        assert_eq!(problem.pointer, "/terms/1/starts");
        assert_eq!(
            problem.message,
            "term 'autumn' starts on 2026-09-03, before term 'spring' (listed before it) starts \
             on 2027-01-05; list terms in date order"
        );
    }

    #[test]
    fn terms_must_not_overlap() {
        let mut calendar = hertfordshire_2026_27();
        calendar.terms[0].ends = d(2027, 1, 5);
        calendar.terms[1].starts = d(2027, 1, 4);
        let problem = only_problem(&calendar);
        assert_eq!(problem.pointer, "/terms/1/starts");
        assert_eq!(
            problem.message,
            "term 'spring' starts on 2027-01-04, before term 'autumn' ends on 2027-01-05; terms \
             must not overlap"
        );

        calendar.terms[1].starts = d(2027, 1, 5);
        let problem = only_problem(&calendar);
        assert_eq!(problem.pointer, "/terms/1/starts");
        assert_eq!(
            problem.message,
            "term 'spring' starts on 2027-01-05, the day term 'autumn' ends; terms must not overlap"
        );
    }

    #[test]
    fn a_half_term_must_be_in_order_and_inside_its_term() {
        let with_half_term = |starts, ends| {
            let mut calendar = hertfordshire_2026_27();
            calendar.terms[0].half_term = Some(HalfTerm { starts, ends });
            calendar
        };

        let problem = only_problem(&with_half_term(d(2026, 10, 30), d(2026, 10, 26)));
        assert_eq!(problem.pointer, "/terms/0/half_term/ends");
        assert_eq!(
            problem.message,
            "the half term of term 'autumn' ends on 2026-10-26, before it starts on 2026-10-30; \
             a half term cannot end before it starts"
        );

        let problem = only_problem(&with_half_term(d(2026, 9, 1), d(2026, 9, 4)));
        assert_eq!(problem.pointer, "/terms/0/half_term/starts");
        assert_eq!(
            problem.message,
            "the half term of term 'autumn' starts on 2026-09-01, outside the term (2026-09-03 \
             to 2026-12-18); a half term must lie inside its term"
        );

        let problem = only_problem(&with_half_term(d(2026, 12, 14), d(2026, 12, 21)));
        assert_eq!(problem.pointer, "/terms/0/half_term/ends");

        // Touching the term's last day is allowed.
        assert_eq!(
            with_half_term(d(2026, 12, 14), d(2026, 12, 18)).validate(),
            Ok(())
        );
    }

    #[test]
    fn closures_must_be_in_the_year_and_listed_once() {
        let mut calendar = hertfordshire_2026_27();
        calendar.closures = vec![d(2026, 8, 31), d(2026, 12, 25), d(2026, 12, 25)];
        let found = problems(&calendar);
        assert_eq!(
            found,
            vec![
                CalendarProblem {
                    pointer: "/closures/0".to_string(),
                    message: "closure 2026-08-31 is outside academic year 2026-27 (2026-09-01 to \
                              2027-08-31)"
                        .to_string(),
                },
                CalendarProblem {
                    pointer: "/closures/2".to_string(),
                    message: "2026-12-25 is listed twice; list each closure once".to_string(),
                },
            ]
        );

        calendar.closures = vec![d(2027, 5, 3), d(2027, 5, 3), d(2027, 5, 3)];
        let found = problems(&calendar);
        assert_eq!(
            found.iter().map(|p| p.pointer.as_str()).collect::<Vec<_>>(),
            ["/closures/1", "/closures/2"]
        );
        assert_eq!(
            found[0].message,
            "2027-05-03 is listed 3 times; list each closure once"
        );
    }

    #[test]
    fn closures_on_weekends_or_in_holidays_are_harmless() {
        let mut calendar = hertfordshire_2026_27();
        calendar.closures.push(d(2026, 10, 28)); // half term
        calendar.closures.push(d(2026, 11, 21)); // Saturday
        assert_eq!(calendar.validate(), Ok(()));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let term = |name: &str, starts, ends, half_term| Term {
            name: name.to_string(),
            starts,
            ends,
            half_term,
        };
        let calendar = LaCalendar {
            academic_year: AcademicYear::new(2026),
            terms: vec![
                term(
                    " ",
                    d(2026, 8, 20),
                    d(2026, 12, 18),
                    Some(HalfTerm {
                        starts: d(2026, 12, 21),
                        ends: d(2026, 12, 22),
                    }),
                ),
                term("spring", d(2026, 12, 10), d(2027, 3, 26), None),
                term("SPRING", d(2027, 4, 12), d(2027, 4, 1), None),
                term("summer", d(2027, 4, 20), d(2027, 9, 3), None),
            ],
            closures: vec![d(2027, 9, 1), d(2026, 12, 25), d(2026, 12, 25)],
        };
        assert_eq!(
            pointers(&calendar),
            [
                "/terms/0/name",
                "/terms/0/starts",
                "/terms/0/half_term/starts",
                "/terms/0/half_term/ends",
                "/terms/1/starts",
                "/terms/2/name",
                "/terms/2/ends",
                "/terms/3/ends",
                "/closures/0",
                "/closures/2",
            ]
        );
        assert_eq!(
            problems(&calendar)[4].message,
            "term 'spring' starts on 2026-12-10, before term 1 (unnamed) ends on 2026-12-18; \
             terms must not overlap"
        );
    }

    #[test]
    fn a_term_spilling_outside_its_year_gives_no_school_days_there() {
        let mut calendar = hertfordshire_2026_27();
        calendar.terms[0].starts = d(2026, 8, 24);
        assert!(!calendar.is_school_day(d(2026, 8, 27)));
        assert!(calendar.is_school_day(d(2026, 9, 3)));
    }
}
