//! A roll push, checked (RULES.md R6; API.md "Pupils"): each pupil on its own ([`check_pupil`]),
//! then the push as a whole ([`check_roll`]).

use std::collections::HashMap;

use chrono::NaiveDate;

use super::identifiers::{is_la_number, Upn};
use super::push::Refusals;
use super::register::{control_problem, parse_date, RowProblem, RowReason};

/// A pupil as received, before any check.
#[derive(Debug, Clone)]
pub struct PupilIn {
    pub upn: String,
    pub legal_forename: String,
    pub legal_surname: String,
    pub date_of_birth: String,
    pub postcode: Option<String>,
    pub home_la_code: Option<i64>,
    pub ehcp: bool,
    pub sen_support: bool,
    pub pupil_premium: bool,
    pub on_roll_from: String,
    pub on_roll_until: Option<String>,
}

/// A pupil as sent, before checking.
#[derive(Debug, Clone)]
pub struct PupilRow<'a> {
    pub upn: &'a str,
    pub legal_forename: &'a str,
    pub legal_surname: &'a str,
    pub date_of_birth: &'a str,
    pub postcode: Option<&'a str>,
    pub home_la_code: Option<i64>,
    pub on_roll_from: &'a str,
    pub on_roll_until: Option<&'a str>,
}

/// The checked identity and enrolment dates of a pupil.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedPupil {
    pub upn: String,
    pub legal_forename: String,
    pub legal_surname: String,
    pub date_of_birth: NaiveDate,
    pub postcode: Option<String>,
    pub home_la_code: Option<i32>,
    pub on_roll_from: NaiveDate,
    pub on_roll_until: Option<NaiveDate>,
}

fn name(field: &'static str, value: &str) -> Result<String, RowProblem> {
    let trimmed = value.trim();
    let len = trimmed.chars().count();
    if len == 0 || len > 100 || trimmed.chars().any(char::is_control) {
        return Err(RowProblem::new(
            field,
            RowReason::InvalidName,
            format!("{field} should be 1 to 100 printable characters"),
        ));
    }
    Ok(trimmed.to_string())
}

/// A UK postcode in its usual shape (outward code, space optional, inward code), upper-cased.
pub fn normalise_postcode(raw: &str) -> Option<String> {
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let (outward, inward) = compact.split_at_checked(compact.len().checked_sub(3)?)?;
    let inward_ok = inward.len() == 3 && {
        let b = inward.as_bytes();
        b[0].is_ascii_digit() && b[1].is_ascii_alphabetic() && b[2].is_ascii_alphabetic()
    };
    let outward_ok = (2..=4).contains(&outward.len())
        && outward.as_bytes()[0].is_ascii_alphabetic()
        && outward.bytes().all(|b| b.is_ascii_alphanumeric())
        && outward.bytes().any(|b| b.is_ascii_digit());
    (inward_ok && outward_ok).then(|| format!("{outward} {inward}"))
}

pub fn check_pupil(row: &PupilRow<'_>, today: NaiveDate) -> Result<CheckedPupil, RowProblem> {
    // First, so a control character is named as such, not taken for a malformed name, and not
    // tidied away from a postcode.
    let text = [
        ("upn", row.upn),
        ("legal_forename", row.legal_forename),
        ("legal_surname", row.legal_surname),
        ("date_of_birth", row.date_of_birth),
        ("postcode", row.postcode.unwrap_or("")),
        ("on_roll_from", row.on_roll_from),
        ("on_roll_until", row.on_roll_until.unwrap_or("")),
    ];
    if let Some(problem) = control_problem(text) {
        return Err(problem);
    }
    let upn = Upn::parse(row.upn)
        .map_err(|e| RowProblem::new("upn", RowReason::InvalidUpn, e.to_string()))?;
    let legal_forename = name("legal_forename", row.legal_forename)?;
    let legal_surname = name("legal_surname", row.legal_surname)?;
    let date_of_birth = parse_date("date_of_birth", row.date_of_birth)?;
    if date_of_birth > today {
        return Err(RowProblem::new(
            "date_of_birth",
            RowReason::DateInFuture,
            format!("date_of_birth {date_of_birth} is after today ({today})"),
        ));
    }
    if date_of_birth < NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or(date_of_birth) {
        return Err(RowProblem::new(
            "date_of_birth",
            RowReason::InvalidDate,
            format!("date_of_birth {date_of_birth} is not a school pupil's"),
        ));
    }
    let postcode = match row.postcode.map(str::trim).filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => Some(normalise_postcode(p).ok_or_else(|| {
            RowProblem::new(
                "postcode",
                RowReason::InvalidPostcode,
                format!(
                    "postcode '{}' is not a UK postcode",
                    p.chars().take(12).collect::<String>()
                ),
            )
        })?),
    };
    let home_la_code = match row.home_la_code {
        None => None,
        Some(code) => {
            let ok = u16::try_from(code).ok().filter(|c| is_la_number(*c));
            Some(ok.ok_or_else(|| {
                RowProblem::new(
                    "home_la_code",
                    RowReason::InvalidLaCode,
                    format!("home_la_code {code} is not an English LA number"),
                )
            })? as i32)
        }
    };
    let on_roll_from = parse_date("on_roll_from", row.on_roll_from)?;
    let on_roll_until = row
        .on_roll_until
        .map(|d| parse_date("on_roll_until", d))
        .transpose()?;
    if let Some(until) = on_roll_until {
        if until < on_roll_from {
            return Err(RowProblem::new(
                "on_roll_until",
                RowReason::InvalidDate,
                format!("on_roll_until {until} is before on_roll_from {on_roll_from}"),
            ));
        }
    }
    Ok(CheckedPupil {
        upn: upn.into_string(),
        legal_forename,
        legal_surname,
        date_of_birth,
        postcode,
        home_la_code,
        on_roll_from,
        on_roll_until,
    })
}

