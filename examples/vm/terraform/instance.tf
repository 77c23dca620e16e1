data "aws_ssm_parameter" "al2023" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

# Outbound only: HTTPS to Azure DevOps (through the VPC's NAT) and to the endpoints.
resource "aws_security_group" "vm_agent" {
  name        = "azp-vm-agent"
  description = "Azure Pipelines agent VM: no inbound, HTTPS out"
  vpc_id      = var.vpc_id

  egress {
    description = "HTTPS (Azure DevOps, VPC endpoints)"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_instance" "vm_agent" {
  ami                         = data.aws_ssm_parameter.al2023.value
  instance_type               = var.instance_type
  subnet_id                   = var.private_subnet_ids[0]
  vpc_security_group_ids      = [aws_security_group.vm_agent.id]
  iam_instance_profile        = aws_iam_instance_profile.vm_agent.name
  associate_public_ip_address = false

  # IMDSv2 only; hop limit 1 keeps the role away from containers that jobs start on bridge
  # networks (a build that needs it logs in before `docker build`, as build-push does).
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_size = 64
    encrypted   = true
  }

  user_data_replace_on_change = true
  user_data = templatefile("${path.module}/user-data.sh.tftpl", {
    region            = var.region
    azp_url           = var.azp_url
    azp_pool          = var.azp_pool
    registry          = "${data.aws_caller_identity.current.account_id}.dkr.ecr.${var.region}.amazonaws.com"
    agent_package_url = var.agent_package_url
    azp_agent_url     = var.azp_agent_binary_url
    azp_agent_sha256  = var.azp_agent_binary_sha256
    unit              = file("${path.module}/../azp-agent.service")
  })

  tags = {
    Name = "azp-vm-agent"
  }
}
