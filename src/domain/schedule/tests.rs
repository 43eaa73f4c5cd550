//! RULES.md R11 on the Hertfordshire 2026-27 calendar: autumn 3 Sep-18 Dec (half term 26-30 Oct),
//! spring 5 Jan-26 Mar (15-19 Feb), summer 12 Apr-21 Jul (31 May-4 Jun), closed 3 May 2027.

use super::*;
use crate::domain::calendar::hertfordshire_2026_27;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn herts() -> SchoolCalendar {
    SchoolCalendar::new(vec![hertfordshire_2026_27()])
}

fn of_kind(plan: &[PlannedReview], kind: ReviewKind) -> Vec<NaiveDate> {
    plan.iter()
        .filter(|r| r.kind == kind)
        .map(|r| r.due_on)
        .collect()
}

#[test]
fn a_case_starting_after_half_term_gets_meetings_every_30_school_days() {
    let plan = plan(d("2026-11-02"), &herts(), &SchedulePolicy::default());
    assert_eq!(
        of_kind(&plan, ReviewKind::ReviewMeeting),
        // 30th, 60th ... school day after the start, skipping Christmas, both half terms and
        // the May bank holiday.
        [
            d("2026-12-14"),
            d("2027-02-09"),
            d("2027-04-13"),
            d("2027-05-26"),
            d("2027-07-14")
        ]
    );
    assert_eq!(plan[0].label, "review meeting 1");
}

#[test]
fn half_terms_without_a_meeting_get_a_half_termly_review_on_their_last_school_day() {
    let plan = plan(d("2026-11-02"), &herts(), &SchedulePolicy::default());
    // Only spring 2 (22 Feb-26 Mar) has no meeting in it.
    assert_eq!(
        of_kind(&plan, ReviewKind::HalfTermlyReview),
        [d("2027-03-26")]
    );
    let review = plan
        .iter()
        .find(|r| r.kind == ReviewKind::HalfTermlyReview)
        .unwrap();
    assert_eq!(review.label, "spring 2");
}

#[test]
fn medical_evidence_is_updated_at_the_end_of_each_term_and_gates_fall_at_12_and_24_weeks() {
    let plan = plan(d("2026-11-02"), &herts(), &SchedulePolicy::default());
    assert_eq!(
        of_kind(&plan, ReviewKind::MedicalEvidenceUpdate),
        [d("2026-12-18"), d("2027-03-26"), d("2027-07-21")]
    );
    assert_eq!(
        of_kind(&plan, ReviewKind::EvidenceGate),
        [d("2027-02-09"), d("2027-05-26")]
    );
    // In date order throughout.
    assert!(plan.windows(2).all(|w| w[0].due_on <= w[1].due_on));
}

#[test]
fn a_case_starting_on_the_last_day_before_christmas() {
    let plan = plan(d("2026-12-18"), &herts(), &SchedulePolicy::default());
    // Counting starts after the holiday: 30 school days is after the spring half term.
    assert_eq!(
        of_kind(&plan, ReviewKind::ReviewMeeting)[0],
        d("2027-02-22")
    );
    // Spring 1 has no meeting: its last school day gets a half-termly review; the autumn term
    // ends on the start day itself, so nothing is due then.
    assert_eq!(
        of_kind(&plan, ReviewKind::HalfTermlyReview)[0],
        d("2027-02-12")
    );
    assert_eq!(
        of_kind(&plan, ReviewKind::MedicalEvidenceUpdate)[0],
        d("2027-03-26")
    );
}

#[test]
fn the_bank_holiday_closure_is_not_a_school_day() {
    let plan = plan(d("2027-03-22"), &herts(), &SchedulePolicy::default());
    // 30 school days after 22 March: 18 May, not 17 May, because 3 May is closed.
    assert_eq!(
        of_kind(&plan, ReviewKind::ReviewMeeting)[0],
        d("2027-05-18")
    );
}

#[test]
fn a_case_starting_in_june_is_planned_into_the_next_year_up_to_its_last_gate() {
    let p = SchedulePolicy::default();
    let start = d("2027-06-14");
    let gates = evidence_gates(start, &herts(), &p);
    // 2027-28 has no calendar loaded: Mondays to Fridays count (R3.1).
    assert!(gates[1].1 > d("2027-09-01"));
    assert_eq!(horizon(start, &herts(), &p), gates[1].1);
    let plan = plan(start, &herts(), &p);
    assert_eq!(plan.last().unwrap().kind, ReviewKind::EvidenceGate);
}

#[test]
fn without_a_calendar_only_meetings_and_gates_are_planned() {
    let plan = plan(
        d("2026-11-02"),
        &SchoolCalendar::empty(),
        &SchedulePolicy::default(),
    );
    assert!(of_kind(&plan, ReviewKind::HalfTermlyReview).is_empty());
    assert!(of_kind(&plan, ReviewKind::MedicalEvidenceUpdate).is_empty());
    // Weekdays only: the 30th after Monday 2 November 2026 is Monday 14 December.
    assert_eq!(
        of_kind(&plan, ReviewKind::ReviewMeeting)[0],
        d("2026-12-14")
    );
    assert_eq!(of_kind(&plan, ReviewKind::EvidenceGate).len(), 2);
}

#[test]
fn the_evidence_clock_needs_evidence_after_the_start_then_after_the_first_gate() {
    let p = SchedulePolicy::default();
    let start = d("2026-11-02");
    // Evidence from before the start does not count; due from 10 school days before the gate.
    let clock = evidence_clock(start, &[d("2026-10-10")], &herts(), &p, d("2027-01-25"));
    assert_eq!(clock[0].gate_on, d("2027-02-09"));
    assert_eq!(clock[0].evidence_due_from, d("2027-01-26"));
    assert!(!clock[0].evidence_due);
    let clock = evidence_clock(start, &[d("2026-10-10")], &herts(), &p, d("2027-01-26"));
    assert!(clock[0].evidence_due);
    assert_eq!(clock[0].satisfied_by, None);

    let evidence = [d("2026-10-10"), d("2027-01-20")];
    let clock = evidence_clock(start, &evidence, &herts(), &p, d("2027-05-20"));
    assert_eq!(clock[0].satisfied_by, Some(d("2027-01-20")));
    assert!(!clock[0].evidence_due);
    // The 24-week gate needs evidence dated after the 12-week gate.
    assert_eq!(clock[1].evidence_after, d("2027-02-09"));
    assert_eq!(clock[1].satisfied_by, None);
    assert!(clock[1].evidence_due);
    // Evidence dated after today does not count yet.
    let clock = evidence_clock(start, &[d("2027-06-01")], &herts(), &p, d("2027-05-20"));
    assert!(clock[1].evidence_due);
}
