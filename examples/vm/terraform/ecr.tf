resource "aws_ecr_repository" "app" {
  name                 = var.repository_name
  image_tag_mutability = "MUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
}

# Pushes must come through this VPC's ecr.dkr endpoint, as in the EKS example: the instance
# role's credentials, if they leak, cannot write images from anywhere else.
data "aws_iam_policy_document" "push_only_through_vpce" {
  statement {
    sid    = "DenyPushOutsideVpcEndpoint"
    effect = "Deny"
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
