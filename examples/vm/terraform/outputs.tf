output "instance_id" {
  description = "Install the PAT on this instance from an SSM Session Manager shell (see examples/vm/README.md)."
  value       = aws_instance.vm_agent.id
}

output "registry" {
  description = "The registry jobs push to (AZP_ECR_REGISTRY in /etc/azp-agent/agent.env)."
  value       = "${data.aws_caller_identity.current.account_id}.dkr.ecr.${var.region}.amazonaws.com"
}

output "instance_role_arn" {
  description = "The role the instance's jobs push with (through IMDSv2)."
  value       = aws_iam_role.vm_agent.arn
}
