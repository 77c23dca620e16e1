variable "region" {
  description = "AWS region of the instance and the registry."
  type        = string
  default     = "ap-northeast-1"
}

variable "vpc_id" {
  description = "VPC of the agent instance."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets: the instance goes into the first; the interface endpoints get one ENI in each."
  type        = list(string)
}

variable "private_route_table_ids" {
  description = "Route tables of those subnets, for the S3 gateway endpoint (ECR layers live in S3)."
  type        = list(string)
}

variable "repository_name" {
  description = "The one ECR repository the instance may push to."
  type        = string
  default     = "team/app"
}

variable "instance_type" {
  description = "Instance type of the agent VM."
  type        = string
  default     = "t3.large"
}

variable "azp_url" {
  description = "Azure DevOps organization or collection URL (AZP_URL)."
  type        = string
}

variable "azp_pool" {
  description = "Agent pool the VM's ephemeral agents join (AZP_POOL)."
  type        = string
}

variable "agent_package_url" {
  description = "URL of the official Azure Pipelines agent for Linux x64 (vsts-agent-linux-x64-<version>.tar.gz)."
  type        = string
  default     = "https://download.agent.dev.azure.com/agent/4.258.1/vsts-agent-linux-x64-4.258.1.tar.gz"
}

variable "azp_agent_binary_url" {
  description = "URL of a release build of azp-agent for Linux x64 (installed as /usr/local/bin/azp-agent)."
  type        = string
}

variable "azp_agent_binary_sha256" {
  description = "SHA-256 of that binary; user data refuses any other file."
  type        = string
}
