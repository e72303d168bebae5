"""SigV4 signing of a Bedrock request, through botocore (never by hand)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.bedrock.eventstream import require_botocore

__all__ = ["SERVICE", "sign_headers"]

SERVICE = "bedrock"  # the signing name of bedrock-runtime


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    text = getter() if getter else str(value)
    return text or None


def sign_headers(
    *,
    method: str,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    region: str,
    options: Mapping[str, Any],
) -> dict[str, str]:
    """The headers to send: the given ones plus ``authorization``, ``x-amz-date``
    and, with temporary credentials, ``x-amz-security-token``."""
    require_botocore()
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    credentials = Credentials(
        access_key=_secret(options.get("aws_access_key_id")),
        secret_key=_secret(options.get("aws_secret_access_key")),
        token=_secret(options.get("aws_session_token")),
    )
    aws_request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(credentials, SERVICE, region).add_auth(aws_request)
    return {key.lower(): str(value) for key, value in aws_request.headers.items()}
