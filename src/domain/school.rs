//! Schools as the LA knows them (RULES.md R6.2, API.md "Schools and the calendar").

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::identifiers::{Laestab, Urn};

/// Phase of education, as in Get Information about Schools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Nursery,
    Primary,
    Middle,
    Secondary,
    AllThrough,
    Special,
    AlternativeProvision,
    SixteenPlus,
}

impl Phase {
    pub const ALL: [Phase; 8] = [
        Phase::Nursery,
        Phase::Primary,
        Phase::Middle,
        Phase::Secondary,
        Phase::AllThrough,
        Phase::Special,
        Phase::AlternativeProvision,
        Phase::SixteenPlus,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Nursery => "nursery",
            Phase::Primary => "primary",
            Phase::Middle => "middle",
            Phase::Secondary => "secondary",
            Phase::AllThrough => "all_through",
            Phase::Special => "special",
            Phase::AlternativeProvision => "alternative_provision",
            Phase::SixteenPlus => "sixteen_plus",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// R6.2: a URN is 6 digits (as an `i32`, the storage type).
pub fn check_urn(urn: i64) -> Result<i32, String> {
    u32::try_from(urn)
        .ok()
        .and_then(|u| Urn::new(u).ok())
        .map(|u| u.get() as i32)
        .ok_or_else(|| format!("URN should be a number of 6 digits, not {urn}"))
}

/// R6.2: a LAESTAB is 7 digits, the LA number then the establishment number; a school of this
/// service must carry this LA's number.
pub fn check_laestab(laestab: &str, la_code: u16) -> Result<(), String> {
    let parsed = Laestab::parse(laestab).map_err(|e| e.to_string())?;
    if parsed.la_number() != la_code {
        return Err(format!(
            "LAESTAB {laestab} starts with LA number {:03}, but this service's LA is {la_code:03}",
            parsed.la_number()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urn_is_six_digits() {
        assert_eq!(check_urn(117001), Ok(117001));
        assert_eq!(check_urn(100000), Ok(100000));
        assert!(check_urn(99999)
            .unwrap_err()
            .contains("6 digits, not 99999"));
        assert!(check_urn(1_000_000).is_err());
        assert!(check_urn(-117001).is_err());
    }

    #[test]
    fn laestab_is_seven_digits_of_this_la() {
        assert_eq!(check_laestab("9192000", 919), Ok(()));
        assert!(
            check_laestab("919200", 919)
                .unwrap_err()
                .contains("7 digits"),
            "{:?}",
            check_laestab("919200", 919)
        );
        assert!(check_laestab("91920a0", 919).is_err());
        assert!(check_laestab("٩١٩٢٠٠٠", 919).is_err());
        assert!(check_laestab("8012000", 919)
            .unwrap_err()
            .contains("LA is 919"));
    }

    #[test]
    fn phases_round_trip() {
        for p in Phase::ALL {
            assert_eq!(Phase::parse(p.as_str()), Some(p));
        }
        assert_eq!(Phase::parse("Primary"), None);
    }
}
