//! Helpers for tests that play an agent: an RSA key and RS256 client assertions.

use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;

/// Failure to create or use a test key.
#[derive(Debug, thiserror::Error)]
#[error("RSA operation failed: {0}")]
pub struct KeyError(&'static str);

/// A 2048-bit agent key.
pub struct AgentKey {
    pair: KeyPair,
}

impl std::fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentKey(<private>)")
    }
}

impl AgentKey {
    /// Generates a new key.
    pub fn generate() -> Result<Self, KeyError> {
        KeyPair::generate(KeySize::Rsa2048)
            .map(|pair| Self { pair })
            .map_err(|_| KeyError("generate"))
    }

    /// `{"exponent": b64, "modulus": b64}` as registration sends it.
    pub fn public_key_json(&self) -> serde_json::Value {
        let components = PublicKeyComponents::<Vec<u8>>::from(self.pair.public_key());
        json!({ "exponent": STANDARD.encode(&components.e), "modulus": STANDARD.encode(&components.n) })
    }

    /// A compact RS256 JWT with `iss = sub = client_id`, `aud`, `nbf`, `exp` (epoch seconds).
    pub fn sign_assertion(
        &self,
        client_id: &str,
        audience: &str,
        nbf: i64,
        exp: i64,
    ) -> Result<String, KeyError> {
        let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "RS256", "typ": "JWT" }).to_string());
        let claims = json!({
            "iss": client_id, "sub": client_id, "aud": audience,
            "jti": uuid::Uuid::new_v4().to_string(), "nbf": nbf, "exp": exp,
        });
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{payload}");
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| KeyError("sign"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// An assertion valid from now for five minutes, like the official agent's.
    pub fn fresh_assertion(&self, client_id: &str, audience: &str) -> Result<String, KeyError> {
        let now = chrono::Utc::now().timestamp();
        self.sign_assertion(client_id, audience, now, now + 300)
    }
}
