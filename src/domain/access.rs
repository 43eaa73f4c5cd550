//! Who may do what (API.md "Authentication and roles").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The role of an API client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An MIS acting for its listed schools only.
    School,
    /// The LA portal and ESMA officers: every school of the LA.
    La,
    /// Operators: clients and the audit trail.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::School => "school",
            Role::La => "la",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        [Role::School, Role::La, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "school" => Ok(Role::School),
            "la" => Ok(Role::La),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "role should be one of school, la, admin; not '{other}'"
            )),
        }
    }
}

/// What a caller may see of a school's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchoolAccess {
    Allowed,
    /// Not this caller's school: reads answer 404 (no existence leak), writes 403.
    OtherSchool,
    /// The role never touches school data (admin).
    WrongRole,
}

/// A school client acts only for its listed URNs; `la` for every school; `admin` for none.
pub fn school_access(role: Role, own_schools: &[i32], urn: i32) -> SchoolAccess {
    match role {
        Role::La => SchoolAccess::Allowed,
        Role::School if own_schools.contains(&urn) => SchoolAccess::Allowed,
        Role::School => SchoolAccess::OtherSchool,
        Role::Admin => SchoolAccess::WrongRole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn school_clients_act_only_for_their_own_urns() {
        assert_eq!(
            school_access(Role::School, &[117001], 117001),
            SchoolAccess::Allowed
        );
        assert_eq!(
            school_access(Role::School, &[117001], 117002),
            SchoolAccess::OtherSchool
        );
        assert_eq!(
            school_access(Role::School, &[], 117002),
            SchoolAccess::OtherSchool
        );
        assert_eq!(school_access(Role::La, &[], 117002), SchoolAccess::Allowed);
        assert_eq!(
            school_access(Role::Admin, &[117001], 117001),
            SchoolAccess::WrongRole
        );
    }

    #[test]
    fn roles_round_trip_and_reject_unknown_names() {
        for role in [Role::School, Role::La, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("LA".parse::<Role>().unwrap_err().contains("not 'LA'"));
    }
}
