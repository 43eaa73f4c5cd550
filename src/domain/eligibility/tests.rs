//! RULES.md R8, R9.1 and R10.3 on referrals built to hit each outcome.

use super::*;
use crate::domain::calendar::hertfordshire_2026_27;
use crate::domain::codes::Session;
use crate::domain::referral::*;

fn d(s: &str) -> NaiveDate {
    s.parse().expect("test date")
}

const TODAY: &str = "2026-11-23";

fn herts() -> SchoolCalendar {
    SchoolCalendar::new(vec![hertfordshire_2026_27()])
}

fn text(s: &str) -> Option<Confidential> {
    Some(Confidential(s.to_string()))
}

fn evidence(source: EvidenceSource, issued_on: &str, days: Option<u32>) -> EvidenceItem {
    EvidenceItem {
        source,
        professional_name: Some("Dr A. Patel".into()),
        contact: None,
        issued_on: d(issued_on),
        states_unable_to_attend: true,
        likely_duration_school_days: days,
    }
}

/// A referral with everything Annex 2 asks for.
fn complete() -> ReferralForm {
    ReferralForm {
        school_urn: 117001,
        pupil: ReferredPupil {
            upn: "H801200001001".into(),
            legal_forename: "Amara".into(),
            legal_surname: "Okafor".into(),
            date_of_birth: d("2014-03-02"),
            postcode: Some("SG1 2AB".into()),
            home_la_code: Some(919),
            elective_home_education: false,
        },
        absence: AbsenceDeclaration {
            first_day: d("2026-10-01"),
            authorised_by_school: Some(true),
            reduced_timetable: false,
        },
        medical: MedicalInformation {
            condition_category: Some(ConditionCategory::MentalHealth),
            condition: text("anxiety"),
            long_term_or_recurrent: false,
            hospital_inpatient: false,
            evidence: vec![evidence(EvidenceSource::Camhs, "2026-10-10", Some(40))],
            treatment_plan_attached: false,
            named_medical_contact: None,
        },
        consent: Consent {
            parental_consent_signed: true,
            signed_on: Some(d("2026-10-12")),
            signatory: Some("Grace Okafor".into()),
        },
        support: SupportInPlace {
            apdr_attached: true,
            current_support_plan: text("key adult"),
            reintegration_plan_attached: false,
            ihcp: true,
        },
        funding: Funding::default(),
        baseline: Baseline {
            attainment: text("expected"),
            engagement: text("low"),
            wellbeing: text("low mood"),
        },
        pupil_voice: None,
        referrer: Referrer {
            name: "Sam Reed".into(),
            role: Some("SENDCo".into()),
            email: "sendco@example.org".into(),
        },
    }
}

fn mark(date: &str, session: Session, code: AttendanceCode) -> SessionMark {
    SessionMark::new(d(date), session, code)
}

fn run(first: &str, last: &str, sessions: u32) -> IllnessRun {
    IllnessRun {
        first: (d(first), Session::Am),
        last: (d(last), Session::Pm),
        sessions,
    }
}

/// 16 days of illness since 1 October, every session `I`.
fn ill_register() -> RegisterEvidence {
    RegisterEvidence {
        schools: vec![117001],
        illness_days_cumulative: 16.0,
        longest_run: Some(run("2026-10-01", "2026-10-22", 32)),
        current_run: None,
        absence_period_marks: vec![
            mark("2026-10-01", Session::Am, AttendanceCode::I),
            mark("2026-10-01", Session::Pm, AttendanceCode::I),
        ],
        part_time: vec![],
    }
}

fn assess_now(form: &ReferralForm, register: &RegisterEvidence) -> EligibilityAssessment {
    assess(form, register, &Policy::hertfordshire(), &herts(), d(TODAY))
}

fn criterion_of(a: &EligibilityAssessment, id: CriterionId) -> &CriterionResult {
    a.criteria
        .iter()
        .find(|c| c.id == id)
        .expect("every criterion is assessed")
}

fn missing_ids(a: &EligibilityAssessment) -> Vec<MissingItemId> {
    a.missing.iter().map(|m| m.item).collect()
}

