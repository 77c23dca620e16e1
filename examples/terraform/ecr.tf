resource "aws_ecr_repository" "app" {
  name                 = var.repository_name
  image_tag_mutability = "MUTABLE" # build-push re-pushes the :buildcache tag
  image_scanning_configuration {
    scan_on_push = true
  }
}

# Pushes must come through this VPC's ecr.dkr endpoint: a leaked credential used from
# anywhere else cannot write images. Pulls are not restricted here.
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
