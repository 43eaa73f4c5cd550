//! Maintained attendance tallies: the `latest_slot` and `tally` columns of `registers`, written
//! with the marks they count (`store/registers.rs`; the domain side is `domain/tally.rs`).

use std::borrow::Cow;
use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::schema::registers as register_rows;
use super::{DbConnection, StoreResult};
use crate::domain::attendance::{IllnessRun, MeasureCounts};
use crate::domain::calendar::AcademicYear;
use crate::domain::codes::{AttendanceCode, Session};
use crate::domain::tally::{MarkedDays, PupilTally, YearTally};

/// The `tally` column: everything of a [`YearTally`] that SQL does not need, kept small and
/// quick to read and write because a push decodes and rewrites every pupil's tally every night.
/// Written as [`PACKED`] and then [`PackedTally`] in postcard's binary form, base64url (about 50
/// characters in November). Tallies in the earlier form, a JSON array ([`TallyState`]), are
/// still read, and replaced by the packed form when next written.
///
/// Sessions are slots in both: 2 x days since 1 September of the tally's year, +1 for the
/// afternoon (a run carried in from July has negative ones).
#[derive(Serialize, Deserialize)]
struct PackedTally<'a> {
    /// Each code counted, as its register character ([`AttendanceCode::register_char`], the
    /// same stable one the `sessions` column uses), with its sessions.
    counts: Vec<(u8, u32)>,
    /// [`MarkedDays::to_bytes`].
    #[serde(borrow)]
    marked_days: &'a [u8],
    open_run: Option<(i32, i32, u32)>,
    longest_run: Option<(i32, i32, u32)>,
    sickness_return_reached: Option<i32>,
    /// R16.1: the unauthorised run and the slot that reached the 10-day notice.
    unauthorised_run: u32,
    unauthorised_notice_reached: Option<i32>,
}

/// The packed form before R16.1 ([`PACKED_BEFORE_R16`]): read as having no unauthorised run
/// and the notice not reached. `esma-api recompute` after upgrading rebuilds such tallies (and
/// raises the notices the register already supports); the next push for the pupil rewrites it
/// in the current form.
#[derive(Serialize, Deserialize)]
struct PackedTallyBeforeR16<'a> {
    counts: Vec<(u8, u32)>,
    #[serde(borrow)]
    marked_days: &'a [u8],
    open_run: Option<(i32, i32, u32)>,
    longest_run: Option<(i32, i32, u32)>,
    sickness_return_reached: Option<i32>,
}

/// The first character of a packed tally (a JSON one starts with `[`); neither is a base64url
/// character.
const PACKED: char = '.';
const PACKED_BEFORE_R16: char = '~';

/// Room for the largest packed tally (every code counted, every day marked: about 330 bytes).
const PACKED_BYTES_AT_MOST: usize = 512;

/// The earlier, JSON form of the `tally` column: the code counts as pairs, the marked
/// days as base64 bytes, then the runs and the sickness-return slot.
#[derive(Deserialize)]
struct TallyState<'a>(
    #[serde(borrow)] Vec<(Cow<'a, str>, u32)>,
    Cow<'a, str>,
    Option<(i32, i32, u32)>,
    Option<(i32, i32, u32)>,
    Option<i32>,
);

use super::registers::{slot_number, slot_of};

fn run_out(year: AcademicYear, run: Option<IllnessRun>) -> Option<(i32, i32, u32)> {
    run.map(|r| {
        (
            slot_number(year, r.first),
            slot_number(year, r.last),
            r.sessions,
        )
    })
}

fn run_in(year: AcademicYear, run: Option<(i32, i32, u32)>) -> StoreResult<Option<IllnessRun>> {
    run.map(|(first, last, sessions)| {
        Ok(IllnessRun {
            first: slot_of(year, first)?,
            last: slot_of(year, last)?,
            sessions,
        })
    })
    .transpose()
}

/// The tally columns of a `registers` row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = register_rows)]
struct TallyRow {
    school_urn: i32,
    academic_year: i32,
    upn: String,
    latest_slot: i32,
    #[diesel(column_name = tally)]
    state: String,
}

