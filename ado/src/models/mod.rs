//! Wire types of the distributedtask API (camelCase JSON, unknown fields ignored).

mod agent;
mod dates;
mod job_request;
mod pool;
mod string_enum;
mod wrappers;

pub use agent::{
    Agent, AgentAuthorization, AgentPatch, AgentPublicKey, AgentRef, AgentStatus, NewAgent,
};
pub use job_request::{JobRequest, Link, MatchedAgent, OrchestrationOwner, OwnerLinks, TaskResult};
pub use pool::{Pool, PoolType};
pub(crate) use wrappers::{Collection, WrappedException};

#[cfg(test)]
mod tests;
