//! The attendance state kept up to date on every register push (issue 4 "Incremental maintenance";
//! ARCHITECTURE.md "Counters that alerts need ... are maintained"): per pupil, school and academic
//! year, the code counts behind the R2 measures, the R4.3 illness runs and the R4.4 sickness-return
//! point, so neither a pupil summary nor the alert worklist rescans a year of marks.
//!
//! A tally is only ever built by [`PupilTally::append`], one mark at a time in register order.
//! The nightly push appends the day's marks to the stored tally; a push that changes or fills in
//! an older session rebuilds the pupil's tally from the register with the same function
//! ([`PupilTally::from_register`]). Both paths therefore give the same numbers by construction, and
//! the tests below check the result against the batch rules of `attendance.rs`.

use std::fmt;

use chrono::NaiveDate;

use super::attendance::{
    in_register_order, sessions_to_days, AttendanceMeasures, AttendancePolicy, IllnessRun,
    MeasureCounts, SessionMark, UNAUTHORISED_NOTICE_SESSIONS,
};
use super::calendar::{AcademicYear, SchoolCalendar};
use super::codes::{CodeCategory, Session};

/// The days of one academic year on which a pupil has at least one mark: the evidence for "days
/// without marks" (R4.3), kept exactly so it can be set against any calendar when read.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct MarkedDays {
    /// Bit `n` is the `n`th day after 1 September (a year has at most 366 days).
    bits: [u64; 6],
}

impl MarkedDays {
    fn offset(year: AcademicYear, date: NaiveDate) -> Option<usize> {
        let days = (date - year.first_day()).num_days();
        usize::try_from(days).ok().filter(|days| *days < 366)
    }

    pub fn insert(&mut self, year: AcademicYear, date: NaiveDate) {
        if let Some(n) = Self::offset(year, date) {
            self.bits[n / 64] |= 1 << (n % 64);
        }
    }

    pub fn contains(&self, year: AcademicYear, date: NaiveDate) -> bool {
        Self::offset(year, date).is_some_and(|n| self.bits[n / 64] & (1 << (n % 64)) != 0)
    }

    /// The marked days, oldest first.
    pub fn dates(&self, year: AcademicYear) -> impl Iterator<Item = NaiveDate> + '_ {
        let first = year.first_day();
        (0..366u64).filter_map(move |n| {
            let n_usize = usize::try_from(n).ok()?;
            (self.bits[n_usize / 64] & (1 << (n_usize % 64)) != 0)
                .then(|| first.checked_add_days(chrono::Days::new(n)))
                .flatten()
        })
    }

    pub fn count(&self) -> u32 {
        self.bits.iter().map(|word| word.count_ones()).sum()
    }

    /// Adds the days marked in `other` (the same pupil's register at another school).
    pub fn union_with(&mut self, other: &MarkedDays) {
        for (word, theirs) in self.bits.iter_mut().zip(other.bits) {
            *word |= theirs;
        }
    }

    /// The first and last marked day.
    pub fn span(&self, year: AcademicYear) -> Option<(NaiveDate, NaiveDate)> {
        let mut dates = self.dates(year);
        let first = dates.next()?;
        Some((first, dates.last().unwrap_or(first)))
    }

    /// School days from the first to the last marked day with no mark at all (the
    /// `days_without_marks` fact of R4.3), against the calendar as it is when asked.
    pub fn school_days_without_marks(&self, year: AcademicYear, calendar: &SchoolCalendar) -> u32 {
        let mut dates = self.dates(year);
        let Some(first) = dates.next() else {
            return 0;
        };
        let mut last = first;
        let mut marked_school_days = u32::from(calendar.is_school_day(first));
        for date in dates {
            last = date;
            marked_school_days += u32::from(calendar.is_school_day(date));
        }
        calendar
            .school_days_between(first, last)
            .saturating_add(u32::from(calendar.is_school_day(first)))
            .saturating_sub(marked_school_days)
    }
}

impl fmt::Debug for MarkedDays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MarkedDays({} days)", self.count())
    }
}

