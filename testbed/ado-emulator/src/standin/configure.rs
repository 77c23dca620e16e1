//! `config.sh`: register the agent (protocol §3, §7b) and leave `.agent`, `.credentials`
//! and `.credentials_rsaparams` behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use reqwest::Method;

use super::AGENT_VERSION;
use super::args::{AgentArgs, env_name};
use super::capabilities::{host_name, os_description, process_env, system_capabilities};
use super::console;
use super::error::{ApiError, StandinError};
use super::http::{AdoClient, Credential, api_version, build_http_client};
use super::key::AgentKey;
use super::oauth::TokenSource;
use super::registration::{agents_named, agents_path, connection_data, require_pat_auth};
use super::settings::{AgentRoot, AgentSettings, CertificateSettings, CredentialData, OAuthData};
use super::wire::{AgentAuthorization, Collection, TaskAgent, TaskAgentPool};

/// The vss client refuses Basic auth over http unless this is `true`.
pub const ALLOW_UNSAFE_BASIC_AUTH_ENV: &str = "VSS_ALLOW_UNSAFE_BASICAUTH";

/// Validated configure inputs.
struct ConfigureInputs {
    url: String,
    token: String,
    pool: String,
    agent: String,
    work: String,
    replace: bool,
    accept_tee_eula: bool,
    disable_log_uploads: bool,
    ca_cert: Option<PathBuf>,
    skip_cert_validation: bool,
}

impl ConfigureInputs {
    fn from_args(args: &AgentArgs) -> Result<Self, StandinError> {
        let unattended = args.flag("unattended");
        // Interactive mode would prompt for anything missing; the stand-in never prompts.
        let required = |name: &str| -> Result<String, StandinError> {
            args.value(name).map(str::to_string).ok_or_else(|| {
                StandinError::Usage(if unattended {
                    format!("Invalid configuration provided for {name}. Terminating unattended configuration.")
                } else {
                    format!("--{name} is required (the stand-in never prompts; pass it or set {})", env_name(name))
                })
            })
        };
        let with_default = |name: &str, default: String| -> Result<String, StandinError> {
            match args.value(name) {
                Some(value) => Ok(value.to_string()),
                None if unattended => Ok(default),
                None => Err(StandinError::Usage(format!(
                    "--{name} is required without --unattended (the stand-in never prompts)"
                ))),
            }
        };
        let url = required("url")?;
        require_pat_auth(args)?;
        let token = required("token")?;
        Ok(Self {
            url,
            token,
            pool: with_default("pool", "default".to_string())?,
            agent: with_default("agent", host_name())?,
            work: with_default("work", "_work".to_string())?,
            replace: args.flag("replace"),
            accept_tee_eula: args.flag("acceptteeeula"),
            disable_log_uploads: args.flag("disableloguploads"),
            ca_cert: args.value("sslcacert").map(PathBuf::from),
            skip_cert_validation: args.flag("sslskipcertvalidation"),
        })
    }
}

/// Whether `VSS_ALLOW_UNSAFE_BASICAUTH=true` is set.
pub fn unsafe_basic_auth_allowed() -> bool {
    std::env::var(ALLOW_UNSAFE_BASIC_AUTH_ENV).is_ok_and(|value| value.eq_ignore_ascii_case("true"))
}

/// Refuses PAT over plain http unless explicitly allowed, like the vss client.
pub fn check_basic_auth_transport(url: &str, allow_http: bool) -> Result<(), StandinError> {
    let parsed = url::Url::parse(url)
        .map_err(|err| StandinError::Usage(format!("Invalid server URL {url}: {err}")))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            if allow_http {
                Ok(())
            } else {
                Err(StandinError::Refused(format!(
                    "Basic authentication requires a secure connection to the server. ({url}; set {ALLOW_UNSAFE_BASIC_AUTH_ENV}=true to allow http)"
                )))
            }
        }
        other => Err(StandinError::Usage(format!(
            "Invalid server URL scheme '{other}': {url}"
        ))),
    }
}

