//! The ECR authorization token and its lifetime rules.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};

/// ECR documents tokens as valid for 12 hours; when the reported expiry is unusable we assume
/// a little less, so a refresh always happens before the real expiry.
pub const ASSUMED_LIFETIME: Duration = Duration::hours(11);
/// A reported expiry closer than this to the issue time is treated as unusable (see [`effective_expiry`]).
pub const MIN_CREDIBLE_LIFETIME: Duration = Duration::hours(1);
/// Refresh this long before the effective expiry, so a push never starts with a token about to lapse.
pub const REFRESH_MARGIN: Duration = Duration::minutes(30);

/// A registry credential as returned by `GetAuthorizationToken`.
///
/// `auth` is base64(`AWS:<password>`), exactly the format Docker's `config.json` stores in
/// `auths.<host>.auth`, so it is written verbatim. It is never printed: `Debug` redacts it.
#[derive(Clone)]
pub struct AuthToken {
    /// Registry host (no scheme), e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com`.
    pub registry_host: String,
    /// base64(`user:password`); secret.
    pub auth: String,
    /// When the agent must stop relying on this token (already clamped by [`effective_expiry`]).
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthToken")
            .field("registry_host", &self.registry_host)
            .field("auth", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why a token returned by ECR cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not base64 — the token content itself is deliberately not included.
    #[error("the authorization token is not valid base64")]
    NotBase64,
    /// Decoded, but not `user:password`.
    #[error("the authorization token does not decode to user:password")]
    NotUserPassword,
    /// `proxyEndpoint` has no host part.
    #[error("the proxy endpoint {0:?} has no host")]
    BadProxyEndpoint(String),
}

/// Checks that `auth` is base64(`user:password`) and returns the user name (`AWS` for ECR).
pub fn token_user(auth: &str) -> Result<String, TokenError> {
    let decoded = STANDARD
        .decode(auth.trim())
        .map_err(|_| TokenError::NotBase64)?;
    let text = String::from_utf8(decoded).map_err(|_| TokenError::NotUserPassword)?;
    match text.split_once(':') {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => Ok(user.to_owned()),
        _ => Err(TokenError::NotUserPassword),
    }
}

/// The host Docker keys credentials by, from ECR's `proxyEndpoint` (`https://host[:port]`).
pub fn registry_host_from_proxy_endpoint(proxy_endpoint: &str) -> Result<String, TokenError> {
    let without_scheme = proxy_endpoint
        .strip_prefix("https://")
        .or_else(|| proxy_endpoint.strip_prefix("http://"))
        .unwrap_or(proxy_endpoint);
    let host = without_scheme.trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err(TokenError::BadProxyEndpoint(proxy_endpoint.to_owned()));
    }
    Ok(host.to_owned())
}

/// The expiry the agent plans with.
///
/// ECR's `expiresAt` is trusted when it lies at least [`MIN_CREDIBLE_LIFETIME`] after the
/// token was issued. Otherwise — missing, in the past (moto hard-codes 2015-01-01), or
/// implausibly close — the token was just issued and is assumed valid for [`ASSUMED_LIFETIME`]
/// from `issued_at`. This keeps refresh logic from spinning on a stale timestamp.
pub fn effective_expiry(
    reported: Option<DateTime<Utc>>,
    issued_at: DateTime<Utc>,
) -> DateTime<Utc> {
    match reported {
        Some(at) if at >= issued_at + MIN_CREDIBLE_LIFETIME => at,
        _ => issued_at + ASSUMED_LIFETIME,
    }
}

/// When a token expiring at `expires_at` should be refreshed.
pub fn refresh_at(expires_at: DateTime<Utc>) -> DateTime<Utc> {
    expires_at - REFRESH_MARGIN
}

/// Whether a token expiring at `expires_at` must be refreshed at `now`.
pub fn needs_refresh(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now >= refresh_at(expires_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, h, m, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn moto_expiry_in_the_past_is_replaced_by_assumed_lifetime() {
        let issued = at(10, 0);
        let moto = Utc.with_ymd_and_hms(2015, 1, 1, 0, 0, 0).single();
        assert_eq!(effective_expiry(moto, issued), at(21, 0));
        assert!(!needs_refresh(effective_expiry(moto, issued), issued));
    }

    #[test]
    fn real_twelve_hour_expiry_is_trusted() {
        let issued = at(10, 0);
        assert_eq!(effective_expiry(Some(at(22, 0)), issued), at(22, 0));
    }

    #[test]
    fn implausibly_short_or_missing_expiry_uses_assumed_lifetime() {
        let issued = at(10, 0);
        assert_eq!(effective_expiry(Some(at(10, 59)), issued), at(21, 0));
        assert_eq!(effective_expiry(None, issued), at(21, 0));
        assert_eq!(effective_expiry(Some(at(11, 0)), issued), at(11, 0));
    }

    #[test]
    fn refresh_is_due_thirty_minutes_before_expiry() {
        let expires = at(22, 0);
        assert!(!needs_refresh(expires, at(21, 29)));
        assert!(needs_refresh(expires, at(21, 30)));
        assert!(needs_refresh(expires, at(23, 0)));
    }

    #[test]
    fn token_user_accepts_moto_token_and_rejects_garbage() {
        // base64("AWS:123456789012-auth-token"), what moto returns.
        assert_eq!(
            token_user("QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu"),
            Ok("AWS".to_owned())
        );
        assert_eq!(token_user("not base64!"), Err(TokenError::NotBase64));
        assert_eq!(
            token_user(&STANDARD.encode("no-colon")),
            Err(TokenError::NotUserPassword)
        );
        assert_eq!(
            token_user(&STANDARD.encode("AWS:")),
            Err(TokenError::NotUserPassword)
        );
    }

    #[test]
    fn proxy_endpoint_host_strips_scheme_and_slash() {
        assert_eq!(
            registry_host_from_proxy_endpoint(
                "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"
            ),
            Ok("123456789012.dkr.ecr.us-east-1.amazonaws.com".to_owned())
        );
        assert_eq!(
            registry_host_from_proxy_endpoint("https://h:5000/"),
            Ok("h:5000".to_owned())
        );
        assert!(registry_host_from_proxy_endpoint("https://").is_err());
        assert!(registry_host_from_proxy_endpoint("https://h/path").is_err());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = AuthToken {
            registry_host: "h".into(),
            auth: "c2VjcmV0OnNlY3JldA==".into(),
            expires_at: at(1, 0),
        };
        let shown = format!("{token:?}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