impl MarkedDays {
    /// The days as bytes, day 0 in the lowest bit of the first byte, trailing empty bytes left
    /// off (early in the year most of the 46 bytes are empty).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes: Vec<u8> = self
            .bits
            .iter()
            .flat_map(|word| word.to_le_bytes())
            .collect();
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        bytes
    }

    /// The inverse of [`MarkedDays::to_bytes`]; `None` for more bytes than a year has.
    pub fn from_bytes(bytes: &[u8]) -> Option<MarkedDays> {
        if bytes.len() > 48 {
            return None;
        }
        let mut padded = [0u8; 48];
        padded[..bytes.len()].copy_from_slice(bytes);
        let mut bits = [0u64; 6];
        for (word, chunk) in bits.iter_mut().zip(padded.chunks_exact(8)) {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(chunk);
            *word = u64::from_le_bytes(eight);
        }
        Some(MarkedDays { bits })
    }
}

/// One pupil's maintained attendance at one school for one academic year.
#[derive(Debug, Clone, PartialEq)]
pub struct YearTally {
    pub year: AcademicYear,
    /// Sessions per code in the year (R2.1 measures follow from these).
    pub counts: MeasureCounts,
    /// The latest session with a mark, any code.
    pub latest: Option<(NaiveDate, Session)>,
    pub marked_days: MarkedDays,
    /// The illness run containing the pupil's latest possible session, carried over from the
    /// previous year when it is still open (R4.3: runs are not cut at the year boundary).
    pub open_run: Option<IllnessRun>,
    /// The longest run with sessions in this year as the register stood at the year's end: a run
    /// carried in from July counts in full, one still open on 31 August counts up to then;
    /// the earliest one when runs tie (R4.3).
    pub longest_run: Option<IllnessRun>,
    /// The session at which cumulative illness in the year first reached the policy's sickness
    /// return threshold (R4.4).
    pub sickness_return_reached: Option<(NaiveDate, Session)>,
    /// Unauthorised sessions in a row up to the pupil's latest possible session, carried over
    /// from the previous year as illness runs are (R16.1 counts runs as R4.3 does).
    pub unauthorised_run: u32,
    /// The session at which the 10-day unauthorised absence notice was reached in the year
    /// (R16.1: 20 unauthorised sessions in the year, or 20 in a row).
    pub unauthorised_notice_reached: Option<(NaiveDate, Session)>,
}

impl YearTally {
    fn new(
        year: AcademicYear,
        carried_run: Option<IllnessRun>,
        carried_unauthorised: u32,
    ) -> YearTally {
        YearTally {
            year,
            counts: MeasureCounts::new(),
            latest: None,
            marked_days: MarkedDays::default(),
            open_run: carried_run,
            longest_run: None,
            sickness_return_reached: None,
            unauthorised_run: carried_unauthorised,
            unauthorised_notice_reached: None,
        }
    }

    /// Unauthorised sessions (`G`, `N`, `O`, `U`) in the year (R16.1).
    pub fn unauthorised_sessions(&self) -> u32 {
        self.counts.count(CodeCategory::UnauthorisedAbsence)
    }

    /// The R2 measures of the year to date.
    pub fn measures(&self, policy: &AttendancePolicy) -> AttendanceMeasures {
        self.counts
            .to_measures(policy.min_possible_sessions_for_flags)
    }

    /// Illness sessions in the year (R4.1, R4.2).
    pub fn illness_sessions(&self, policy: &AttendancePolicy) -> u32 {
        self.counts.count_of(&policy.illness_codes)
    }

    pub fn illness_days(&self, policy: &AttendancePolicy) -> f64 {
        sessions_to_days(self.illness_sessions(policy))
    }

    pub fn current_streak_days(&self) -> f64 {
        self.open_run.map_or(0.0, |run| run.days())
    }

    pub fn longest_streak_days(&self) -> f64 {
        self.longest_run.map_or(0.0, |run| run.days())
    }

    /// School days from the first to the last marked day of the year with no mark at all (the
    /// `days_without_marks` fact of R4.3), against the calendar as it is now.
    pub fn days_without_marks(&self, calendar: &SchoolCalendar) -> u32 {
        self.marked_days
            .school_days_without_marks(self.year, calendar)
    }