#[test]
fn a_complete_referral_with_15_illness_days_is_eligible_and_says_why() {
    let a = assess_now(&complete(), &ill_register());
    assert_eq!(a.outcome, Outcome::Eligible, "{a:#?}");
    assert!(a.missing.is_empty());
    assert_eq!(a.criteria.len(), 6);
    assert!(
        a.criteria
            .iter()
            .all(|c| c.outcome == CriterionOutcome::Met),
        "{a:#?}"
    );
    assert_eq!(a.policy.name, "Hertfordshire ESMA");
    assert_eq!(a.facts.age_years, 12);
    assert_eq!(a.facts.national_curriculum_year, 8);
    assert_eq!(a.facts.illness_days_cumulative, 16.0);
    // 1 October to 23 November 2026: 33 school days, the October half term skipped.
    assert_eq!(a.facts.school_days_since_absence_began, 33);
    assert_eq!(
        criterion_of(&a, CriterionId::FifteenSchoolDays).reason,
        "Illness recorded on 16 school days since 1 September 2026; 15 are needed."
    );
    assert_eq!(
        criterion_of(&a, CriterionId::MedicalEvidence).reason,
        "CAMHS stated on 10 October 2026 that Amara is unable to attend school."
    );
}

// R8.1 -----------------------------------------------------------------------------------------

#[test]
fn statutory_school_age_met_too_young_and_too_old() {
    let a = assess_now(&complete(), &ill_register());
    let age = criterion_of(&a, CriterionId::StatutorySchoolAge);
    assert_eq!(age.outcome, CriterionOutcome::Met);
    assert!(
        age.reason
            .contains("on 23 November 2026 Amara is 12 (Year 8)"),
        "{}",
        age.reason
    );

    let mut young = complete();
    young.pupil.date_of_birth = d("2021-12-01"); // 5 on 1 Dec 2026 -> starts 31 Dec 2026
    let a = assess_now(&young, &ill_register());
    let age = criterion_of(&a, CriterionId::StatutorySchoolAge);
    assert_eq!(age.outcome, CriterionOutcome::NotMet);
    assert!(
        age.reason.contains(
            "not yet of compulsory school age on 23 November 2026: it starts on 31 December 2026"
        ),
        "{}",
        age.reason
    );
    assert_eq!(a.outcome, Outcome::Ineligible);

    let mut old = complete();
    old.pupil.date_of_birth = d("2010-08-31"); // ended 26 June 2026
    let a = assess_now(&old, &ill_register());
    let age = criterion_of(&a, CriterionId::StatutorySchoolAge);
    assert_eq!(age.outcome, CriterionOutcome::NotMet);
    assert!(
        age.reason.contains("it ended on 26 June 2026"),
        "{}",
        age.reason
    );
}

// R8.2 -----------------------------------------------------------------------------------------

#[test]
fn medical_evidence_outcomes_by_source() {
    let with = |items: Vec<EvidenceItem>| {
        let mut f = complete();
        f.medical.evidence = items;
        assess_now(&f, &ill_register())
    };
    let gp = with(vec![evidence(EvidenceSource::Gp, "2026-11-02", Some(20))]);
    let c = criterion_of(&gp, CriterionId::MedicalEvidence);
    assert_eq!(c.outcome, CriterionOutcome::MetWithConditions);
    assert!(
        c.reason
            .contains("Only a GP has stated (on 2 November 2026)"),
        "{}",
        c.reason
    );
    assert!(c.reason.contains("further medical advice is expected"));
    assert_eq!(
        gp.outcome,
        Outcome::Eligible,
        "met_with_conditions does not block"
    );

    let mut other = evidence(EvidenceSource::Other, "2026-11-02", Some(20));
    let only_other = with(vec![other.clone()]);
    let c = criterion_of(&only_other, CriterionId::MedicalEvidence);
    assert_eq!(c.outcome, CriterionOutcome::NotMet);
    assert!(
        c.reason
            .contains("sources the policy does not count (1 item)"),
        "{}",
        c.reason
    );
    assert_eq!(only_other.outcome, Outcome::Ineligible);

    other.source = EvidenceSource::Consultant;
    other.states_unable_to_attend = false;
    let not_stating = with(vec![other]);
    let c = criterion_of(&not_stating, CriterionId::MedicalEvidence);
    assert_eq!(c.outcome, CriterionOutcome::NotMet);
    assert!(
        c.reason
            .contains("None of the 1 evidence item dated on or before 23 November 2026 states"),
        "{}",
        c.reason
    );

    let none = with(vec![]);
    assert_eq!(
        criterion_of(&none, CriterionId::MedicalEvidence).outcome,
        CriterionOutcome::Unknown
    );
    assert_eq!(
        none.outcome,
        Outcome::Incomplete,
        "no evidence yet is missing, not ineligible"
    );
    assert!(missing_ids(&none).contains(&MissingItemId::MedicalEvidence));
}

