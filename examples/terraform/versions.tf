# AWS side of examples/agentpool-buildkit-ecr.yaml: an ECR repository that accepts pushes only
# through this VPC's endpoint, the endpoints themselves, and the IRSA role of the agent pods.
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