/// A tally as its two columns: the latest slot and the encoded state.
pub(crate) fn tally_to_parts(
    school_urn: i32,
    upn: &str,
    tally: &YearTally,
) -> StoreResult<(i32, String)> {
    let year = tally.year;
    let marked_days = tally.marked_days.to_bytes();
    let state = PackedTally {
        counts: tally
            .counts
            .iter()
            .map(|(code, n)| (code.register_char(), n))
            .collect(),
        marked_days: &marked_days,
        open_run: run_out(year, tally.open_run),
        longest_run: run_out(year, tally.longest_run),
        sickness_return_reached: tally
            .sickness_return_reached
            .map(|slot| slot_number(year, slot)),
        unauthorised_run: tally.unauthorised_run,
        unauthorised_notice_reached: tally
            .unauthorised_notice_reached
            .map(|slot| slot_number(year, slot)),
    };
    // A tally exists only once a mark is counted, so it always has a latest session.
    let latest = tally.latest.ok_or_else(|| {
        diesel::result::Error::SerializationError(
            format!("attendance tally of {upn} at {school_urn} counts no session").into(),
        )
    })?;
    let mut buffer = [0u8; PACKED_BYTES_AT_MOST];
    let packed = postcard::to_slice(&state, &mut buffer)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let mut text = String::with_capacity(1 + packed.len().div_ceil(3) * 4);
    text.push(PACKED);
    URL_SAFE_NO_PAD.encode_string(&*packed, &mut text);
    Ok((slot_number(year, latest), text))
}

fn from_row(row: &TallyRow) -> StoreResult<YearTally> {
    tally_from_parts(
        row.school_urn,
        &row.upn,
        AcademicYear::new(row.academic_year),
        row.latest_slot,
        &row.state,
    )
}

/// A tally from its two columns.
pub(crate) fn tally_from_parts(
    school_urn: i32,
    upn: &str,
    year: AcademicYear,
    latest_slot: i32,
    state: &str,
) -> StoreResult<YearTally> {
    let unreadable = |e: String| {
        diesel::result::Error::DeserializationError(
            format!(
                "attendance tally of {upn} at {school_urn} for {} is unreadable ({e}); run `esma-api recompute`",
                year.start_year()
            )
            .into(),
        )
    };
    let mut counts = MeasureCounts::new();
    let mut unauthorised = (0, None);
    let add_counts = |counts: &mut MeasureCounts, pairs: Vec<(u8, u32)>| -> StoreResult<()> {
        for (c, n) in pairs {
            let code = AttendanceCode::from_register_char(c)
                .ok_or_else(|| unreadable(format!("no code is written {:?}", char::from(c))))?;
            counts.add_many(code, n);
        }
        Ok(())
    };
    let mut buffer = [0u8; PACKED_BYTES_AT_MOST];
    let decode = |packed: &str, buffer: &mut [u8]| -> StoreResult<usize> {
        URL_SAFE_NO_PAD
            .decode_slice(packed.as_bytes(), buffer)
            .map_err(|e| unreadable(e.to_string()).into())
    };
    let (marked_days, open_run, longest_run, sickness_return_reached) =
        if let Some(packed) = state.strip_prefix(PACKED) {
            let length = decode(packed, &mut buffer)?;
            let state: PackedTally =
                postcard::from_bytes(&buffer[..length]).map_err(|e| unreadable(e.to_string()))?;
            add_counts(&mut counts, state.counts)?;
            unauthorised = (state.unauthorised_run, state.unauthorised_notice_reached);
            (
                MarkedDays::from_bytes(state.marked_days),
                state.open_run,
                state.longest_run,
                state.sickness_return_reached,
            )
        } else if let Some(packed) = state.strip_prefix(PACKED_BEFORE_R16) {
            let length = decode(packed, &mut buffer)?;
            let state: PackedTallyBeforeR16 =
                postcard::from_bytes(&buffer[..length]).map_err(|e| unreadable(e.to_string()))?;
            add_counts(&mut counts, state.counts)?;
            (
                MarkedDays::from_bytes(state.marked_days),
                state.open_run,
                state.longest_run,
                state.sickness_return_reached,
            )
        } else {
            let state: TallyState =
                serde_json::from_str(state).map_err(|e| unreadable(e.to_string()))?;
            for (code, n) in &state.0 {
                let code = AttendanceCode::parse(code).map_err(|e| unreadable(e.to_string()))?;
                counts.add_many(code, *n);
            }
            let marked_days = URL_SAFE_NO_PAD
                .decode(state.1.as_bytes())
                .ok()
                .as_deref()
                .and_then(MarkedDays::from_bytes);
            (marked_days, state.2, state.3, state.4)
        };
    Ok(YearTally {
        year,
        counts,
        latest: Some(slot_of(year, latest_slot)?),
        marked_days: marked_days
            .ok_or_else(|| unreadable("its marked days are not a year's".into()))?,
        open_run: run_in(year, open_run)?,
        longest_run: run_in(year, longest_run)?,
        sickness_return_reached: sickness_return_reached
            .map(|n| slot_of(year, n))
            .transpose()?,
        unauthorised_run: unauthorised.0,
        unauthorised_notice_reached: unauthorised.1.map(|n| slot_of(year, n)).transpose()?,
    })
}

