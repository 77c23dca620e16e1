//! Service-account tokens as kube-apiserver issues them: the TokenRequest subresource signs a
//! JWT with the server's own RSA key, and the OIDC discovery document and JWKS let a relying
//! party (Microsoft Entra, AWS STS) verify it without talking to the API server otherwise.
//!
//! The key is generated at start (aws-lc-rs, the workspace's crypto provider) and lives as
//! long as the simulator; `jsonwebtoken` does the signing.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::ApiError;

/// Shortest lifetime kube-apiserver grants (`expirationSeconds` below it is refused).
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
/// Lifetime when the request names none.
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;

/// The server's service-account signing key.
pub struct TokenIssuer {
    key: EncodingKey,
    kid: String,
    modulus: String,
    exponent: String,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// What one TokenRequest names.
#[derive(Debug, Clone)]
pub struct TokenFor<'a> {
    /// Namespace of the service account.
    pub namespace: &'a str,
    /// Service account name.
    pub name: &'a str,
    /// Service account uid.
    pub uid: &'a str,
    /// Intended audiences (`aud`).
    pub audiences: Vec<String>,
    /// Lifetime in seconds.
    pub expiration_seconds: i64,
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a [String],
    exp: i64,
    iat: i64,
    nbf: i64,
    iss: &'a str,
    jti: String,
    sub: String,
    #[serde(rename = "kubernetes.io")]
    kubernetes: Value,
}

impl TokenIssuer {
    /// Generates a fresh 2048-bit key.
    pub fn generate() -> Result<Self, String> {
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|e| e.to_string())?;
        let pkcs8 = pair.as_der().map_err(|e| e.to_string())?;
        let info = pkcs8::PrivateKeyInfo::try_from(pkcs8.as_ref()).map_err(|e| e.to_string())?;
        // jsonwebtoken wants the PKCS#1 RSAPrivateKey, which PKCS#8 wraps.
        let key = EncodingKey::from_rsa_der(info.private_key);
        let public = pair.public_key();
        let modulus = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let exponent = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        // kube-apiserver's kid: the base64url SHA-256 of the public key's DER.
        let der = public.as_der().map_err(|e| e.to_string())?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der.as_ref());
        let kid = URL_SAFE_NO_PAD.encode(digest.as_ref());
        Ok(Self {
            key,
            kid,
            modulus,
            exponent,
        })
    }

    /// Signs a token for `request`, issued by `issuer` at `now`; returns it with its expiry.
    pub fn issue(
        &self,
        issuer: &str,
        request: &TokenFor<'_>,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), ApiError> {
        let iat = now.timestamp();
        let exp = iat + request.expiration_seconds;
        let claims = Claims {
            aud: &request.audiences,
            exp,
            iat,
            nbf: iat,
            iss: issuer,
            jti: uuid::Uuid::new_v4().to_string(),
            sub: format!(
                "system:serviceaccount:{}:{}",
                request.namespace, request.name
            ),
            kubernetes: json!({
                "namespace": request.namespace,
                "serviceaccount": {"name": request.name, "uid": request.uid},
            }),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| ApiError::internal(format!("signing the token failed: {e}")))?;
        let expires = DateTime::from_timestamp(exp, 0).unwrap_or(now);
        Ok((token, expires))
    }

    /// `/openid/v1/jwks`.
    pub fn jwks(&self) -> Value {
        json!({"keys": [{
            "use": "sig",
            "kty": "RSA",
            "kid": self.kid,
            "alg": "RS256",
            "n": self.modulus,
            "e": self.exponent,
        }]})
    }
}

/// `/.well-known/openid-configuration` of `issuer` (kube-apiserver's fields).
pub fn discovery(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/openid/v1/jwks", issuer.trim_end_matches('/')),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
}

/// The TokenRequest body's `spec`, checked as kube-apiserver checks it.
pub fn parse_request(body: &Value, default_audience: &str) -> Result<(Vec<String>, i64), ApiError> {
    let kind = body
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("TokenRequest");
    if kind != "TokenRequest" {
        return Err(ApiError::bad_request(format!(
            "the body of the request was in an unknown format: kind {kind:?} is not TokenRequest"
        )));
    }
    let spec = body.get("spec").cloned().unwrap_or(Value::Null);
    let audiences: Vec<String> = match spec.get("audiences") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|e| ApiError::bad_request(format!("spec.audiences: {e}")))?,
    };
    let audiences = if audiences.is_empty() {
        vec![default_audience.to_owned()]
    } else {
        audiences
    };
    let expiration = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION_SECONDS,
        Some(value) => value
            .as_i64()
            .ok_or_else(|| ApiError::bad_request("spec.expirationSeconds must be an integer"))?,
    };
    if expiration < MIN_EXPIRATION_SECONDS {
        return Err(ApiError::invalid(
            "TokenRequest.authentication.k8s.io",
            "",
            &[(
                "spec.expirationSeconds".into(),
                "Invalid value: may not specify a duration less than 10 minutes".into(),
            )],
        ));
    }
    if expiration > 1 << 32 {
        return Err(ApiError::invalid(
            "TokenRequest.authentication.k8s.io",
            "",
            &[(
                "spec.expirationSeconds".into(),
                "Invalid value: may not specify a duration larger than 2^32 seconds".into(),
            )],
        ));
    }
    Ok((audiences, expiration))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn a_token_verifies_against_the_published_jwks() {
        let issuer = TokenIssuer::generate().unwrap();
        let (token, expires) = issuer
            .issue(
                "https://kube.test",
                &TokenFor {
                    namespace: "ci",
                    name: "azp",
                    uid: "u-1",
                    audiences: vec!["api://AzureADTokenExchange".into()],
                    expiration_seconds: 600,
                },
                Utc::now(),
            )
            .unwrap();
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(issuer.jwks()).unwrap();
        let key = DecodingKey::from_jwk(&jwks.keys[0]).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["api://AzureADTokenExchange"]);
        validation.set_issuer(&["https://kube.test"]);
        let data = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
        assert_eq!(data.claims["sub"], "system:serviceaccount:ci:azp");
        assert_eq!(data.claims["kubernetes.io"]["serviceaccount"]["uid"], "u-1");
        assert_eq!(data.claims["exp"].as_i64(), Some(expires.timestamp()));
        assert_eq!(data.header.kid, jwks.keys[0].common.key_id);
    }

    #[test]
    fn short_lifetimes_are_refused_like_the_apiserver() {
        let error = parse_request(
            &json!({"spec": {"expirationSeconds": 60}}),
            "https://kube.test",
        )
        .unwrap_err();
        assert_eq!(error.code, 422);
        let (audiences, seconds) =
            parse_request(&json!({"spec": {}}), "https://kube.test").unwrap();
        assert_eq!(audiences, ["https://kube.test"]);
        assert_eq!(seconds, 3600);
    }
}
