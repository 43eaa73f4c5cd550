//! The progress report as a page a parent, a SENDCo or a consultant reads without help, and
//! prints on A4: plain HTML with its own stylesheet and server-drawn SVG charts; no script and
//! nothing loaded from anywhere else (issue 23 item 5).

use std::fmt::Write;

use chrono::NaiveDate;

use super::cases::ReviewView;
use super::reports::CaseReportView;
use crate::domain::attendance::AttendanceMeasures;
use crate::domain::eligibility::long_date;
use crate::domain::referral::Confidential;
use crate::domain::report::RegisterWeek;

const STYLE: &str = r#"
:root { color-scheme: light; --ink: #1b1b1b; --muted: #555; --line: #c9c9c9; --before: #8a9bb0; --during: #1d70b8; }
* { box-sizing: border-box; }
body { font: 11pt/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: var(--ink); margin: 0 auto; max-width: 46rem; padding: 1.5rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.1rem; margin: 1.6rem 0 .5rem; border-bottom: 2px solid var(--ink); padding-bottom: .15rem; }
p.lead { color: var(--muted); margin: 0 0 1rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.code { font-size: 1.6rem; font-weight: 700; border: 2px solid var(--ink); padding: .1rem .6rem; display: inline-block; margin-right: .6rem; }
.callout { display: flex; align-items: center; border-left: 6px solid var(--during); background: #f3f7fb; padding: .6rem .8rem; }
figure { margin: .5rem 0; }
figcaption { color: var(--muted); font-size: .9rem; }
.key { display: inline-block; width: .8rem; height: .8rem; vertical-align: -.05rem; margin: 0 .25rem 0 .6rem; }
svg text { font: 10px system-ui, Arial, sans-serif; fill: #333; }
section { break-inside: avoid; page-break-inside: avoid; }
footer { margin-top: 2rem; color: var(--muted); font-size: .85rem; }
@page { size: A4; margin: 15mm 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .callout { background: none; }
}
"#;

/// Escapes text for HTML element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A serde word (`one_to_one_tuition`) as words (`one to one tuition`).
fn words<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s.replace('_', " "),
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

fn short_date(date: NaiveDate) -> String {
    date.format("%-d %b").to_string()
}

/// One bar of a chart: a percentage, drawn in the stronger colour when `strong`.
struct Bar {
    label: String,
    percent: f64,
    strong: bool,
    /// Shown on hover, and read by screen readers.
    tip: String,
    /// Whether anything was counted (a counted 0% keeps a sliver, so it reads as 0%, not as no data).
    counted: bool,
}

/// A bar chart of percentages, 0-100%, drawn here so the page needs nothing else.
fn bar_chart(id: &str, title: &str, desc: &str, bars: &[Bar]) -> String {
    const WIDTH: f64 = 640.0;
    const HEIGHT: f64 = 190.0;
    const LEFT: f64 = 34.0;
    const BOTTOM: f64 = 24.0;
    const TOP: f64 = 8.0;
    let plot_w = WIDTH - LEFT - 6.0;
    let plot_h = HEIGHT - BOTTOM - TOP;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-labelledby="{id}-title {id}-desc"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        esc(title),
        esc(desc)
    );
    for pct in [0, 50, 90, 100] {
        let y = TOP + plot_h * (1.0 - f64::from(pct) / 100.0);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="{}" stroke-width="1"{}/><text x="{}" y="{:.1}" text-anchor="end">{pct}%</text>"##,
            WIDTH - 6.0,
            if pct == 90 { "#b58900" } else { "#d0d0d0" },
            if pct == 90 {
                r#" stroke-dasharray="4 3""#
            } else {
                ""
            },
            LEFT - 4.0,
            y + 3.5
        );
    }
    let n = bars.len().max(1) as f64;
    let slot = plot_w / n;
    let width = (slot * 0.72).clamp(1.0, 90.0);
    let label_every = ((n / 10.0).ceil() as usize).max(1);
    for (i, bar) in bars.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - width) / 2.0;
        let mut h = plot_h * (bar.percent / 100.0).clamp(0.0, 1.0);
        if bar.counted {
            h = h.max(1.5);
        }
        let y = TOP + plot_h - h;
        let colour = if bar.strong {
            "var(--during)"
        } else {
            "var(--before)"
        };
        let _ = write!(
            svg,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{h:.1}" fill="{colour}"><title>{}</title></rect>"#,
            esc(&bar.tip)
        );
        if i % label_every == 0 {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x + width / 2.0,
                HEIGHT - 8.0,
                esc(&bar.label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The weekly register attendance: the weeks of support in the stronger colour.
fn register_chart(weeks: &[RegisterWeek]) -> String {
    let bars: Vec<Bar> = weeks
        .iter()
        .map(|w| Bar {
            label: short_date(w.week_starting),
            percent: w.attendance_rate,
            strong: w.during_support,
            tip: format!(
                "Week of {}: {}% ({} of {} sessions)",
                short_date(w.week_starting),
                w.attendance_rate,
                w.attended_sessions,
                w.possible_sessions
            ),
            counted: w.possible_sessions > 0,
        })
        .collect();
    bar_chart(
        "reg",
        "School register attendance by week",
        "One bar per school week: the percentage of possible sessions the pupil attended school. Weeks since support began are dark blue.",
        &bars,
    )
}

fn engagement(mean: Option<f64>) -> String {
    mean.map_or_else(|| "&ndash;".to_string(), |m| format!("{m} of 4"))
}

/// ESMA's lessons: by subject (a table and a chart) and by week (a chart), R14.4.
fn lessons_section(page: &mut String, report: &CaseReportView) {
    let lessons = &report.lessons;
    page.push_str("<section><h2>ESMA lessons</h2>");
    if lessons.overall.all.planned == 0 {
        page.push_str("<p>No lesson has been recorded yet.</p></section>");
        return;
    }
    page.push_str(r#"<p>Attended: came to the lesson, on time or late. Engagement: 1 (not engaged) to 4 (fully engaged), over the lessons attended.</p><table><thead><tr><th></th><th class="num">Planned</th><th class="num">Attended</th><th class="num">Attendance</th><th class="num">Hours</th><th class="num">Engagement</th><th class="num">Last 10 lessons</th></tr></thead><tbody>"#);
    let rows = lessons
        .by_subject
        .iter()
        .map(|(subject, m)| (words(subject), m))
        .chain(std::iter::once((
            "all subjects".to_string(),
            &lessons.overall,
        )));
    for (label, m) in rows {
        let _ = write!(
            page,
            r#"<tr><th scope="row">{}</th><td class="num">{}</td><td class="num">{}</td><td class="num">{}%</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}%</td></tr>"#,
            esc(&label),
            m.all.planned,
            m.all.attended,
            m.all.attendance_rate,
            m.all.hours_delivered,
            engagement(m.all.mean_engagement),
            m.last_10.attendance_rate
        );
    }
    page.push_str("</tbody></table>");
    let subjects: Vec<Bar> = lessons
        .by_subject
        .iter()
        .map(|(subject, m)| Bar {
            label: words(subject),
            percent: m.all.attendance_rate,
            strong: true,
            tip: format!(
                "{}: {}% of {} lessons attended; engagement {}",
                words(subject),
                m.all.attendance_rate,
                m.all.planned,
                m.all
                    .mean_engagement
                    .map_or_else(|| "-".to_string(), |e| format!("{e} of 4"))
            ),
            counted: m.all.planned > 0,
        })
        .collect();
    let _ = write!(
        page,
        "<figure>{}<figcaption>Lesson attendance by subject.</figcaption></figure>",
        bar_chart(
            "subj",
            "ESMA lesson attendance by subject",
            "One bar per subject: the percentage of planned lessons the pupil attended.",
            &subjects
        )
    );
    let weeks: Vec<Bar> = lessons
        .weeks
        .iter()
        .map(|w| Bar {
            label: short_date(w.week_starting),
            percent: w.measures.attendance_rate,
            strong: true,
            tip: format!(
                "Week of {}: {}% of {} lessons attended; engagement {}",
                short_date(w.week_starting),
                w.measures.attendance_rate,
                w.measures.planned,
                w.measures
                    .mean_engagement
                    .map_or_else(|| "-".to_string(), |e| format!("{e} of 4"))
            ),
            counted: w.measures.planned > 0,
        })
        .collect();
    let _ = write!(
        page,
        "<figure>{}<figcaption>Lesson attendance each week (hover a bar for its engagement).</figcaption></figure></section>",
        bar_chart(
            "lw",
            "ESMA lesson attendance by week",
            "One bar per week: the percentage of planned lessons the pupil attended.",
            &weeks
        )
    );
}

fn measures_row(label: &str, m: &AttendanceMeasures) -> String {
    format!(
        r#"<tr><th scope="row">{label}</th><td class="num">{}</td><td class="num">{}</td><td class="num">{}%</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
        m.possible_sessions,
        m.present + m.approved_educational_activity,
        m.attendance_rate,
        m.authorised_absence,
        m.unauthorised_absence
    )
}

fn review_row(r: &ReviewView, held: bool) -> String {
    let when = if held {
        r.held_on.map_or_else(String::new, long_date)
    } else {
        long_date(r.scheduled_for)
    };
    let outcome = if held {
        held_outcome(r)
    } else {
        esc(&words(&r.kind))
    };
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        esc(&when),
        esc(&r.label),
        outcome
    )
}

/// What a held review recorded, as lines a reader follows (who came, the pupil's voice, the
/// targets, actions and next steps), or what satisfied it (a termly evidence update, R11.3).
fn held_outcome(r: &ReviewView) -> String {
    let Some(outcome) = &r.outcome else {
        return r.note.as_deref().map(esc).unwrap_or_default();
    };
    let text = |field: &Option<Confidential>| -> Option<String> {
        field
            .as_ref()
            .map(|t| t.0.clone())
            .filter(|t| !t.trim().is_empty())
    };
    let mut lines = Vec::new();
    if !outcome.attendees.is_empty() {
        lines.push(("With", outcome.attendees.join(", ")));
    }
    for (label, field) in [
        ("The pupil said", &outcome.pupil_voice),
        ("Targets", &outcome.targets),
        ("Actions", &outcome.actions),
        ("Next steps", &outcome.next_steps),
    ] {
        if let Some(t) = text(field) {
            lines.push((label, t));
        }
    }
    lines
        .iter()
        .map(|(label, t)| format!("<strong>{label}:</strong> {}", esc(t)))
        .collect::<Vec<_>>()
        .join("<br>")
}

fn optional(text: &Option<String>) -> String {
    text.as_deref().map_or_else(|| "&ndash;".to_string(), esc)
}

/// The Holistic Reintegration Plan: targets with their latest progress, the voices, the phased
/// return, and the baseline against the latest (R14.1, R14.2).
fn plan_sections(page: &mut String, report: &CaseReportView) {
    let Some(plan) = &report.plan else {
        page.push_str("<section><h2>Holistic Reintegration Plan</h2><p>No plan has been written yet.</p></section>");
        return;
    };
    let _ = write!(
        page,
        "<section><h2>Holistic Reintegration Plan</h2><p>Version {}, {}.</p>",
        plan.version,
        esc(&words(&plan.status))
    );
    if plan.targets.is_empty() {
        page.push_str("<p>No targets yet.</p>");
    } else {
        page.push_str("<table><thead><tr><th>Target</th><th>Who</th><th>Measured by</th><th>By</th><th>Progress</th></tr></thead><tbody>");
        for t in &plan.targets {
            let progress = t.latest_progress.as_ref().map_or_else(
                || "not reviewed yet".to_string(),
                |p| {
                    let mut text = format!("{} ({})", words(&p.progress), long_date(p.held_on));
                    if let Some(note) = &p.note {
                        text.push_str(": ");
                        text.push_str(note);
                    }
                    text
                },
            );
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&t.description),
                esc(&words(&t.owner)),
                esc(&t.measure),
                t.by.map_or_else(|| "&ndash;".to_string(), |d| esc(&long_date(d))),
                esc(&progress)
            );
        }
        page.push_str("</tbody></table>");
    }
    let _ = write!(
        page,
        r#"<dl class="facts"><dt>The pupil says</dt><dd>{}</dd><dt>The parents say</dt><dd>{}</dd>"#,
        optional(&plan.pupil_voice),
        optional(&plan.parent_voice)
    );
    if !plan.reintegration_steps.is_empty() {
        page.push_str("<dt>Return to school</dt><dd>");
        for (i, step) in plan.reintegration_steps.iter().enumerate() {
            if i > 0 {
                page.push_str("<br>");
            }
            let _ = write!(
                page,
                "from {}: {} sessions a week in school",
                esc(&long_date(step.from)),
                step.sessions_per_week
            );
        }
        page.push_str("</dd>");
    }
    page.push_str("</dl></section>");
    if let Some(a) = &report.attainment {
        let _ = write!(
            page,
            "<section><h2>Attainment and wellbeing</h2><p>On the scale: {}.</p><table><thead><tr><th></th><th>At the start of the plan</th><th>Now</th></tr></thead><tbody>",
            optional(&a.latest.scale.clone().or_else(|| a.baseline.scale.clone()))
        );
        for (label, first, now) in [
            ("English", &a.baseline.english, &a.latest.english),
            ("Maths", &a.baseline.maths, &a.latest.maths),
            ("Science", &a.baseline.science, &a.latest.science),
            ("Engagement", &a.baseline.engagement, &a.latest.engagement),
            (
                "Emotional wellbeing",
                &a.baseline.emotional_wellbeing,
                &a.latest.emotional_wellbeing,
            ),
        ] {
            let _ = write!(
                page,
                r#"<tr><th scope="row">{label}</th><td>{}</td><td>{}</td></tr>"#,
                optional(first),
                optional(now)
            );
        }
        page.push_str("</tbody></table></section>");
    }
}

/// The whole page.
pub fn render(report: &CaseReportView) -> String {
    let case = &report.case;
    let who = report
        .subject
        .pupil_name
        .as_deref()
        .map_or_else(|| report.subject.upn.clone(), str::to_string);
    let school = report.subject.school_name.as_deref().map_or_else(
        || format!("URN {}", report.subject.school_urn),
        str::to_string,
    );
    let mut page = String::with_capacity(16 * 1024);
    let _ = write!(
        page,
        r#"<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"><title>Progress report: {} ({})</title><style>{STYLE}</style></head><body>"#,
        esc(&who),
        esc(&report.subject.upn)
    );
    let _ = write!(
        page,
        r#"<header><h1>Progress report: {}</h1><p class="lead">Education Support for Medical Absence (ESMA) &middot; {} &middot; UPN {} &middot; as of {}</p></header>"#,
        esc(&who),
        esc(&school),
        esc(&report.subject.upn),
        esc(&long_date(report.generated_on))
    );

    // The support so far.
    let status = match &case.exit {
        Some(exit) => format!(
            "ended on {} ({})",
            long_date(exit.effective_date),
            words(&exit.reason)
        ),
        None => words(&case.status),
    };
    let _ = write!(
        page,
        r#"<section><h2>The support so far</h2><dl class="facts"><dt>{}</dt><dd>{}</dd><dt>Status</dt><dd>{}</dd><dt>School days of support</dt><dd>{}</dd><dt>Provision</dt><dd>"#,
        if case.start_date > report.generated_on {
            "Starts"
        } else {
            "Started"
        },
        esc(&long_date(case.start_date)),
        esc(&status),
        report.school_days_of_support
    );
    if case.provision.is_empty() {
        page.push_str("none recorded");
    }
    for (i, item) in case.provision.iter().enumerate() {
        if i > 0 {
            page.push_str("<br>");
        }
        let _ = write!(
            page,
            "{} &middot; {} hours a week &middot; {}",
            esc(&words(&item.kind)),
            item.hours_per_week,
            esc(&words(&item.venue))
        );
    }
    page.push_str("</dd></dl></section>");

    // The register code.
    let code = case
        .support_register_code
        .map(|c| c.as_str().to_string())
        .unwrap_or_else(|| "&ndash;".to_string());
    let _ = write!(
        page,
        r#"<section><h2>Recording the register</h2><div class="callout"><span class="code">{code}</span><span>{}</span></div></section>"#,
        esc(&case.register_code_now)
    );

    lessons_section(&mut page, report);
    plan_sections(&mut page, report);

    // The school register.
    let reg = &report.register;
    let _ = write!(
        page,
        r#"<section><h2>School attendance</h2><p>From {} to {}. Attended: present or at an approved educational activity (DfE measures).</p><table><thead><tr><th></th><th class="num">Possible sessions</th><th class="num">Attended</th><th class="num">Attendance</th><th class="num">Authorised absence</th><th class="num">Unauthorised absence</th></tr></thead><tbody>{}{}</tbody></table>"#,
        esc(&long_date(reg.from)),
        esc(&long_date(reg.to)),
        measures_row("Before support", &reg.split.before_support),
        measures_row("During support", &reg.split.during_support)
    );
    if reg.weeks.is_empty() {
        page.push_str("<p>No register has been received for this period.</p>");
    } else {
        let _ = write!(
            page,
            r#"<figure>{}<figcaption>Attendance at school each week.<span class="key" style="background:var(--before)"></span>before support<span class="key" style="background:var(--during)"></span>during support; dashed line: 90%.</figcaption></figure>"#,
            register_chart(&reg.weeks)
        );
    }
    page.push_str("</section>");

    // Reviews.
    page.push_str("<section><h2>Reviews</h2>");
    if report.reviews_held.is_empty() {
        page.push_str("<p>No review has been held yet.</p>");
    } else {
        page.push_str(
            "<table><thead><tr><th>Held</th><th>Review</th><th>Outcome</th></tr></thead><tbody>",
        );
        for r in &report.reviews_held {
            page.push_str(&review_row(r, true));
        }
        page.push_str("</tbody></table>");
    }
    if !report.next_reviews.is_empty() {
        page.push_str("<p><strong>Next</strong></p><table><thead><tr><th>Scheduled for</th><th>Review</th><th>Kind</th></tr></thead><tbody>");
        for r in &report.next_reviews {
            page.push_str(&review_row(r, false));
        }
        page.push_str("</tbody></table>");
    }
    page.push_str("</section>");

    // Medical evidence gates (R11.4).
    if !case.evidence_clock.is_empty() {
        page.push_str("<section><h2>Medical evidence</h2><table><thead><tr><th>Gate</th><th>On</th><th>Evidence</th></tr></thead><tbody>");
        for gate in &case.evidence_clock {
            let state = match gate.satisfied_by {
                Some(d) => format!("received, dated {}", long_date(d)),
                None if gate.evidence_due => "due now".to_string(),
                None => format!("due from {}", long_date(gate.evidence_due_from)),
            };
            let _ = write!(
                page,
                "<tr><td>{} school weeks</td><td>{}</td><td>{}</td></tr>",
                gate.school_weeks,
                esc(&long_date(gate.gate_on)),
                esc(&state)
            );
        }
        page.push_str("</tbody></table></section>");
    }

    let _ = write!(
        page,
        "<footer>Case {} &middot; produced by esma-api on {} from the school's register and ESMA's records. It holds personal data about a child: keep it safe and share it only with those supporting the pupil.</footer></body></html>",
        case.id,
        esc(&long_date(report.generated_on))
    );
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc(r#"<b>"O'Neil" & co</b>"#),
            "&lt;b&gt;&quot;O&#39;Neil&quot; &amp; co&lt;/b&gt;"
        );
    }

    #[test]
    fn the_chart_has_a_bar_per_week_and_nothing_from_outside() {
        let weeks: Vec<RegisterWeek> = (0..3)
            .map(|i| RegisterWeek {
                week_starting: NaiveDate::from_ymd_opt(2026, 11, 2 + 7 * i).unwrap(),
                possible_sessions: 10,
                attended_sessions: 10 - 3 * i,
                attendance_rate: 100.0 - 30.0 * f64::from(i),
                during_support: i == 2,
            })
            .collect();
        let svg = register_chart(&weeks);
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(
            svg.contains("Week of 16 Nov: 40% (4 of 10 sessions)"),
            "{svg}"
        );
        assert_eq!(svg.matches("var(--during)").count(), 1);
        assert!(!svg.contains("href"), "no link or outside asset");
    }
}
