//! The files `config.sh` would leave in the agent home (protocol §6), made by the operator:
//! `run.sh` reads exactly these three to start a session.

use std::collections::BTreeMap;

use serde::Serialize;

use super::key::AgentKey;

/// `.agent`.
pub const AGENT_FILE: &str = ".agent";
/// `.credentials`.
pub const CREDENTIALS_FILE: &str = ".credentials";
/// `.credentials_rsaparams`.
pub const RSA_PARAMS_FILE: &str = ".credentials_rsaparams";

/// `.agent` (`AgentSettings`, camelCase, defaults omitted).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSettings<'a> {
    /// Id Azure DevOps gave the registration.
    pub agent_id: i32,
    /// Agent name.
    pub agent_name: &'a str,
    /// Pool id.
    pub pool_id: i32,
    /// Pool name.
    pub pool_name: &'a str,
    /// The organization URL (what `config.sh --url` records).
    pub server_url: &'a str,
    /// Work folder.
    pub work_folder: &'a str,
}

/// `.credentials` with the OAuth scheme (`CredentialData`).
#[derive(Debug, Serialize)]
pub struct Credentials<'a> {
    scheme: &'static str,
    data: OAuthData<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OAuthData<'a> {
    client_id: &'a str,
    authorization_url: &'a str,
    oauth_endpoint_url: &'a str,
}

impl<'a> Credentials<'a> {
    /// OAuth credentials of the agent `client_id`. The token endpoint is the authorization URL
    /// Azure DevOps returned, as `config.sh` records it for Azure DevOps Services (and as the
    /// agent assumes when the field is absent).
    pub fn oauth(client_id: &'a str, authorization_url: &'a str) -> Self {
        Self {
            scheme: "OAuth",
            data: OAuthData {
                client_id,
                authorization_url,
                oauth_endpoint_url: authorization_url,
            },
        }
    }
}

/// The three files, by name. Holds the private key: never log the values.
pub fn registration_files(
    settings: &AgentSettings<'_>,
    credentials: &Credentials<'_>,
    key: &AgentKey,
) -> Result<BTreeMap<String, Vec<u8>>, serde_json::Error> {
    Ok(BTreeMap::from([
        (AGENT_FILE.to_owned(), serde_json::to_vec_pretty(settings)?),
        (
            CREDENTIALS_FILE.to_owned(),
            serde_json::to_vec_pretty(credentials)?,
        ),
        (
            RSA_PARAMS_FILE.to_owned(),
            serde_json::to_vec_pretty(key.params())?,
        ),
    ]))
}
