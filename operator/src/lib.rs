//! azp-operator: AgentPool CRD, controller and scaling planner.
