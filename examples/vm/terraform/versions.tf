# AWS side of examples/vm/: one private EC2 instance running `azp-agent vm` (ephemeral agents,
# one job per registration) that pushes to one ECR repository with its instance role, through
# the same VPC endpoints as the EKS example (vpc_endpoints.tf is that file, linked).
terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = var.region
}

data "aws_caller_identity" "current" {}