/// A pupil of a roll push that passed every check, with the flags sent for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedPupil {
    pub pupil: CheckedPupil,
    pub ehcp: bool,
    pub sen_support: bool,
    pub pupil_premium: bool,
}

/// What [`check_roll`] lets through: each pupil once.
#[derive(Debug, Default)]
pub struct CheckedRoll {
    pub pupils: Vec<AcceptedPupil>,
    /// Rows that repeat an accepted pupil exactly: stored once, the repeats counted unchanged.
    pub identical_repeats: usize,
}

/// Checks a roll push: each pupil ([`check_pupil`]), and each pupil once: an identical repeat is
/// kept once, and a pupil sent twice with different details is refused in every row that sends
/// it (which one is right cannot be told). Refused rows go to `refusals`, in row order, the
/// duplicates last.
pub fn check_roll(rows: &[PupilIn], today: NaiveDate, refusals: &mut impl Refusals) -> CheckedRoll {
    let mut accepted: Vec<(usize, AcceptedPupil)> = Vec::with_capacity(rows.len());
    let mut position: HashMap<String, usize> = HashMap::new();
    let mut conflicted: HashMap<String, Vec<usize>> = HashMap::new();
    let mut identical_repeats = 0usize;
    for (index, p) in rows.iter().enumerate() {
        let row = PupilRow {
            upn: &p.upn,
            legal_forename: &p.legal_forename,
            legal_surname: &p.legal_surname,
            date_of_birth: &p.date_of_birth,
            postcode: p.postcode.as_deref(),
            home_la_code: p.home_la_code,
            on_roll_from: &p.on_roll_from,
            on_roll_until: p.on_roll_until.as_deref(),
        };
        let pupil = match check_pupil(&row, today) {
            Ok(c) => c,
            Err(problem) => {
                refusals.refuse(index, &p.upn, problem);
                continue;
            }
        };
        let candidate = AcceptedPupil {
            pupil,
            ehcp: p.ehcp,
            sen_support: p.sen_support,
            pupil_premium: p.pupil_premium,
        };
        let upn = candidate.pupil.upn.clone();
        if let Some(rows) = conflicted.get_mut(&upn) {
            rows.push(index);
            continue;
        }
        match position.get(&upn) {
            None => {
                position.insert(upn, accepted.len());
                accepted.push((index, candidate));
            }
            Some(&at) if accepted[at].1 == candidate => identical_repeats += 1,
            Some(&at) => {
                conflicted.insert(upn, vec![accepted[at].0, index]);
            }
        }
    }
    let mut refused: Vec<(usize, &str)> = conflicted
        .iter()
        .flat_map(|(upn, rows)| rows.iter().map(move |r| (*r, upn.as_str())))
        .collect();
    refused.sort();
    for (row, upn) in refused {
        refusals.refuse(
            row,
            upn,
            RowProblem::new(
                "upn",
                RowReason::DuplicateInPush,
                format!(
                    "{upn} appears more than once in this push with different details; send it once"
                ),
            ),
        );
    }
    CheckedRoll {
        pupils: accepted
            .into_iter()
            .filter(|(_, a)| !conflicted.contains_key(&a.pupil.upn))
            .map(|(_, a)| a)
            .collect(),
        identical_repeats,
    }
}

