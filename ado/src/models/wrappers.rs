//! Envelope shapes: `{count, value}` collections and `WrappedException` error bodies.

use serde::Deserialize;

/// `{"count": N, "value": [...]}`; `count` is ignored because `value` is authoritative.
#[derive(Debug, Deserialize)]
pub(crate) struct Collection<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
}

/// The service's error body. Either key may be missing; `typeKey` is derived from `typeName` when absent.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WrappedException {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub type_key: Option<String>,
    #[serde(default)]
    pub type_name: Option<String>,
}

impl WrappedException {
    /// The exception's short type name: `typeKey`, or the class name inside the assembly-qualified `typeName`.
    pub fn effective_type_key(&self) -> Option<String> {
        if let Some(key) = self.type_key.as_deref().filter(|key| !key.is_empty()) {
            return Some(key.to_owned());
        }
        let type_name = self.type_name.as_deref()?;
        let class = type_name.split(',').next()?.trim();
        class
            .rsplit('.')
            .next()
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn parses_a_real_shaped_wrapped_exception() {
        let body = r#"{"$id":"1","innerException":null,"message":"Pool 10 already contains an agent with name agent-1.","typeName":"Microsoft.TeamFoundation.DistributedTask.WebApi.TaskAgentExistsException, Microsoft.TeamFoundation.DistributedTask.WebApi","typeKey":"TaskAgentExistsException","errorCode":0,"eventId":3000}"#;
        let parsed: WrappedException = serde_json::from_str(body).unwrap();
        assert_eq!(
            parsed.effective_type_key().as_deref(),
            Some("TaskAgentExistsException")
        );
        assert_eq!(
            parsed.message.as_deref(),
            Some("Pool 10 already contains an agent with name agent-1.")
        );
    }

    #[test]
    fn derives_the_type_key_from_the_type_name() {
        let body = r#"{"message":"x","typeName":"Microsoft.TeamFoundation.DistributedTask.WebApi.TaskAgentPoolNotFoundException, Microsoft.TeamFoundation.DistributedTask.WebApi"}"#;
        let parsed: WrappedException = serde_json::from_str(body).unwrap();
        assert_eq!(
            parsed.effective_type_key().as_deref(),
            Some("TaskAgentPoolNotFoundException")
        );
    }
}