/// The latest session of each of the given pupils at a school in academic year `from_year` or
/// later: all a push needs to know whether it holds only sessions after everything stored.
pub fn latest_sessions_since(
    conn: &mut DbConnection,
    school_urn: i32,
    from_year: AcademicYear,
) -> StoreResult<HashMap<String, (NaiveDate, Session)>> {
    let rows: Vec<(String, i32, i32)> = register_rows::table
        .filter(register_rows::school_urn.eq(school_urn))
        .filter(register_rows::academic_year.ge(from_year.start_year()))
        .select((
            register_rows::upn,
            register_rows::academic_year,
            register_rows::latest_slot,
        ))
        .load(conn)?;
    let mut latest: HashMap<String, (NaiveDate, Session)> = HashMap::with_capacity(rows.len());
    for (upn, year, slot) in rows {
        let slot = slot_of(AcademicYear::new(year), slot)?;
        let entry = latest.entry(upn).or_insert(slot);
        if slot > *entry {
            *entry = slot;
        }
    }
    Ok(latest)
}

/// The tallies of a school's pupils from academic year `from_year` on, by pupil.
pub fn of_school_since(
    conn: &mut DbConnection,
    school_urn: i32,
    from_year: AcademicYear,
) -> StoreResult<HashMap<String, PupilTally>> {
    let rows: Vec<TallyRow> = register_rows::table
        .filter(register_rows::school_urn.eq(school_urn))
        .filter(register_rows::academic_year.ge(from_year.start_year()))
        .order((register_rows::academic_year, register_rows::upn))
        .select(TallyRow::as_select())
        .load(conn)?;
    collect(&rows)
}

/// Every tally of the given pupils at a school, by pupil.
pub fn of_pupils(
    conn: &mut DbConnection,
    school_urn: i32,
    upns: &[&str],
) -> StoreResult<HashMap<String, PupilTally>> {
    let mut rows: Vec<TallyRow> = Vec::new();
    for chunk in upns.chunks(500) {
        rows.extend(
            register_rows::table
                .filter(register_rows::school_urn.eq(school_urn))
                .filter(register_rows::upn.eq_any(chunk))
                .order((register_rows::academic_year, register_rows::upn))
                .select(TallyRow::as_select())
                .load::<TallyRow>(conn)?,
        );
    }
    rows.sort_by_key(|row| row.academic_year);
    collect(&rows)
}

fn collect(rows: &[TallyRow]) -> StoreResult<HashMap<String, PupilTally>> {
    let mut by_pupil: HashMap<String, PupilTally> = HashMap::new();
    for row in rows {
        by_pupil
            .entry(row.upn.clone())
            .or_default()
            .years
            .push(from_row(row)?);
    }
    Ok(by_pupil)
}

/// One pupil's tally for one year at one school.
pub fn of_pupil_year(
    conn: &mut DbConnection,
    school_urn: i32,
    upn: &str,
    year: AcademicYear,
) -> StoreResult<Option<YearTally>> {
    let row: Option<TallyRow> = register_rows::table
        .find((school_urn, year.start_year(), upn))
        .select(TallyRow::as_select())
        .first(conn)
        .optional()?;
    row.as_ref().map(from_row).transpose()
}

/// The tallies with the given (school, academic year, pupil) keys, in one query per 500.
pub fn of_keys(
    conn: &mut DbConnection,
    keys: &[(i32, i32, &str)],
) -> StoreResult<HashMap<(i32, i32, String), YearTally>> {
    let mut found = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        let upns: Vec<&str> = chunk.iter().map(|k| k.2).collect();
        let mut years: Vec<i32> = chunk.iter().map(|k| k.1).collect();
        years.sort_unstable();
        years.dedup();
        // By pupil and year (`registers_pupil`), the school matched below: with the schools in
        // the query, SQLite read every register row of each school on the page (a worklist
        // page's 100 alerts: some 38,000 rows at the year end; issue 25).
        let rows: Vec<TallyRow> = register_rows::table
            .filter(register_rows::upn.eq_any(&upns))
            .filter(register_rows::academic_year.eq_any(&years))
            .select(TallyRow::as_select())
            .load(conn)?;
        for row in &rows {
            let key = (row.school_urn, row.academic_year, row.upn.clone());
            if chunk
                .iter()
                .any(|k| (k.0, k.1, k.2) == (key.0, key.1, key.2.as_str()))
            {
                found.insert(key, from_row(row)?);
            }
        }
    }
    Ok(found)
}

/// Every stored tally, ordered by school, year and pupil (for the consistency test and tools).
pub fn all(conn: &mut DbConnection) -> StoreResult<Vec<(i32, String, YearTally)>> {
    let rows: Vec<TallyRow> = register_rows::table
        .order((
            register_rows::school_urn,
            register_rows::academic_year,
            register_rows::upn,
        ))
        .select(TallyRow::as_select())
        .load(conn)?;
    rows.iter()
        .map(|row| Ok((row.school_urn, row.upn.clone(), from_row(row)?)))
        .collect()
}