/// A pupil's personal details as one school's MIS gives them. Each school keeps its own (API.md
/// "Pupils"): a dual-registered pupil has one per school, and one school's push never changes
/// another's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PupilDetails {
    pub legal_forename: String,
    pub legal_surname: String,
    pub date_of_birth: NaiveDate,
    pub postcode: Option<String>,
    pub home_la_code: Option<i32>,
    pub ehcp: bool,
    pub sen_support: bool,
    pub pupil_premium: bool,
}

/// A field on which the schools' records of one pupil disagree, with each school's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailConflict {
    pub field: &'static str,
    /// `(school URN, the value as text, or None when that school's record has none)`, by URN.
    pub values: Vec<(i32, Option<String>)>,
}

/// Where the schools' records of one pupil disagree: what the LA needs to see to resolve, for
/// example, two dates of birth. Fields are compared as given (names after trimming; postcodes
/// normalised at the roll push), so a difference in case is a difference.
pub fn conflicts_between(records: &[(i32, &PupilDetails)]) -> Vec<DetailConflict> {
    type Field = (&'static str, fn(&PupilDetails) -> Option<String>);
    const FIELDS: [Field; 8] = [
        ("legal_forename", |d| Some(d.legal_forename.clone())),
        ("legal_surname", |d| Some(d.legal_surname.clone())),
        ("date_of_birth", |d| Some(d.date_of_birth.to_string())),
        ("postcode", |d| d.postcode.clone()),
        ("home_la_code", |d| d.home_la_code.map(|c| c.to_string())),
        ("ehcp", |d| Some(d.ehcp.to_string())),
        ("sen_support", |d| Some(d.sen_support.to_string())),
        ("pupil_premium", |d| Some(d.pupil_premium.to_string())),
    ];
    let mut sorted: Vec<(i32, &PupilDetails)> = records.to_vec();
    sorted.sort_by_key(|(urn, _)| *urn);
    FIELDS
        .iter()
        .filter_map(|(field, value)| {
            let values: Vec<(i32, Option<String>)> =
                sorted.iter().map(|(urn, d)| (*urn, value(d))).collect();
            let first = &values.first()?.1;
            values
                .iter()
                .any(|(_, v)| v != first)
                .then_some(DetailConflict { field, values })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    fn good() -> PupilRow<'static> {
        PupilRow {
            upn: "H801200001001",
            legal_forename: " Amara ",
            legal_surname: "Okafor",
            date_of_birth: "2014-03-02",
            postcode: Some("sg1 2ab"),
            home_la_code: Some(919),
            on_roll_from: "2026-09-03",
            on_roll_until: None,
        }
    }

    #[test]
    fn a_good_pupil_is_tidied() {
        let p = check_pupil(&good(), today()).unwrap();
        assert_eq!(p.legal_forename, "Amara");
        assert_eq!(p.postcode.as_deref(), Some("SG1 2AB"));
        assert_eq!(p.home_la_code, Some(919));
    }

    #[test]
    fn each_rejection_has_its_reason() {
        let reason =
            |row: PupilRow<'static>| check_pupil(&row, today()).unwrap_err().reason.as_str();
        assert_eq!(
            reason(PupilRow {
                upn: "Z801200001001",
                ..good()
            }),
            "invalid_upn"
        );
        assert_eq!(
            reason(PupilRow {
                legal_surname: "  ",
                ..good()
            }),
            "invalid_name"
        );
        assert_eq!(
            reason(PupilRow {
                date_of_birth: "2030-01-01",
                ..good()
            }),
            "date_in_future"
        );
        assert_eq!(
            reason(PupilRow {
                date_of_birth: "02/03/2014",
                ..good()
            }),
            "invalid_date"
        );
        assert_eq!(
            reason(PupilRow {
                postcode: Some("12345"),
                ..good()
            }),
            "invalid_postcode"
        );
        assert_eq!(
            reason(PupilRow {
                home_la_code: Some(999),
                ..good()
            }),
            "invalid_la_code"
        );
        assert_eq!(
            reason(PupilRow {
                on_roll_until: Some("2026-09-01"),
                ..good()
            }),
            "invalid_date"
        );
    }

    fn upn(n: u32) -> String {
        let tail = format!("919{n:08}0");
        let letter = crate::domain::identifiers::check_letter_for(&tail).unwrap();
        format!("{letter}{tail}")
    }

    fn sent(upn: &str, surname: &str) -> PupilIn {
        PupilIn {
            upn: upn.into(),
            legal_forename: "Amara".into(),
            legal_surname: surname.into(),
            date_of_birth: "2014-03-02".into(),
            postcode: Some("sg1 2ab".into()),
            home_la_code: Some(919),
            ehcp: false,
            sen_support: true,
            pupil_premium: false,
            on_roll_from: "2026-09-03".into(),
            on_roll_until: None,
        }
    }

    fn check(rows: &[PupilIn]) -> (CheckedRoll, Vec<(usize, RowReason, String)>) {
        let mut refused: Vec<(usize, String, RowProblem)> = Vec::new();
        let checked = check_roll(rows, today(), &mut refused);
        let refused = refused
            .into_iter()
            .map(|(i, upn, p)| (i, p.reason, upn))
            .collect();
        (checked, refused)
    }

    #[test]
    fn a_roll_of_good_pupils_passes_tidied_with_its_flags() {
        let (checked, refused) = check(&[sent(&upn(1), "Okafor"), {
            let mut p = sent(&upn(2), "Ng");
            p.ehcp = true;
            p
        }]);
        assert!(refused.is_empty(), "{refused:?}");
        assert_eq!(checked.pupils.len(), 2);
        assert_eq!(checked.pupils[0].pupil.postcode.as_deref(), Some("SG1 2AB"));
        assert!(checked.pupils[1].ehcp && checked.pupils[1].sen_support);
    }

    #[test]
    fn a_pupil_sent_twice_alike_is_kept_once_and_differently_is_refused_in_every_row() {
        let (checked, refused) = check(&[
            sent(&upn(1), "Okafor"),
            sent(&upn(1), "Okafor"),
            sent(&upn(2), "Ng"),
            sent(&upn(2), "Nguyen"),
            sent("Z801200001001", "Okafor"),
            sent(&upn(2), "Ng"),
        ]);
        assert_eq!(
            refused,
            [
                (4, RowReason::InvalidUpn, "Z801200001001".to_string()),
                (2, RowReason::DuplicateInPush, upn(2)),
                (3, RowReason::DuplicateInPush, upn(2)),
                (5, RowReason::DuplicateInPush, upn(2)),
            ]
        );
        let kept: Vec<&str> = checked
            .pupils
            .iter()
            .map(|p| p.pupil.upn.as_str())
            .collect();
        assert_eq!(kept, [upn(1)]);
        assert_eq!(checked.identical_repeats, 1);
    }

    #[test]
    fn a_different_flag_makes_a_different_pupil() {
        let mut premium = sent(&upn(1), "Okafor");
        premium.pupil_premium = true;
        let (checked, refused) = check(&[sent(&upn(1), "Okafor"), premium]);
        assert!(checked.pupils.is_empty());
        assert_eq!(refused.len(), 2);
    }

    fn details(dob: &str) -> PupilDetails {
        PupilDetails {
            legal_forename: "Amara".into(),
            legal_surname: "Okafor".into(),
            date_of_birth: NaiveDate::parse_from_str(dob, "%Y-%m-%d").unwrap(),
            postcode: Some("SG1 2AB".into()),
            home_la_code: Some(919),
            ehcp: false,
            sen_support: true,
            pupil_premium: false,
        }
    }

    #[test]
    fn schools_that_agree_have_no_conflict() {
        let a = details("2014-03-02");
        assert!(conflicts_between(&[(117002, &a), (117001, &a.clone())]).is_empty());
        assert!(conflicts_between(&[(117001, &a)]).is_empty());
        assert!(conflicts_between(&[]).is_empty());
    }

    #[test]
    fn each_field_schools_disagree_on_is_a_conflict_with_every_school_value() {
        let a = details("2014-03-02");
        let b = PupilDetails {
            home_la_code: None,
            ehcp: true,
            ..details("2013-03-02")
        };
        let found = conflicts_between(&[(117002, &b), (117001, &a)]);
        let fields: Vec<&str> = found.iter().map(|c| c.field).collect();
        assert_eq!(fields, ["date_of_birth", "home_la_code", "ehcp"]);
        assert_eq!(
            found[0].values,
            [
                (117001, Some("2014-03-02".to_string())),
                (117002, Some("2013-03-02".to_string()))
            ]
        );
        assert_eq!(
            found[1].values,
            [(117001, Some("919".into())), (117002, None)]
        );
    }

    #[test]
    fn postcodes_in_their_usual_shapes() {
        for (raw, want) in [
            ("SG1 2AB", "SG1 2AB"),
            ("sg12ab", "SG1 2AB"),
            ("EC1A 1BB", "EC1A 1BB"),
            ("W1A0AX", "W1A 0AX"),
            ("M1 1AE", "M1 1AE"),
        ] {
            assert_eq!(normalise_postcode(raw).as_deref(), Some(want), "{raw}");
        }
        for bad in ["", "SG1", "1SG 2AB", "SG1 2A", "ÉC1A 1BB", "SG1 2ABC"] {
            assert_eq!(normalise_postcode(bad), None, "{bad}");
        }
    }
}
