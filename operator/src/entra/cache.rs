//! The access token and when to stop using it.

use std::time::Duration;

use azp_ado::Secret;
use tokio::time::Instant;

/// A token is replaced this long before it expires, so a request never leaves with a token
/// that expires in flight and a clock a little off on either side does not matter.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// An access token and its expiry.
#[derive(Debug, Clone)]
pub struct CachedToken {
    token: Secret,
    expires_at: Instant,
}

impl CachedToken {
    /// A token that Entra said is valid for `expires_in` from `obtained_at`.
    pub fn new(token: Secret, obtained_at: Instant, expires_in: Duration) -> Self {
        Self {
            token,
            expires_at: obtained_at + expires_in,
        }
    }

    /// The token, while it is more than [`REFRESH_MARGIN`] (or, for short-lived tokens, half
    /// its lifetime) away from expiring at `now`.
    pub fn fresh(&self, now: Instant, lifetime: Duration) -> Option<&Secret> {
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        (now + margin < self.expires_at).then_some(&self.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_used_until_the_margin_before_expiry_then_refreshed() {
        let start = Instant::now();
        let hour = Duration::from_secs(3600);
        let cached = CachedToken::new(Secret::new("t"), start, hour);
        assert!(cached.fresh(start, hour).is_some());
        assert!(
            cached
                .fresh(start + hour - REFRESH_MARGIN - Duration::from_secs(1), hour)
                .is_some()
        );
        assert!(cached.fresh(start + hour - REFRESH_MARGIN, hour).is_none());
        assert!(cached.fresh(start + hour, hour).is_none());
    }

    #[test]
    fn a_short_lived_token_is_refreshed_at_half_its_lifetime() {
        let start = Instant::now();
        let lifetime = Duration::from_secs(120);
        let cached = CachedToken::new(Secret::new("t"), start, lifetime);
        assert!(
            cached
                .fresh(start + Duration::from_secs(59), lifetime)
                .is_some()
        );
        assert!(
            cached
                .fresh(start + Duration::from_secs(60), lifetime)
                .is_none()
        );
    }
}