/// Runs configure in `root`.
pub async fn configure(root: &AgentRoot, args: &AgentArgs) -> Result<(), StandinError> {
    let inputs = ConfigureInputs::from_args(args)?;
    if root.is_configured() {
        return Err(StandinError::Refused(
            "Cannot configure the agent because it is already configured. To reconfigure the agent, run './config.sh remove' first."
                .into(),
        ));
    }
    check_basic_auth_transport(&inputs.url, unsafe_basic_auth_allowed())?;
    let ca_cert = match &inputs.ca_cert {
        Some(path) => Some(absolute(path)?),
        None => None,
    };
    let http = build_http_client(ca_cert.as_deref())?;
    let client = AdoClient::new(http.clone(), &inputs.url, Credential::pat(&inputs.token));

    console::info(">> Connect:");
    console::info(&format!("Connecting to server {} ...", inputs.url));
    let connection = connection_data(&client, "1", "-1").await?;

    console::info(">> Register Agent:");
    let pool = find_pool(&client, &inputs.pool).await?;
    console::info("Scanning for tool capabilities.");
    let key = AgentKey::generate()?;
    let mut agent = TaskAgent {
        name: inputs.agent.clone(),
        version: Some(AGENT_VERSION.to_string()),
        os_description: Some(os_description()),
        max_parallelism: Some(1),
        provisioning_state: Some("Provisioned".to_string()),
        system_capabilities: Some(system_capabilities(
            process_env(),
            &inputs.agent,
            root.dir(),
        )),
        user_capabilities: root.read_user_capabilities()?,
        authorization: Some(AgentAuthorization {
            public_key: Some(key.public_key()),
            ..AgentAuthorization::default()
        }),
        ..TaskAgent::default()
    };
    console::info("Connecting to the server.");
    let agents_path = agents_path(pool.id);
    let existing = agents_named(&client, &agents_path, &inputs.agent).await?;
    let already_exists = || {
        StandinError::Refused(format!(
            "Pool {} already contains an agent with name {}.",
            pool.name, inputs.agent
        ))
    };
    let registered: TaskAgent = match existing.value.into_iter().next() {
        Some(found) if inputs.replace => {
            let id = found
                .id
                .ok_or_else(|| StandinError::Refused("existing agent has no id".into()))?;
            agent.id = Some(id);
            let replaced = client
                .send_json(
                    Method::PUT,
                    &format!("{agents_path}/{id}"),
                    &[],
                    api_version::AGENTS,
                    &agent,
                )
                .await?;
            console::info("Successfully replaced the agent");
            replaced
        }
        Some(_) => return Err(already_exists()),
        None => {
            let created = client
                .send_json(Method::POST, &agents_path, &[], api_version::AGENTS, &agent)
                .await
                .map_err(|err| match err {
                    err if err.has_type_key("TaskAgentExistsException") => already_exists(),
                    err => StandinError::from(err),
                })?;
            console::info("Successfully added the agent");
            created
        }
    };

    let agent_id = registered.id.ok_or_else(|| {
        StandinError::Refused("the server returned the agent without an id".into())
    })?;
    let authorization = registered.authorization.unwrap_or_default();
    let (Some(client_id), Some(authorization_url)) =
        (authorization.client_id, authorization.authorization_url)
    else {
        return Err(StandinError::Refused(
            "the server did not return an OAuth client id and authorization URL for the agent's key".into(),
        ));
    };
    let hosted = connection
        .deployment_type
        .as_deref()
        .is_some_and(|kind| kind.eq_ignore_ascii_case("hosted"));
    let oauth_endpoint_url = if hosted {
        authorization_url.clone()
    } else {
        rebase_on_server(&authorization_url, &inputs.url)
    };
    let credentials = CredentialData {
        scheme: "OAuth".to_string(),
        data: OAuthData {
            client_id: client_id.clone(),
            authorization_url: authorization_url.clone(),
            oauth_endpoint_url: Some(oauth_endpoint_url.clone()),
        },
    };
    root.write_key(&key)?;
    root.write_credentials(&credentials)?;
    if ca_cert.is_some() || inputs.skip_cert_validation {
        root.write_certificates(&CertificateSettings {
            skip_server_cert_validation: inputs.skip_cert_validation,
            ca_cert: ca_cert.as_ref().map(|path| path.display().to_string()),
        })?;
    }

    console::info("Testing agent connection.");
    let tokens = TokenSource::new(
        http.clone(),
        key,
        client_id,
        authorization_url,
        &oauth_endpoint_url,
    )?;
    // connectionData may answer anonymously, so fetch the token explicitly: the test must
    // prove the server accepts the new key.
    tokens.token().await?;
    let agent_client = AdoClient::new(http, &inputs.url, Credential::OAuth(Arc::new(tokens)));
    connection_data(&agent_client, "0", "0").await?;

    root.write_settings(&AgentSettings {
        agent_id,
        agent_name: inputs.agent,
        pool_id: pool.id,
        pool_name: pool.name,
        server_url: inputs.url,
        work_folder: inputs.work,
        accept_tee_eula: inputs.accept_tee_eula,
        disable_log_uploads: inputs.disable_log_uploads,
    })?;
    console::info(&format!(
        "{}: Settings Saved.",
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ")
    ));
    Ok(())
}