#[test]
fn evidence_more_than_120_days_old_needs_updating_and_future_evidence_does_not_count() {
    let with = |items: Vec<EvidenceItem>| {
        let mut f = complete();
        f.medical.evidence = items;
        assess_now(&f, &ill_register())
    };
    // 2026-07-26 is exactly 120 days before 2026-11-23: still current.
    let edge = with(vec![evidence(
        EvidenceSource::Hospital,
        "2026-07-26",
        Some(30),
    )]);
    assert_eq!(
        criterion_of(&edge, CriterionId::MedicalEvidence).outcome,
        CriterionOutcome::Met
    );
    let old = with(vec![evidence(
        EvidenceSource::Hospital,
        "2026-07-25",
        Some(30),
    )]);
    let c = criterion_of(&old, CriterionId::MedicalEvidence);
    assert_eq!(c.outcome, CriterionOutcome::MetWithConditions);
    assert!(c.reason.contains("The newest evidence is from 25 July 2026, 121 days before 23 November 2026 (more than 120): updated evidence is needed."), "{}", c.reason);
    assert_eq!(old.facts.newest_qualifying_evidence_age_days, Some(121));

    let future = with(vec![evidence(
        EvidenceSource::Consultant,
        "2026-12-01",
        Some(30),
    )]);
    let c = criterion_of(&future, CriterionId::MedicalEvidence);
    assert_eq!(c.outcome, CriterionOutcome::NotMet);
    assert!(
        c.reason
            .contains("The item dated after 23 November 2026 (1 December 2026) cannot count yet."),
        "{}",
        c.reason
    );
    assert_eq!(
        c.evidence["items_dated_after_assessment"],
        serde_json::json!(["2026-12-01"])
    );
}

// R8.3 -----------------------------------------------------------------------------------------

#[test]
fn absence_authorised_outcomes_from_the_declaration_and_the_register() {
    let with = |declared: Option<bool>, marks: Vec<SessionMark>| {
        let mut f = complete();
        f.absence.authorised_by_school = declared;
        let mut r = ill_register();
        r.absence_period_marks = marks;
        assess_now(&f, &r)
    };
    let ill = vec![mark("2026-10-02", Session::Am, AttendanceCode::I)];
    let ok = with(Some(true), ill.clone());
    let c = criterion_of(&ok, CriterionId::AbsenceAuthorised);
    assert_eq!(c.outcome, CriterionOutcome::Met);
    assert!(
        c.reason
            .contains("in the 1 session marked since 1 October 2026"),
        "{}",
        c.reason
    );

    let g = with(
        Some(true),
        vec![
            mark("2026-10-02", Session::Am, AttendanceCode::I),
            mark("2026-10-05", Session::Pm, AttendanceCode::G),
            mark("2026-10-06", Session::Am, AttendanceCode::O),
        ],
    );
    let c = criterion_of(&g, CriterionId::AbsenceAuthorised);
    assert_eq!(c.outcome, CriterionOutcome::NotMet);
    assert_eq!(
        c.reason,
        "The register records unauthorised absence since 1 October 2026: 5 October 2026 PM (G), 6 October 2026 AM (O)."
    );
    // A G before the first day of absence is not this absence.
    let before = with(
        Some(true),
        vec![mark("2026-09-30", Session::Am, AttendanceCode::G)],
    );
    assert_ne!(
        criterion_of(&before, CriterionId::AbsenceAuthorised).outcome,
        CriterionOutcome::NotMet
    );

    let declared_no = with(Some(false), ill.clone());
    assert_eq!(
        criterion_of(&declared_no, CriterionId::AbsenceAuthorised).outcome,
        CriterionOutcome::NotMet
    );

    let n = with(
        Some(true),
        vec![mark("2026-11-16", Session::Am, AttendanceCode::N)],
    );
    let c = criterion_of(&n, CriterionId::AbsenceAuthorised);
    assert_eq!(c.outcome, CriterionOutcome::MetWithConditions);
    assert!(
        c.reason
            .contains("1 session is still N (reason not yet provided): 16 November 2026 AM (N)"),
        "{}",
        c.reason
    );

    let empty = with(Some(true), vec![]);
    let c = criterion_of(&empty, CriterionId::AbsenceAuthorised);
    assert_eq!(c.outcome, CriterionOutcome::MetWithConditions);
    assert!(
        c.reason
            .contains("no marks for the pupil from 1 October 2026 to 23 November 2026"),
        "{}",
        c.reason
    );

    let unsaid = with(None, ill);
    assert_eq!(
        criterion_of(&unsaid, CriterionId::AbsenceAuthorised).outcome,
        CriterionOutcome::Unknown
    );
    assert_eq!(unsaid.outcome, Outcome::Incomplete);
}

