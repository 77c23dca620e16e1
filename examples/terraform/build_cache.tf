# The AgentPool's registry build cache (spec.buildkit.cache: <registry>/<cache_repository_name>):
# build-push exports each image's cache to its own tag here (team/app -> :team-app). Every build
# re-pushes its tag, so the cache of an image still being built is never older than its last
# build, and the previous cache manifest becomes untagged.
resource "aws_ecr_repository" "build_cache" {
  name                 = var.cache_repository_name
  image_tag_mutability = "MUTABLE" # each build overwrites its cache tag
  image_scanning_configuration {
    scan_on_push = false # cache blobs are intermediate layers, not images anyone runs
  }
}

# Without this, cache images only grow: every build leaves its previous cache manifest behind.
resource "aws_ecr_lifecycle_policy" "build_cache" {
  repository = aws_ecr_repository.build_cache.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Superseded cache manifests (untagged) after 1 day"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 1
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Caches of images nobody built for 14 days"
        selection = {
          tagStatus   = "any"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 14
        }
        action = { type = "expire" }
      },
    ]
  })
}

resource "aws_ecr_repository_policy" "build_cache" {
  repository = aws_ecr_repository.build_cache.name
  policy     = data.aws_iam_policy_document.push_only_through_vpce.json
}
