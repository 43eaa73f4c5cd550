//! How long each kind of record is kept before the scan prunes it (issue 20). A period of 0
//! keeps that kind for ever.

/// The shortest the audit trail may be kept: six years, like the registers (the database refuses
/// to remove a younger row). 6 × 365 days plus the two leap days six years may hold.
pub const AUDIT_FLOOR_DAYS: u32 = 6 * 365 + 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// `audit_events`: at least [`AUDIT_FLOOR_DAYS`].
    pub audit_days: u32,
    /// `events` with their deliveries, counted from the last attempt of a delivery that is over;
    /// an event still to be delivered is never pruned.
    pub events_days: u32,
    /// `webhook_attempts`, counted from the last attempt of a delivery that is over.
    pub attempts_days: u32,
    /// `changes` (the change feed); a reader behind the pruned prefix is told (410).
    pub changes_days: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            audit_days: AUDIT_FLOOR_DAYS,
            events_days: 90,
            attempts_days: 90,
            changes_days: 400,
        }
    }
}

impl RetentionPolicy {
    /// The settings' problems, in words an operator can act on.
    pub fn check(&self) -> Result<(), String> {
        if self.audit_days != 0 && self.audit_days < AUDIT_FLOOR_DAYS {
            return Err(format!(
                "ESMA_RETAIN_AUDIT_DAYS should be at least {AUDIT_FLOOR_DAYS} (six years) or 0 (for ever), not {}",
                self.audit_days
            ));
        }
        // Kept at least as long as a delivery is retried (about three days) plus a margin.
        for (name, days) in [
            ("ESMA_RETAIN_EVENTS_DAYS", self.events_days),
            ("ESMA_RETAIN_ATTEMPTS_DAYS", self.attempts_days),
            ("ESMA_RETAIN_CHANGES_DAYS", self.changes_days),
        ] {
            if days != 0 && days < 7 {
                return Err(format!(
                    "{name} should be at least 7 or 0 (for ever), not {days}"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_trail_is_kept_six_years_at_least() {
        assert_eq!(RetentionPolicy::default().check(), Ok(()));
        let short = RetentionPolicy {
            audit_days: 365,
            ..RetentionPolicy::default()
        };
        assert!(short.check().unwrap_err().contains("six years"));
        let forever = RetentionPolicy {
            audit_days: 0,
            changes_days: 0,
            ..RetentionPolicy::default()
        };
        assert_eq!(forever.check(), Ok(()));
        let tiny = RetentionPolicy {
            events_days: 1,
            ..RetentionPolicy::default()
        };
        assert!(tiny.check().is_err());
    }
}
