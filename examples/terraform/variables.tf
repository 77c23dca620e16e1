variable "region" {
  description = "AWS region of the cluster and the registry."
  type        = string
  default     = "ap-northeast-1"
}

variable "vpc_id" {
  description = "VPC of the EKS cluster."
  type        = string
}

variable "private_subnet_ids" {
  description = "Subnets of the agent nodes; the interface endpoints get one ENI in each."
  type        = list(string)
}

variable "private_route_table_ids" {
  description = "Route tables of those subnets, for the S3 gateway endpoint (ECR layers live in S3)."
  type        = list(string)
}

variable "eks_oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC provider (IRSA)."
  type        = string
}

variable "eks_oidc_issuer" {
  description = "The cluster's OIDC issuer without https://, e.g. oidc.eks.ap-northeast-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE."
  type        = string
}

variable "agent_namespace" {
  description = "Namespace of the AgentPool."
  type        = string
  default     = "azp"
}

variable "agent_service_account" {
  description = "Service account of the agent pods (AgentPool spec.template.spec.serviceAccountName)."
  type        = string
  default     = "azp-agent"
}

variable "repository_name" {
  description = "ECR repository the pipeline pushes to."
  type        = string
  default     = "team/app"
}

variable "cache_repository_name" {
  description = "ECR repository for registry build caches (AgentPool spec.buildkit.cache), with a lifecycle policy."
  type        = string
  default     = "build-cache"
}