    fn append(&mut self, mark: SessionMark, policy: &AttendancePolicy) {
        self.counts.add(mark.code);
        self.latest = Some(mark.slot());
        self.marked_days.insert(self.year, mark.date);
        if policy.illness_codes.contains(&mark.code) {
            let run = match self.open_run {
                Some(mut run) => {
                    run.last = mark.slot();
                    run.sessions = run.sessions.saturating_add(1);
                    run
                }
                None => IllnessRun {
                    first: mark.slot(),
                    last: mark.slot(),
                    sessions: 1,
                },
            };
            self.open_run = Some(run);
            // Strictly longer replaces, so the earliest of equal runs stays (as `illness` does).
            if self
                .longest_run
                .is_none_or(|longest| run.sessions > longest.sessions)
            {
                self.longest_run = Some(run);
            }
            if self.sickness_return_reached.is_none() {
                // Compared in half days so 15 days is exactly 30 sessions (R4.4).
                let sessions = f64::from(self.illness_sessions(policy));
                if sessions >= policy.sickness_return_days * 2.0 {
                    self.sickness_return_reached = Some(mark.slot());
                }
            }
        } else if mark.code.category().counts_as_possible() {
            self.open_run = None;
        }
        // R16.1: the unauthorised run as R4.3 counts runs, and the session that reached either
        // threshold.
        let category = mark.code.category();
        if category == CodeCategory::UnauthorisedAbsence {
            self.unauthorised_run = self.unauthorised_run.saturating_add(1);
            if self.unauthorised_notice_reached.is_none()
                && (self.unauthorised_sessions() >= UNAUTHORISED_NOTICE_SESSIONS
                    || self.unauthorised_run >= UNAUTHORISED_NOTICE_SESSIONS)
            {
                self.unauthorised_notice_reached = Some(mark.slot());
            }
        } else if category.counts_as_possible() {
            self.unauthorised_run = 0;
        }
    }
}

/// All of one pupil's tallies at one school, oldest year first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PupilTally {
    pub years: Vec<YearTally>,
}

impl PupilTally {
    /// The tally of a pupil's whole register at one school (any order; the later of two marks for
    /// one session wins, as in `attendance.rs`).
    pub fn from_register(marks: &[SessionMark], policy: &AttendancePolicy) -> PupilTally {
        let mut tally = PupilTally::default();
        for mark in in_register_order(marks) {
            tally.append(mark, policy);
        }
        tally
    }

    /// The latest session tallied.
    pub fn latest(&self) -> Option<(NaiveDate, Session)> {
        self.years.last().and_then(|year| year.latest)
    }

    /// Whether `slot` comes after everything tallied, so it can be appended: a new session at the
    /// end of the register (the nightly push), not a change to one already counted.
    pub fn follows(&self, slot: (NaiveDate, Session)) -> bool {
        self.latest().is_none_or(|latest| slot > latest)
    }

    /// Counts one more session. The caller makes sure it [`follows`](Self::follows) every session
    /// tallied; a mark out of order would be counted wrongly, so it is the caller's rebuild case.
    pub fn append(&mut self, mark: SessionMark, policy: &AttendancePolicy) {
        let year = AcademicYear::containing(mark.date);
        let needs_year = self.years.last().is_none_or(|last| last.year < year);
        if needs_year {
            let carried = self.years.last().and_then(|last| last.open_run);
            let unauthorised = self.years.last().map_or(0, |last| last.unauthorised_run);
            self.years.push(YearTally::new(year, carried, unauthorised));
        }
        if let Some(last) = self.years.last_mut() {
            last.append(mark, policy);
        }
    }

