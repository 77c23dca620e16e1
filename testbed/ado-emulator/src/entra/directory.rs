//! What the Entra double knows: applications with their federated identity credentials and
//! their standing in the Azure DevOps organization, the clock it judges assertions by, and
//! the key it signs access tokens with.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::AZURE_DEVOPS_RESOURCE;

/// A federated identity credential of an application (issuer, subject, audiences), e.g. an
/// EKS cluster's OIDC issuer and `system:serviceaccount:<ns>:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FederatedCredential {
    /// The external issuer (`iss` of the assertion), compared exactly.
    pub issuer: String,
    /// The subject (`sub` of the assertion), compared exactly.
    pub subject: String,
    /// Accepted audiences; Entra's default and recommendation is `api://AzureADTokenExchange`.
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
}

fn default_audiences() -> Vec<String> {
    vec![super::TOKEN_EXCHANGE_AUDIENCE.to_owned()]
}

/// An app registration, its service principal and what the organization granted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// Directory (tenant) id.
    pub tenant_id: String,
    /// Application (client) id.
    pub client_id: String,
    /// Federated identity credentials.
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredential>,
    /// The service principal was added to the Azure DevOps organization (Organization
    /// settings → Users). Without it Azure DevOps answers 401.
    #[serde(default)]
    pub organization_member: bool,
    /// The service principal has the Administrator role on the agent pools (Organization
    /// settings → Agent pools → Security). Without it management calls answer 403.
    #[serde(default)]
    pub pool_administrator: bool,
}

/// A service principal recognised from a valid access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Application (client) id.
    pub client_id: String,
    /// Member of the organization.
    pub organization_member: bool,
    /// Administrator of the agent pools.
    pub pool_administrator: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    aud: String,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    appid: String,
    oid: String,
    sub: String,
    tid: String,
}

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// The Entra double's state.
pub struct Directory {
    applications: Mutex<HashMap<(String, String), Application>>,
    clock_offset: Mutex<chrono::Duration>,
    keys: Option<Keys>,
    token_lifetime: Mutex<chrono::Duration>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").finish_non_exhaustive()
    }
}

impl Default for Directory {
    fn default() -> Self {
        Self::new()
    }
}

impl Directory {
    /// An empty directory with a fresh signing key.
    pub fn new() -> Self {
        Self {
            applications: Mutex::default(),
            clock_offset: Mutex::default(),
            keys: generate_keys(),
            token_lifetime: Mutex::new(chrono::Duration::seconds(3599)),
        }
    }

    /// Registers (or replaces) an application.
    pub fn register(&self, application: Application) {
        let key = (
            application.tenant_id.to_ascii_lowercase(),
            application.client_id.to_ascii_lowercase(),
        );
        if let Ok(mut apps) = self.applications.lock() {
            apps.insert(key, application);
        }
    }

    /// Forgets every application.
    pub fn clear(&self) {
        if let Ok(mut apps) = self.applications.lock() {
            apps.clear();
        }
    }

    /// The application `client_id` of `tenant`.
    pub fn application(&self, tenant: &str, client_id: &str) -> Option<Application> {
        let key = (tenant.to_ascii_lowercase(), client_id.to_ascii_lowercase());
        self.applications.lock().ok()?.get(&key).cloned()
    }

    /// Whether any application lives in `tenant`.
    pub fn knows_tenant(&self, tenant: &str) -> bool {
        let tenant = tenant.to_ascii_lowercase();
        self.applications
            .lock()
            .map(|apps| apps.keys().any(|(t, _)| *t == tenant))
            .unwrap_or(false)
    }

    /// Moves the directory's clock (tests: assertions that expired, or are not valid yet).
    pub fn set_clock_offset(&self, offset: chrono::Duration) {
        if let Ok(mut current) = self.clock_offset.lock() {
            *current = offset;
        }
    }

    /// Lifetime of the access tokens issued from now on (Entra's default: about an hour).
    pub fn set_token_lifetime(&self, lifetime: chrono::Duration) {
        if let Ok(mut current) = self.token_lifetime.lock() {
            *current = lifetime;
        }
    }

    /// The directory's notion of now.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset.lock().map(|o| *o).unwrap_or_default()
    }

    /// Signs an access token for Azure DevOps on behalf of `application`.
    pub fn issue(&self, application: &Application) -> Option<(String, i64)> {
        let keys = self.keys.as_ref()?;
        let now = self.now().timestamp();
        let lifetime = self
            .token_lifetime
            .lock()
            .map(|l| l.num_seconds())
            .unwrap_or(3599);
        let claims = AccessClaims {
            aud: AZURE_DEVOPS_RESOURCE.to_owned(),
            iss: format!("https://sts.windows.net/{}/", application.tenant_id),
            iat: now,
            nbf: now,
            exp: now + lifetime,
            appid: application.client_id.clone(),
            oid: application.client_id.clone(),
            sub: application.client_id.clone(),
            tid: application.tenant_id.clone(),
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &keys.encoding).ok()?;
        Some((token, lifetime))
    }

    /// The service principal an access token stands for; `None` when the token is not one
    /// this directory signed, or it expired.
    pub fn principal(&self, token: &str) -> Option<Principal> {
        let keys = self.keys.as_ref()?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[AZURE_DEVOPS_RESOURCE]);
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &keys.decoding, &validation)
            .ok()?
            .claims;
        if claims.exp <= self.now().timestamp() {
            return None;
        }
        let application = self.application(&claims.tid, &claims.appid)?;
        Some(Principal {
            client_id: application.client_id,
            organization_member: application.organization_member,
            pool_administrator: application.pool_administrator,
        })
    }
}

fn generate_keys() -> Option<Keys> {
    let pair = KeyPair::generate(KeySize::Rsa2048).ok()?;
    let pkcs8 = pair.as_der().ok()?;
    let info = pkcs8::PrivateKeyInfo::try_from(pkcs8.as_ref()).ok()?;
    let public = pair.public_key();
    let modulus = public.modulus().big_endian_without_leading_zero().to_vec();
    let exponent = public.exponent().big_endian_without_leading_zero().to_vec();
    Some(Keys {
        encoding: EncodingKey::from_rsa_der(info.private_key),
        decoding: DecodingKey::from_rsa_raw_components(&modulus, &exponent),
    })
}