/// `GET pools?poolName=&poolType=Automation`, first match.
async fn find_pool(client: &AdoClient, name: &str) -> Result<TaskAgentPool, StandinError> {
    let pools: Collection<TaskAgentPool> = client
        .get_json(
            "_apis/distributedtask/pools",
            &[("poolName", name), ("poolType", "Automation")],
            api_version::POOLS,
        )
        .await
        .map_err(|err: ApiError| match err {
            err if err.has_type_key("TaskAgentPoolNotFoundException") => {
                StandinError::Refused(format!("Agent pool not found: '{name}'"))
            }
            err => err.into(),
        })?;
    pools
        .value
        .into_iter()
        .next()
        .ok_or_else(|| StandinError::Refused(format!("Agent pool not found: '{name}'")))
}

/// On-premises servers: the OAuth endpoint gets the scheme, host and port of `--url`
/// (`ConfigurationManager.UpdateCredentialData`).
fn rebase_on_server(endpoint: &str, server_url: &str) -> String {
    let (Ok(mut endpoint_url), Ok(server)) =
        (url::Url::parse(endpoint), url::Url::parse(server_url))
    else {
        return endpoint.to_string();
    };
    let rebased = endpoint_url.set_scheme(server.scheme()).is_ok()
        && endpoint_url.set_host(server.host_str()).is_ok()
        && endpoint_url.set_port(server.port()).is_ok();
    if rebased {
        endpoint_url.to_string()
    } else {
        endpoint.to_string()
    }
}

fn absolute(path: &Path) -> Result<PathBuf, StandinError> {
    std::path::absolute(path).map_err(|source| StandinError::io(path, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_endpoint_is_rebased_on_the_configured_server() {
        assert_eq!(
            rebase_on_server(
                "https://internal:9999/org/_apis/oauth2/token",
                "http://127.0.0.1:4000/org"
            ),
            "http://127.0.0.1:4000/org/_apis/oauth2/token"
        );
    }

    #[test]
    fn plain_http_needs_the_unsafe_basic_auth_switch() {
        let err = check_basic_auth_transport("http://127.0.0.1:1/org", false).unwrap_err();
        assert!(err.to_string().contains("secure connection"), "{err}");
        assert!(check_basic_auth_transport("http://127.0.0.1:1/org", true).is_ok());
        assert!(check_basic_auth_transport("https://dev.azure.com/org", false).is_ok());
        assert!(check_basic_auth_transport("ftp://x/org", true).is_err());
    }
}
