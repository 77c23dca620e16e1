//! Emulator configuration.

use std::time::Duration;

/// Everything that shapes one emulator instance. `Default` gives the real service's timings.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Organization (collection) name: the first path segment of every `_apis` URL.
    pub org: String,
    /// The one valid personal access token (Basic auth password, any username).
    pub pat: String,
    /// Pool names; ids are assigned in order starting at 10, so index/id confusions show.
    pub pools: Vec<String>,
    /// An extra static "Entra" bearer token accepted like the PAT for management calls.
    pub bearer_token: Option<String>,
    /// How long `GET messages` holds an idle poll before answering 202.
    pub long_poll: Duration,
    /// Job request lock: `lockedUntil = now + lock_duration` on assignment and every renewal.
    pub lock_duration: Duration,
    /// A session not polled for this long expires and its agent goes offline.
    pub session_idle_timeout: Duration,
    /// Lifetime of access tokens minted by the OAuth endpoint.
    pub access_token_lifetime: Duration,
    /// Timeout of one service-hook delivery.
    pub hook_timeout: Duration,
    /// How often the background sweeper checks locks, sessions and fault windows.
    pub sweep_interval: Duration,
    /// Public base URL (e.g. `http://emulator.test:8080`) used in absolute URLs the emulator hands
    /// out; when unset the request's `Host` header is used.
    pub public_url: Option<String>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            org: "contoso".to_owned(),
            pat: "emulator-pat".to_owned(),
            pools: vec!["Default".to_owned()],
            bearer_token: None,
            long_poll: Duration::from_secs(50),
            lock_duration: Duration::from_secs(10 * 60),
            session_idle_timeout: Duration::from_secs(3 * 60),
            access_token_lifetime: Duration::from_secs(60 * 60),
            hook_timeout: Duration::from_secs(5),
            sweep_interval: Duration::from_millis(200),
            public_url: None,
        }
    }
}

impl std::fmt::Debug for EmulatorConfig {
    // Hand-written so the PAT and the bearer token never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("org", &self.org)
            .field("pat", &"<redacted>")
            .field("pools", &self.pools)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field("long_poll", &self.long_poll)
            .field("lock_duration", &self.lock_duration)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("access_token_lifetime", &self.access_token_lifetime)
            .field("hook_timeout", &self.hook_timeout)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}
