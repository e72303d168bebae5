"""Amazon Bedrock's Converse and ConverseStream APIs, signed with SigV4 through botocore."""

from providers.bedrock.adapter import BedrockAdapter

__all__ = ["BedrockAdapter"]
