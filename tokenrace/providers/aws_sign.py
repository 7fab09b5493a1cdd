"""SigV4 for Bedrock through botocore's own signer (an optional extra: ``pip install 'tokenrace[aws]'``).

Credentials come the standard AWS way (environment variables, ``~/.aws`` profile files, SSO, ...).
The signature covers the exact body bytes sent, so signing happens after the body is serialized.
"""
from __future__ import annotations

from typing import Mapping

SERVICE = "bedrock"      # not "bedrock-runtime": the signing name is the service's


def sigv4_headers(method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                  region: str) -> dict[str, str]:
    """``headers`` plus the SigV4 ones; a ValueError for people when botocore or credentials are missing."""
    try:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.session import Session
    except ImportError:
        raise ValueError("signing AWS requests needs botocore: pip install 'tokenrace[aws]' "
                         "(or give a Bedrock API key: api_key, or $AWS_BEARER_TOKEN_BEDROCK)") from None
    creds = Session().get_credentials()
    if creds is None:
        raise ValueError("no AWS credentials found (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
                         "~/.aws/credentials) and no Bedrock API key (api_key or $AWS_BEARER_TOKEN_BEDROCK)")
    request = AWSRequest(method=method, url=url, data=body or b"", headers=dict(headers))
    SigV4Auth(creds.get_frozen_credentials(), SERVICE, region).add_auth(request)
    return {k: str(v) for k, v in request.headers.items()}