// R8.4, R8.6 -----------------------------------------------------------------------------------

#[test]
fn la_residence_and_elective_home_education() {
    let mut f = complete();
    f.pupil.home_la_code = Some(873);
    let a = assess_now(&f, &ill_register());
    let c = criterion_of(&a, CriterionId::LaResident);
    assert_eq!(c.outcome, CriterionOutcome::NotMet);
    assert!(
        c.reason.starts_with("Amara lives in LA 873, not LA 919"),
        "{}",
        c.reason
    );
    f.pupil.home_la_code = None;
    let a = assess_now(&f, &ill_register());
    assert_eq!(
        criterion_of(&a, CriterionId::LaResident).outcome,
        CriterionOutcome::Unknown
    );
    assert_eq!(a.outcome, Outcome::Incomplete);

    let mut ehe = complete();
    ehe.pupil.elective_home_education = true;
    let a = assess_now(&ehe, &ill_register());
    assert_eq!(
        criterion_of(&a, CriterionId::NotElectivelyHomeEducated).outcome,
        CriterionOutcome::NotMet
    );
    assert_eq!(a.outcome, Outcome::Ineligible);
}

// R8.5 -----------------------------------------------------------------------------------------

#[test]
fn fifteen_school_days_by_register_evidence_or_condition() {
    let short = |cumulative: f64, longest: u32| RegisterEvidence {
        illness_days_cumulative: cumulative,
        longest_run: (longest > 0).then(|| run("2026-11-02", "2026-11-20", longest)),
        ..ill_register()
    };
    let mut f = complete();
    f.medical.evidence = vec![evidence(EvidenceSource::Camhs, "2026-10-10", Some(10))];
    let a = assess_now(&f, &short(11.5, 8));
    let c = criterion_of(&a, CriterionId::FifteenSchoolDays);
    assert_eq!(c.outcome, CriterionOutcome::NotMet);
    assert_eq!(
        c.reason,
        "Illness recorded on 11.5 school days since 1 September 2026 (longest run: 4 days); 15 are needed, or medical evidence that the absence will last 15 school days or more. The school remains responsible for the first 15 days of absence."
    );
    assert_eq!(a.outcome, Outcome::Ineligible);

    // Exactly 15 cumulative days meets it.
    let a = assess_now(&f, &short(15.0, 8));
    assert_eq!(
        criterion_of(&a, CriterionId::FifteenSchoolDays).outcome,
        CriterionOutcome::Met
    );
    // 14.5 cumulative but a consecutive run counted across the summer holiday of 15.
    let a = assess_now(&f, &short(14.5, 30));
    let c = criterion_of(&a, CriterionId::FifteenSchoolDays);
    assert_eq!(c.outcome, CriterionOutcome::Met);
    assert!(
        c.reason.starts_with(
            "Illness recorded on 15 consecutive school days (2 November 2026 to 20 November 2026)"
        ),
        "{}",
        c.reason
    );

    // Evidence saying 15 school days: met, "expected".
    f.medical.evidence[0].likely_duration_school_days = Some(15);
    let a = assess_now(&f, &short(2.0, 4));
    let c = criterion_of(&a, CriterionId::FifteenSchoolDays);
    assert_eq!(c.outcome, CriterionOutcome::Met);
    assert!(
        c.reason
            .starts_with("The absence is expected to last 15 school days (CAMHS, 10 October 2026)"),
        "{}",
        c.reason
    );

    // Long-term or recurrent: support may start within the 15 days.
    f.medical.evidence[0].likely_duration_school_days = Some(5);
    f.medical.long_term_or_recurrent = true;
    f.medical.treatment_plan_attached = true;
    f.medical.named_medical_contact = text("Dr Patel");
    let a = assess_now(&f, &short(2.0, 4));
    let c = criterion_of(&a, CriterionId::FifteenSchoolDays);
    assert_eq!(c.outcome, CriterionOutcome::Met);
    assert!(c.reason.contains("long-term or recurrent"), "{}", c.reason);
}

// R9 -------------------------------------------------------------------------------------------

