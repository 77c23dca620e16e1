output "agent_role_arn" {
  description = "Annotate the agent service account with eks.amazonaws.com/role-arn=<this>."
  value       = aws_iam_role.agent.arn
}

output "registry" {
  description = "AgentPool spec.ecr.registry."
  value       = "${data.aws_caller_identity.current.account_id}.dkr.ecr.${var.region}.amazonaws.com"
}

output "ecr_api_endpoint_dns" {
  description = "For spec.ecr.apiEndpoint when private DNS is off (https://<this>)."
  value       = aws_vpc_endpoint.interface["ecr_api"].dns_entry[0].dns_name
}

output "build_cache" {
  description = "AgentPool spec.buildkit.cache: the cache repository (one tag per image)."
  value       = "${data.aws_caller_identity.current.account_id}.dkr.ecr.${var.region}.amazonaws.com/${aws_ecr_repository.build_cache.name}"
}
