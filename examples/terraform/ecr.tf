resource "aws_ecr_repository" "app" {
  name                 = var.repository_name
  image_tag_mutability = "MUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
}

# Pushes must come through this VPC's ecr.dkr endpoint: a leaked credential (a pod's role, or the
# VM example's instance role, which links this file) cannot write images from anywhere else.
# Pulls are not restricted here.
data "aws_iam_policy_document" "push_only_through_vpce" {
  statement {
    sid     = "DenyPushOutsideVpcEndpoint"
    effect  = "Deny"
    actions = [
      "ecr:PutImage",
      "ecr:InitiateLayerUpload",
      "ecr:UploadLayerPart",
      "ecr:CompleteLayerUpload",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "StringNotEquals"
      variable = "aws:SourceVpce"
      values   = [aws_vpc_endpoint.interface["ecr_dkr"].id]
    }
  }
}

resource "aws_ecr_repository_policy" "app" {
  repository = aws_ecr_repository.app.name
  policy     = data.aws_iam_policy_document.push_only_through_vpce.json
}