/// Whether any tally is stored (every register row has one).
pub fn any(conn: &mut DbConnection) -> StoreResult<bool> {
    Ok(register_rows::table
        .select(register_rows::school_urn)
        .first::<i32>(conn)
        .optional()
        .map(|found| found.is_some())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::attendance::{AttendancePolicy, SessionMark};
    use chrono::Days;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn round_trip(tally: &YearTally) -> YearTally {
        let (latest, text) = tally_to_parts(117001, "A919000000010", tally).unwrap();
        assert!(text.starts_with(PACKED), "{text}");
        tally_from_parts(117001, "A919000000010", tally.year, latest, &text).unwrap()
    }

    #[test]
    fn a_tally_reads_back_as_written() {
        // Every code, every day of 2025-26 marked, and an illness run open over the summer into
        // 2026-27 (negative slots there): the largest tally there is, and the carry-over.
        let policy = AttendancePolicy::default();
        let mut marks = Vec::new();
        let mut day = date("2025-09-01");
        let mut codes = AttendanceCode::ALL.iter().cycle();
        while day <= date("2026-08-31") {
            let late = day >= date("2026-07-20");
            for session in [Session::Am, Session::Pm] {
                let code = if late {
                    AttendanceCode::I
                } else {
                    *codes.next().unwrap()
                };
                marks.push(SessionMark::new(day, session, code));
            }
            day = day + Days::new(1);
        }
        marks.push(SessionMark::new(
            date("2026-09-03"),
            Session::Am,
            AttendanceCode::I,
        ));
        let tally = PupilTally::from_register(&marks, &policy);
        assert_eq!(tally.years.len(), 2);
        assert!(tally.years[1].open_run.unwrap().first.0 < date("2026-09-01"));
        for year in &tally.years {
            assert_eq!(&round_trip(year), year);
        }
        // A tally of one mark, with nothing else set.
        let one = PupilTally::from_register(
            &[SessionMark::new(
                date("2026-11-20"),
                Session::Pm,
                AttendanceCode::PresentPm,
            )],
            &policy,
        );
        assert_eq!(round_trip(&one.years[0]), one.years[0]);
    }

    #[test]
    fn a_tally_written_as_json_before_the_packed_form_still_reads() {
        // In the earlier JSON form: 3 `/`, 2 `I`, days 0-2 marked ("Bw" = 0b111), a run of 2
        // sessions from slot 4 to 5, the longest the same, no sickness return.
        let year = AcademicYear::new(2026);
        let json = r#"[[["/",3],["I",2]],"Bw",[4,5,2],[4,5,2],null]"#;
        let tally = tally_from_parts(117001, "A919000000010", year, 5, json).unwrap();
        assert_eq!(tally.counts.code_count(AttendanceCode::PresentAm), 3);
        assert_eq!(tally.counts.code_count(AttendanceCode::I), 2);
        assert_eq!(tally.marked_days.count(), 3);
        let run = IllnessRun {
            first: (date("2026-09-03"), Session::Am),
            last: (date("2026-09-03"), Session::Pm),
            sessions: 2,
        };
        assert_eq!(tally.open_run, Some(run));
        assert_eq!(tally.longest_run, Some(run));
        assert_eq!(tally.latest, Some((date("2026-09-03"), Session::Pm)));
        // Written again, it takes the packed form and reads back the same.
        assert_eq!(round_trip(&tally), tally);
    }

    #[test]
    fn a_tally_packed_before_r16_still_reads_without_the_notice() {
        let year = AcademicYear::new(2026);
        let old = PackedTallyBeforeR16 {
            counts: vec![(AttendanceCode::O.register_char(), 3)],
            marked_days: &[0b11],
            open_run: None,
            longest_run: None,
            sickness_return_reached: None,
        };
        let text = format!(
            "{PACKED_BEFORE_R16}{}",
            URL_SAFE_NO_PAD.encode(postcard::to_allocvec(&old).unwrap())
        );
        let tally = tally_from_parts(117001, "A919000000010", year, 3, &text).unwrap();
        assert_eq!(tally.unauthorised_sessions(), 3);
        assert_eq!(tally.unauthorised_run, 0);
        assert_eq!(tally.unauthorised_notice_reached, None);
        assert_eq!(round_trip(&tally), tally);
    }

    #[test]
    fn an_unreadable_tally_is_an_error_not_a_panic() {
        let year = AcademicYear::new(2026);
        for text in [
            "",
            "{",
            "~",
            "~!!!",
            "~AAAA",
            "~AQAA",
            ".",
            ".AQAA",
            &format!("~{}", "A".repeat(2000)),
        ] {
            assert!(
                tally_from_parts(117001, "A919000000010", year, 5, text).is_err(),
                "{text:?}"
            );
        }
    }
}
