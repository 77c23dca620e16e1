# The instance's own role replaces the IAM user's static key: the SDK default chain finds it
# through IMDSv2, and `azp-agent ecr-login` turns it into a registry token. Anything this role
# may do, every job on the instance may do, so it may push to one repository and nothing else.
data "aws_iam_policy_document" "ec2_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "vm_agent" {
  name               = "azp-vm-agent-ecr-push"
  assume_role_policy = data.aws_iam_policy_document.ec2_trust.json
}

data "aws_iam_policy_document" "vm_agent_push" {
  statement {
    sid       = "Login"
    effect    = "Allow"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions
  }
  statement {
    sid    = "PushOneRepository"
    effect = "Allow"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:UploadLayerPart",
      "ecr:CompleteLayerUpload",
      "ecr:PutImage",
      "ecr:DescribeRepositories",
    ]
    resources = [aws_ecr_repository.app.arn]
  }
}

resource "aws_iam_role_policy" "vm_agent_push" {
  name   = "ecr-push-one-repository"
  role   = aws_iam_role.vm_agent.id
  policy = data.aws_iam_policy_document.vm_agent_push.json
}

resource "aws_iam_instance_profile" "vm_agent" {
  name = "azp-vm-agent"
  role = aws_iam_role.vm_agent.name
}
