//! The user's AgentPool files, made to run in the sandbox: every document must be an AgentPool;
//! its organization becomes the emulator's and its namespace the sandbox's (each change is said),
//! and what it needs from the sandbox (Azure DevOps pools, PAT Secrets) is collected.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize as _;
use serde_json::Value;

/// The API group/version of the AgentPool resource.
const API_VERSION: &str = "azp.dev/v1alpha1";

/// What went wrong with a file.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not YAML, or not an AgentPool.
    #[error("{file}: document {index}: {message}")]
    Document {
        /// The file.
        file: String,
        /// 1-based document number.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// No AgentPool in any file.
    #[error("the files hold no AgentPool")]
    Empty,
}

/// The AgentPools to apply and what the sandbox must provide for them.
#[derive(Debug, Default, PartialEq)]
pub struct Prepared {
    /// AgentPool manifests, rewritten for the sandbox.
    pub agent_pools: Vec<Value>,
    /// Azure DevOps pools (`spec.pool`) the emulator must serve.
    pub ado_pools: BTreeSet<String>,
    /// PAT Secrets (`name`, `key`) the AgentPools read.
    pub pat_secrets: BTreeSet<(String, String)>,
    /// What was changed, one line each, to print.
    pub notes: Vec<String>,
}

/// Reads every file (several YAML documents each allowed) and prepares its AgentPools.
pub fn read(
    files: &[impl AsRef<Path>],
    organization: &str,
    namespace: &str,
) -> Result<Prepared, ManifestError> {
    let mut prepared = Prepared::default();
    for file in files {
        let file = file.as_ref();
        let text = std::fs::read_to_string(file).map_err(|source| ManifestError::Read {
            file: file.display().to_string(),
            source,
        })?;
        prepare(
            &mut prepared,
            &file.display().to_string(),
            &text,
            organization,
            namespace,
        )?;
    }
    if prepared.agent_pools.is_empty() {
        return Err(ManifestError::Empty);
    }
    Ok(prepared)
}

/// Adds the AgentPools of one file's text to `prepared`.
pub fn prepare(
    prepared: &mut Prepared,
    file: &str,
    text: &str,
    organization: &str,
    namespace: &str,
) -> Result<(), ManifestError> {
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let index = index + 1;
        let error = |message: String| ManifestError::Document {
            file: file.to_owned(),
            index,
            message,
        };
        let value = Value::deserialize(document).map_err(|e| error(e.to_string()))?;
        if value.is_null() {
            continue; // an empty document (`---` at the end)
        }
        let kind = value["kind"].as_str().unwrap_or_default();
        let api_version = value["apiVersion"].as_str().unwrap_or_default();
        if kind != "AgentPool" || api_version != API_VERSION {
            return Err(error(format!(
                "is {api_version:?} {kind:?}; `up` takes AgentPools ({API_VERSION}) only: it creates the PAT Secret itself"
            )));
        }
        let mut pool = value;
        let name = pool["metadata"]["name"]
            .as_str()
            .ok_or_else(|| error("has no metadata.name".to_owned()))?
            .to_owned();
        let ado_pool = pool["spec"]["pool"]
            .as_str()
            .ok_or_else(|| error(format!("AgentPool {name} has no spec.pool")))?
            .to_owned();
        if let Some(theirs) = pool["metadata"]["namespace"].as_str()
            && theirs != namespace
        {
            prepared.notes.push(format!(
                "AgentPool {name}: namespace {theirs} → {namespace} (the sandbox's operator watches {namespace})"
            ));
        }
        pool["metadata"]["namespace"] = Value::from(namespace);
        if let Some(theirs) = pool["spec"]["organization"].as_str()
            && theirs != organization
        {
            prepared.notes.push(format!(
                "AgentPool {name}: organization {theirs} → {organization} (the Azure DevOps emulator)"
            ));
        }
        pool["spec"]["organization"] = Value::from(organization);
        let pat = &pool["spec"]["auth"]["patSecretRef"];
        if let Some(secret) = pat["name"].as_str() {
            let key = pat["key"].as_str().unwrap_or("token");
            prepared
                .pat_secrets
                .insert((secret.to_owned(), key.to_owned()));
        }
        prepared.ado_pools.insert(ado_pool);
        prepared.agent_pools.push(pool);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "http://127.0.0.1:1/sandbox";

    fn prepared(text: &str) -> Result<Prepared, ManifestError> {
        let mut prepared = Prepared::default();
        prepare(&mut prepared, "pools.yaml", text, ORG, "default")?;
        Ok(prepared)
    }

    #[test]
    fn the_basic_example_is_pointed_at_the_emulator_and_the_sandbox_namespace() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/agentpool-basic.yaml"
        ))
        .expect("example");
        let prepared = prepared(&text).expect("prepared");
        let pool = &prepared.agent_pools[0];
        assert_eq!(pool["spec"]["organization"], ORG);
        assert_eq!(pool["metadata"]["namespace"], "default");
        assert_eq!(pool["spec"]["scaling"]["maxAgents"], 10, "the rest is kept");
        assert_eq!(prepared.ado_pools.iter().collect::<Vec<_>>(), ["eks-linux"]);
        assert_eq!(
            prepared.pat_secrets.iter().collect::<Vec<_>>(),
            [&("azp-pat".to_owned(), "token".to_owned())]
        );
        assert_eq!(prepared.notes.len(), 2, "{:?}", prepared.notes);
        assert!(
            prepared.notes[1]
                .contains("https://dev.azure.com/contoso → http://127.0.0.1:1/sandbox"),
            "{:?}",
            prepared.notes
        );
    }

    #[test]
    fn several_documents_are_read_and_an_empty_one_is_skipped() {
        let text = "apiVersion: azp.dev/v1alpha1\nkind: AgentPool\nmetadata: {name: a}\nspec: {pool: A}\n---\napiVersion: azp.dev/v1alpha1\nkind: AgentPool\nmetadata: {name: b}\nspec: {pool: B, auth: {patSecretRef: {name: other, key: pat}}}\n---\n";
        let prepared = prepared(text).expect("prepared");
        assert_eq!(prepared.agent_pools.len(), 2);
        assert_eq!(prepared.ado_pools.len(), 2);
        assert!(
            prepared
                .pat_secrets
                .contains(&("other".to_owned(), "pat".to_owned()))
        );
    }

    #[test]
    fn another_kind_or_broken_yaml_names_the_file_and_the_document() {
        let secret = "apiVersion: azp.dev/v1alpha1\nkind: AgentPool\nmetadata: {name: a}\nspec: {pool: A}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: azp-pat}\n";
        let error = prepared(secret).expect_err("a Secret").to_string();
        assert!(
            error
                .starts_with("pools.yaml: document 2: is \"v1\" \"Secret\"; `up` takes AgentPools"),
            "{error}"
        );
        let error = prepared("kind: [").expect_err("broken").to_string();
        assert!(error.starts_with("pools.yaml: document 1: "), "{error}");
        let error = prepared(
            "apiVersion: azp.dev/v1alpha1\nkind: AgentPool\nmetadata: {name: a}\nspec: {}\n",
        )
        .expect_err("no pool")
        .to_string();
        assert!(error.ends_with("AgentPool a has no spec.pool"), "{error}");
    }
}