#[test]
fn each_missing_item_is_reported_with_its_reason() {
    type Unset = Box<dyn Fn(&mut ReferralForm)>;
    let cases: Vec<(MissingItemId, Unset)> = vec![
        (
            MissingItemId::ParentalConsent,
            Box::new(|f| f.consent.parental_consent_signed = false),
        ),
        (
            MissingItemId::Condition,
            Box::new(|f| f.medical.condition = text("  ")),
        ),
        (
            MissingItemId::Condition,
            Box::new(|f| f.medical.condition_category = None),
        ),
        (
            MissingItemId::LikelyDuration,
            Box::new(|f| f.medical.evidence[0].likely_duration_school_days = None),
        ),
        (
            MissingItemId::SupportPlan,
            Box::new(|f| f.support.current_support_plan = None),
        ),
        (
            MissingItemId::Apdr,
            Box::new(|f| f.support.apdr_attached = false),
        ),
        (
            MissingItemId::Baseline,
            Box::new(|f| f.baseline.wellbeing = None),
        ),
        (
            MissingItemId::FundingStatement,
            Box::new(|f| f.funding.ehcp = true),
        ),
        (
            MissingItemId::FundingStatement,
            Box::new(|f| f.funding.pupil_premium = true),
        ),
        (
            MissingItemId::FundingStatement,
            Box::new(|f| f.funding.local_high_needs_funding = true),
        ),
        (
            MissingItemId::ReintegrationPlan,
            Box::new(|f| f.absence.reduced_timetable = true),
        ),
        (
            MissingItemId::TreatmentPlan,
            Box::new(|f| {
                f.medical.long_term_or_recurrent = true;
                f.medical.named_medical_contact = text("Dr Patel");
            }),
        ),
        (
            MissingItemId::NamedMedicalContact,
            Box::new(|f| {
                f.medical.long_term_or_recurrent = true;
                f.medical.treatment_plan_attached = true;
            }),
        ),
    ];
    for (item, change) in cases {
        let mut f = complete();
        change(&mut f);
        let a = assess_now(&f, &ill_register());
        assert_eq!(missing_ids(&a), vec![item], "{item:?}");
        assert_eq!(a.outcome, Outcome::Incomplete, "{item:?}");
        assert!(
            a.missing[0].reason.ends_with('.'),
            "a sentence: {}",
            a.missing[0].reason
        );
    }
    let mut f = complete();
    f.baseline = Baseline::default();
    let a = assess_now(&f, &ill_register());
    assert!(a.missing[0]
        .reason
        .contains("missing: attainment, engagement, wellbeing"));
    // Funding with its statement, reduced timetable with its plan: nothing missing.
    let mut f = complete();
    f.funding.ehcp = true;
    f.funding.statement = text("EHCP funds a TA");
    f.absence.reduced_timetable = true;
    f.support.reintegration_plan_attached = true;
    assert!(assess_now(&f, &ill_register()).missing.is_empty());
}

#[test]
fn outcome_precedence_is_ineligible_then_incomplete_then_eligible() {
    let mut f = complete();
    f.consent.parental_consent_signed = false; // missing item
    f.pupil.home_la_code = Some(873); // not met
    let a = assess_now(&f, &ill_register());
    assert_eq!(a.outcome, Outcome::Ineligible);
    assert_eq!(
        missing_ids(&a),
        vec![MissingItemId::ParentalConsent],
        "missing items are still listed"
    );
    assert_eq!(a.failed_reasons().len(), 1);
    f.pupil.home_la_code = Some(919);
    assert_eq!(assess_now(&f, &ill_register()).outcome, Outcome::Incomplete);
    f.consent.parental_consent_signed = true;
    assert_eq!(assess_now(&f, &ill_register()).outcome, Outcome::Eligible);
}

// R10.3 ----------------------------------------------------------------------------------------

#[test]
fn the_assessment_deadline_skips_weekends_and_the_half_term() {
    let policy = Policy::hertfordshire();
    // Received Friday 16 October 2026: 5 school days to 23 Oct, half term 26-30 Oct, then 10 more.
    assert_eq!(
        assessment_due_by(d("2026-10-16"), &policy, &herts()),
        d("2026-11-13")
    );
    // Without a half term in the way: three school weeks.
    assert_eq!(
        assessment_due_by(d("2026-11-23"), &policy, &herts()),
        d("2026-12-14")
    );
    // Received on a Saturday: counting starts on the Monday.
    assert_eq!(
        assessment_due_by(d("2026-11-21"), &policy, &herts()),
        d("2026-12-11")
    );
}
