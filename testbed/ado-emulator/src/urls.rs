//! Absolute URLs the emulator hands out.

use axum::http::HeaderMap;

/// `{base}/{org}`.
pub fn org_url(base_url: &str, org: &str) -> String {
    format!("{}/{org}", base_url.trim_end_matches('/'))
}

/// The base URL as the client sees it: the configured public URL, else `http://{Host}`, else the
/// listen address. Like the real service's access mappings, links follow how the client came in.
pub fn request_base(headers: &HeaderMap, public_url: Option<&str>, fallback: &str) -> String {
    if let Some(url) = public_url {
        return url.trim_end_matches('/').to_owned();
    }
    headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .map_or_else(|| fallback.to_owned(), |host| format!("http://{host}"))
}