    pub fn year(&self, year: AcademicYear) -> Option<&YearTally> {
        self.years.iter().find(|tally| tally.year == year)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::attendance::{
        illness, illness_runs, measures, sickness_return_reached, unauthorised_notice_reached,
    };
    use crate::domain::calendar::hertfordshire_2026_27;
    use crate::domain::codes::AttendanceCode;
    use chrono::{Datelike, Days, Weekday};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn mark(day: &str, session: Session, code: &str) -> SessionMark {
        SessionMark::new(date(day), session, AttendanceCode::parse(code).unwrap())
    }

    #[test]
    fn rules_example_r4_3_run_over_a_closure() {
        // Mon AM I, Mon PM I, Tue # #, Wed AM I, Wed PM / -> a run of 3 sessions, 1.5 days.
        let marks = [
            mark("2026-11-16", Session::Am, "I"),
            mark("2026-11-16", Session::Pm, "I"),
            mark("2026-11-17", Session::Am, "#"),
            mark("2026-11-17", Session::Pm, "#"),
            mark("2026-11-18", Session::Am, "I"),
            mark("2026-11-18", Session::Pm, "/"),
        ];
        let tally = PupilTally::from_register(&marks, &AttendancePolicy::default());
        let year = &tally.years[0];
        assert_eq!(year.longest_streak_days(), 1.5);
        assert_eq!(year.current_streak_days(), 0.0);
        assert_eq!(year.illness_days(&AttendancePolicy::default()), 1.5);
    }

    #[test]
    fn rules_example_r2_3_measures() {
        // 40 possible sessions with 4 I, 1 O, 1 # -> 12.5% absence, persistent, not severe.
        let mut marks = Vec::new();
        let mut day = date("2026-09-07");
        let mut codes: Vec<&str> = vec!["I"; 4];
        codes.push("O");
        codes.extend(vec!["/"; 35]);
        codes.push("#");
        let mut sessions = codes.into_iter();
        while let Some(am) = sessions.next() {
            marks.push(mark(&day.to_string(), Session::Am, am));
            if let Some(pm) = sessions.next() {
                marks.push(mark(&day.to_string(), Session::Pm, pm));
            }
            day = next_weekday(day);
        }
        let tally = PupilTally::from_register(&marks, &AttendancePolicy::default());
        let measures = tally.years[0].measures(&AttendancePolicy::default());
        assert_eq!(measures.possible_sessions, 40);
        assert_eq!(measures.absence_rate, 12.5);
        assert!(measures.persistent_absence);
        assert!(!measures.severe_absence);
    }

    #[test]
    fn a_run_open_in_july_carries_into_september_and_counts_in_full() {
        let marks = [
            mark("2026-07-16", Session::Am, "/"),
            mark("2026-07-16", Session::Pm, "I"),
            mark("2026-07-17", Session::Am, "I"),
            mark("2026-07-17", Session::Pm, "I"),
            mark("2026-09-03", Session::Am, "I"),
            mark("2026-09-03", Session::Pm, "I"),
        ];
        let policy = AttendancePolicy::default();
        let tally = PupilTally::from_register(&marks, &policy);
        assert_eq!(tally.years.len(), 2);
        let september = tally.year(AcademicYear::new(2026)).unwrap();
        // Five sessions in one run; but only two of them are illness in the new year.
        assert_eq!(september.current_streak_days(), 2.5);
        assert_eq!(september.longest_streak_days(), 2.5);
        assert_eq!(september.illness_days(&policy), 1.0);
        assert_eq!(
            september.longest_run.unwrap().first,
            (date("2026-07-16"), Session::Pm)
        );
    }

    #[test]
    fn a_run_that_ended_in_july_is_not_the_new_years_longest() {
        let marks = [
            mark("2026-07-16", Session::Am, "I"),
            mark("2026-07-16", Session::Pm, "I"),
            mark("2026-09-03", Session::Am, "/"),
            mark("2026-09-03", Session::Pm, "I"),
        ];
        let tally = PupilTally::from_register(&marks, &AttendancePolicy::default());
        let september = tally.year(AcademicYear::new(2026)).unwrap();
        assert_eq!(september.longest_streak_days(), 0.5);
    }

    #[test]
    fn sickness_return_point_is_the_thirtieth_illness_session() {
        let policy = AttendancePolicy::default();
        let mut marks = Vec::new();
        let mut day = date("2026-09-03");
        for _ in 0..16 {
            marks.push(SessionMark::new(day, Session::Am, AttendanceCode::I));
            marks.push(SessionMark::new(day, Session::Pm, AttendanceCode::I));
            day = next_weekday(day);
        }
        let tally = PupilTally::from_register(&marks, &policy);
        let reached = tally.years[0].sickness_return_reached.unwrap();
        assert_eq!(reached, (marks[29].date, Session::Pm));
        assert_eq!(
            Some(reached),
            sickness_return_reached(&marks, &policy.illness_codes, AcademicYear::new(2026), 15.0)
        );
    }

    /// Both sessions of `days` weekdays from `from` with `code`.
    fn weekdays_of(from: &str, days: usize, code: AttendanceCode) -> Vec<SessionMark> {
        let mut marks = Vec::new();
        let mut day = date(from);
        for _ in 0..days {
            marks.push(SessionMark::new(day, Session::Am, code));
            marks.push(SessionMark::new(day, Session::Pm, code));
            day = next_weekday(day);
        }
        marks
    }

    #[test]
    fn rules_r16_1_twenty_unauthorised_sessions_reach_the_notice_and_nineteen_do_not() {
        let policy = AttendancePolicy::default();
        // 19 sessions of G, N, O and U spread over the autumn with present days between.
        let codes = [
            AttendanceCode::G,
            AttendanceCode::N,
            AttendanceCode::O,
            AttendanceCode::U,
        ];
        let mut marks = Vec::new();
        let mut day = date("2026-09-07");
        for n in 0..20 {
            marks.push(SessionMark::new(day, Session::Am, codes[n % 4]));
            marks.push(SessionMark::new(
                day,
                Session::Pm,
                AttendanceCode::PresentPm,
            ));
            day = next_weekday(day);
        }
        let nineteen = PupilTally::from_register(&marks[..37], &policy);
        assert_eq!(nineteen.years[0].unauthorised_sessions(), 19);
        assert_eq!(nineteen.years[0].unauthorised_notice_reached, None);
        let twenty = PupilTally::from_register(&marks, &policy);
        assert_eq!(
            twenty.years[0].unauthorised_notice_reached,
            Some(marks[38].slot())
        );
        // Not a run: present every afternoon.
        assert_eq!(twenty.years[0].unauthorised_run, 0);
    }

    #[test]
    fn rules_r16_1_ten_unauthorised_days_in_a_row_across_a_weekend() {
        let policy = AttendancePolicy::default();
        // Wednesday 4 November to Tuesday 17 November: 10 school days over a weekend.
        let marks = weekdays_of("2026-11-04", 10, AttendanceCode::O);
        assert_eq!(marks.last().unwrap().date, date("2026-11-17"));
        let tally = PupilTally::from_register(&marks, &policy);
        assert_eq!(tally.years[0].unauthorised_run, 20);
        assert_eq!(
            tally.years[0].unauthorised_notice_reached,
            Some((date("2026-11-17"), Session::Pm))
        );
        // A run carried from July reaches 20 in September with only 4 sessions in the new year.
        let mut marks = weekdays_of("2026-07-06", 8, AttendanceCode::U);
        marks.extend(weekdays_of("2026-09-02", 2, AttendanceCode::N));
        let tally = PupilTally::from_register(&marks, &policy);
        let september = tally.year(AcademicYear::new(2026)).unwrap();
        assert_eq!(september.unauthorised_sessions(), 4);
        assert_eq!(
            september.unauthorised_notice_reached,
            Some((date("2026-09-03"), Session::Pm))
        );
        // A session that is not possible (Y1) neither breaks nor extends it; a present one breaks.
        let mut marks = weekdays_of("2026-11-02", 5, AttendanceCode::O);
        marks.extend(weekdays_of("2026-11-09", 1, AttendanceCode::Y1));
        marks.extend(weekdays_of("2026-11-10", 4, AttendanceCode::O));
        let tally = PupilTally::from_register(&marks, &policy);
        assert_eq!(tally.years[0].unauthorised_run, 18);
    }

    #[test]
    fn days_without_marks_uses_the_calendar_when_read() {
        let calendar = SchoolCalendar::new(vec![hertfordshire_2026_27()]);
        // Friday 23 October and Monday 2 November are school days; half term lies between.
        let marks = [
            mark("2026-10-23", Session::Am, "/"),
            mark("2026-11-02", Session::Am, "/"),
        ];
        let tally = PupilTally::from_register(&marks, &AttendancePolicy::default());
        assert_eq!(tally.years[0].days_without_marks(&calendar), 0);
        // With no calendar, the half-term week counts as five school days without marks.
        assert_eq!(
            tally.years[0].days_without_marks(&SchoolCalendar::empty()),
            5
        );
        let marks = [
            mark("2026-10-22", Session::Am, "/"),
            mark("2026-11-03", Session::Am, "/"),
        ];
        let tally = PupilTally::from_register(&marks, &AttendancePolicy::default());
        // Friday 23 October and Monday 2 November are missing.
        assert_eq!(tally.years[0].days_without_marks(&calendar), 2);
    }

    #[test]
    fn marked_days_survive_their_stored_form() {
        let mut days = MarkedDays::default();
        let year = AcademicYear::new(2027);
        for d in ["2027-09-01", "2028-02-29", "2028-08-31"] {
            days.insert(year, date(d));
        }
        let back = MarkedDays::from_bytes(&days.to_bytes()).unwrap();
        assert_eq!(back, days);
        assert_eq!(
            back.dates(year).collect::<Vec<_>>(),
            vec![date("2027-09-01"), date("2028-02-29"), date("2028-08-31")]
        );
        // Early in a year only the first bytes are stored.
        let mut september = MarkedDays::default();
        september.insert(year, date("2027-09-03"));
        assert_eq!(september.to_bytes(), vec![0b100]);
        assert_eq!(MarkedDays::from_bytes(&[]), Some(MarkedDays::default()));
        assert_eq!(MarkedDays::from_bytes(&[0; 49]), None);
    }

    #[test]
    fn follows_only_sessions_after_the_latest() {
        let tally = PupilTally::from_register(
            &[mark("2026-11-16", Session::Am, "/")],
            &AttendancePolicy::default(),
        );
        assert!(tally.follows((date("2026-11-16"), Session::Pm)));
        assert!(!tally.follows((date("2026-11-16"), Session::Am)));
        assert!(!tally.follows((date("2026-11-13"), Session::Pm)));
        assert!(PupilTally::default().follows((date("2026-11-13"), Session::Pm)));
    }

    fn next_weekday(day: NaiveDate) -> NaiveDate {
        let mut next = day + Days::new(1);
        while matches!(next.weekday(), Weekday::Sat | Weekday::Sun) {
            next = next + Days::new(1);
        }
        next
    }

    /// Registers of random length over two academic years with a code mix heavy in illness and
    /// closures, compared with the batch rules of `attendance.rs`.
    #[test]
    fn appending_gives_what_the_batch_rules_give() {
        let policy = AttendancePolicy {
            sickness_return_days: 4.0,
            ..AttendancePolicy::default()
        };
        let calendar = SchoolCalendar::new(vec![hertfordshire_2026_27()]);
        let pool = ["I", "I", "I", "/", "\\", "#", "Y1", "D", "N", "O", "M", "B"];
        let mut rng = StdRng::seed_from_u64(4);
        for _ in 0..300 {
            let mut marks = Vec::new();
            let mut day = date("2026-06-29");
            for _ in 0..rng.random_range(0..120) {
                // Leave some days out altogether.
                if rng.random_bool(0.1) {
                    day = next_weekday(day);
                    continue;
                }
                for session in [Session::Am, Session::Pm] {
                    if rng.random_bool(0.95) {
                        let code = pool[rng.random_range(0..pool.len())];
                        let code = AttendanceCode::parse(code).unwrap();
                        marks.push(SessionMark::new(day, session, code));
                    }
                }
                day = next_weekday(day);
            }
            let tally = PupilTally::from_register(&marks, &policy);
            for year_tally in &tally.years {
                let year = year_tally.year;
                let in_year: Vec<SessionMark> = marks
                    .iter()
                    .copied()
                    .filter(|m| year.contains(m.date))
                    .collect();
                assert_eq!(
                    year_tally.measures(&policy),
                    measures(&in_year, policy.min_possible_sessions_for_flags)
                );
                assert_eq!(
                    year_tally.sickness_return_reached,
                    sickness_return_reached(&marks, &policy.illness_codes, year, 4.0)
                );
                assert_eq!(
                    year_tally.unauthorised_notice_reached,
                    unauthorised_notice_reached(&marks, year)
                );
                // The longest run with sessions in the year, counted up to the year's end,
                // earliest on ties.
                let up_to: Vec<SessionMark> = marks
                    .iter()
                    .copied()
                    .filter(|m| m.date <= year.last_day())
                    .collect();
                let longest = illness_runs(&up_to, &policy.illness_codes)
                    .into_iter()
                    .filter(|run| year.contains(run.last.0))
                    .fold(None::<IllnessRun>, |best, run| match best {
                        Some(best) if best.sessions >= run.sessions => Some(best),
                        _ => Some(run),
                    });
                assert_eq!(year_tally.longest_run, longest);
                let facts = illness(&up_to, &policy.illness_codes, year, &calendar);
                assert_eq!(year_tally.current_streak_days(), facts.current_streak_days);
                assert_eq!(year_tally.illness_days(&policy), facts.days_cumulative);
                assert_eq!(
                    year_tally.days_without_marks(&calendar),
                    facts.days_without_marks
                );
            }
        }
    }
}
