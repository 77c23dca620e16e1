//! Verification of the agent's RS256 client assertion and minting of opaque access tokens.

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::state::RsaPublicKey;

/// Allowed clock skew for `nbf`/`exp`.
pub const CLOCK_SKEW_SECONDS: i64 = 5 * 60;

/// Why an assertion was refused (the `error_description` text).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AssertionError {
    /// Not three base64url parts of JSON.
    #[error("The client assertion is not a well-formed JWT.")]
    Malformed,
    /// `alg` is not RS256.
    #[error("The client assertion must be signed with RS256.")]
    Algorithm,
    /// `iss`/`sub` missing, different, or not a registered client.
    #[error("The client assertion issuer and subject must both be a registered client id.")]
    UnknownClient,
    /// Signature does not verify with the registered key.
    #[error("The client assertion signature is invalid.")]
    Signature,
    /// `aud` is not the agent's authorizationUrl.
    #[error("The client assertion audience is invalid.")]
    Audience,
    /// Not yet valid.
    #[error("The bearer token is not valid until {nbf}. Current server time is {now}.")]
    NotYetValid {
        /// nbf.
        nbf: String,
        /// Server time.
        now: String,
    },
    /// Expired.
    #[error("The bearer token expired on {exp}. Current server time is {now}.")]
    Expired {
        /// exp.
        exp: String,
        /// Server time.
        now: String,
    },
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// The claims the emulator checks.
#[derive(Debug, Deserialize)]
pub struct Claims {
    /// Issuer (client id).
    pub iss: Option<String>,
    /// Subject (client id).
    pub sub: Option<String>,
    /// Audience (authorizationUrl).
    pub aud: Option<String>,
    /// Not before (epoch seconds).
    pub nbf: Option<i64>,
    /// Expiry (epoch seconds).
    pub exp: Option<i64>,
}

/// A decoded but not yet verified assertion.
pub struct Assertion<'a> {
    /// Claims.
    pub claims: Claims,
    signing_input: &'a str,
    signature: Vec<u8>,
}

fn decode_json<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, AssertionError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AssertionError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AssertionError::Malformed)
}

/// Splits and decodes a compact JWT.
pub fn decode(jwt: &str) -> Result<Assertion<'_>, AssertionError> {
    let mut parts = jwt.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AssertionError::Malformed);
    };
    let header: Header = decode_json(header)?;
    if header.alg != "RS256" {
        return Err(AssertionError::Algorithm);
    }
    let claims: Claims = decode_json(payload)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| AssertionError::Malformed)?;
    let signing_input = &jwt[..jwt.len() - jwt.rsplit('.').next().map_or(0, str::len) - 1];
    Ok(Assertion {
        claims,
        signing_input,
        signature,
    })
}

/// The client id an assertion claims (`iss`, which must equal `sub`).
pub fn client_id(assertion: &Assertion<'_>) -> Result<Uuid, AssertionError> {
    let (Some(iss), Some(sub)) = (&assertion.claims.iss, &assertion.claims.sub) else {
        return Err(AssertionError::UnknownClient);
    };
    if iss != sub {
        return Err(AssertionError::UnknownClient);
    }
    Uuid::parse_str(iss).map_err(|_| AssertionError::UnknownClient)
}

/// Verifies signature, audience and validity window.
pub fn verify(
    assertion: &Assertion<'_>,
    key: &RsaPublicKey,
    audience: &str,
    now: DateTime<Utc>,
) -> Result<(), AssertionError> {
    let components = RsaPublicKeyComponents {
        n: key.modulus.as_slice(),
        e: key.exponent.as_slice(),
    };
    components
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            assertion.signing_input.as_bytes(),
            &assertion.signature,
        )
        .map_err(|_| AssertionError::Signature)?;
    if assertion.claims.aud.as_deref() != Some(audience) {
        return Err(AssertionError::Audience);
    }
    let now_s = now.timestamp();
    let show =
        |t: i64| DateTime::from_timestamp(t, 0).map_or_else(|| t.to_string(), |d| d.to_rfc3339());
    if let Some(nbf) = assertion.claims.nbf
        && nbf > now_s + CLOCK_SKEW_SECONDS
    {
        return Err(AssertionError::NotYetValid {
            nbf: show(nbf),
            now: now.to_rfc3339(),
        });
    }
    match assertion.claims.exp {
        Some(exp) if exp + CLOCK_SKEW_SECONDS >= now_s => Ok(()),
        Some(exp) => Err(AssertionError::Expired {
            exp: show(exp),
            now: now.to_rfc3339(),
        }),
        None => Err(AssertionError::Malformed),
    }
}

/// Parses a registered public key (base64 big-endian components) into verification form.
pub fn parse_public_key(exponent_b64: &str, modulus_b64: &str) -> Result<RsaPublicKey, String> {
    let decode = |s: &str, what: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|_| format!("authorization.publicKey.{what} is not valid base64"))
    };
    let strip = |mut v: Vec<u8>| {
        let zeros = v.iter().take_while(|b| **b == 0).count();
        v.drain(..zeros);
        v
    };
    let modulus = strip(decode(modulus_b64, "modulus")?);
    let exponent = strip(decode(exponent_b64, "exponent")?);
    let bits = modulus.len() * 8;
    if !(2048..=8192).contains(&bits) {
        return Err(format!(
            "authorization.publicKey.modulus must be a 2048-8192 bit RSA modulus, got {bits} bits"
        ));
    }
    if exponent.is_empty() || exponent.len() > 8 {
        return Err("authorization.publicKey.exponent is not a valid RSA exponent".to_owned());
    }
    Ok(RsaPublicKey { modulus, exponent })
}

/// A fresh opaque access token.
pub fn mint_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
