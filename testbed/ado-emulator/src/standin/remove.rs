//! `config.sh remove`: delete the registration (needs the PAT again) and the local files.

use reqwest::Method;

use super::args::AgentArgs;
use super::configure::{check_basic_auth_transport, unsafe_basic_auth_allowed};
use super::console;
use super::error::StandinError;
use super::http::{AdoClient, Credential, api_version, build_http_client};
use super::registration::{agents_named, agents_path, connection_data, require_pat_auth};
use super::settings::AgentRoot;

/// Runs remove in `root`.
pub async fn remove(root: &AgentRoot, args: &AgentArgs) -> Result<(), StandinError> {
    require_pat_auth(args)?;
    if !root.is_configured() {
        // As the real agent: nothing on the server to find, but local leftovers still go.
        console::info(
            "Cannot connect to server, because config files are missing. Skipping removing agent from the server.",
        );
        report_removed(root.remove_configuration()?);
        return Ok(());
    }
    let token = args.value("token").ok_or_else(|| {
        StandinError::Usage(
            "Invalid configuration provided for token. Terminating unattended configuration."
                .into(),
        )
    })?;
    let settings = root.read_settings()?;
    check_basic_auth_transport(&settings.server_url, unsafe_basic_auth_allowed())?;
    let ca_cert = root.read_certificates()?.and_then(|certs| certs.ca_cert);
    let http = build_http_client(ca_cert.as_deref().map(std::path::Path::new))?;
    let client = AdoClient::new(http, &settings.server_url, Credential::pat(token));

    console::info(">> Remove Agent:");
    connection_data(&client, "1", "-1").await?;
    let agents_path = agents_path(settings.pool_id);
    let found = agents_named(&client, &agents_path, &settings.agent_name).await?;
    if found.value.is_empty() {
        console::info("Agent not found on the server; nothing to remove there.");
    } else {
        let deleted = client
            .send_no_content(
                Method::DELETE,
                &format!("{agents_path}/{}", settings.agent_id),
                &[],
                api_version::AGENTS,
            )
            .await;
        match deleted {
            Ok(()) => console::info("Agent removed successfully"),
            // Someone else removed it between our GET and DELETE: the goal is reached.
            Err(err) if err.status() == Some(404) => {
                console::info("Agent already removed from the server")
            }
            Err(err) => return Err(err.into()),
        }
    }
    report_removed(root.remove_configuration()?);
    Ok(())
}

fn report_removed(names: Vec<&'static str>) {
    for name in names {
        console::info(&format!("Removed {name}"));
    }
}
