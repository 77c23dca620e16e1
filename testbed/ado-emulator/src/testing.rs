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

    /// Loads the key of a `.credentials_rsaparams` document (the nine base64 RSA
    /// parameters); parameters that do not form one key are refused.
    pub fn from_rsa_params(params: &serde_json::Value) -> Result<Self, KeyError> {
        use aws_lc_rs::rsa::KeyPairComponents;
        let field = |name: &str| -> Result<Vec<u8>, KeyError> {
            let value = params[name].as_str().ok_or(KeyError("missing parameter"))?;
            STANDARD
                .decode(value)
                .map_err(|_| KeyError("parameter is not base64"))
        };
        let trim = |bytes: Vec<u8>| -> Vec<u8> {
            let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
            bytes[start..].to_vec()
        };
        let (n, e) = (trim(field("modulus")?), trim(field("exponent")?));
        let (d, p, q) = (field("d")?, field("p")?, field("q")?);
        let (dp, dq, qi) = (field("dp")?, field("dq")?, field("inverseQ")?);
        let components = KeyPairComponents {
            public_key: PublicKeyComponents {
                n: n.as_slice(),
                e: e.as_slice(),
            },
            d: d.as_slice(),
            p: p.as_slice(),
            q: q.as_slice(),
            dP: dp.as_slice(),
            dQ: dq.as_slice(),
            qInv: qi.as_slice(),
        };
        KeyPair::from_components(&components)
            .map(|pair| Self { pair })
            .map_err(|_| KeyError("parameters do not form a key"))
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
