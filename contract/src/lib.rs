//! The pod contract shared by the operator and the agent.
