"""Entra ID for one tenant and one service principal, as MSAL calls it: the tenant's OpenID configuration
(`GET /TENANT/v2.0/.well-known/openid-configuration`) and the client-credentials token request
(`POST /TENANT/oauth2/v2.0/token`). A wrong secret gets AADSTS7000215 `invalid_client`, as from Microsoft."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid

from parlay_provider_azure.standin.server import Reply, Request


def _error(status: int, error: str, code: int, description: str) -> Reply:
    trace, correlation = uuid.uuid4(), uuid.uuid4()
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    text = f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {stamp}"
    body = {
        "error": error,
        "error_description": text,
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": str(trace),
        "correlation_id": str(correlation),
    }
    return Reply(status, body)


class Directory:
    """The tenant: issues tokens to its one client for its secret, and tells which tokens it issued."""

    def __init__(self, tenant: str, client_id: str, client_secret: str):
        self.tenant = tenant
        self.client_id = client_id
        self.client_secret = client_secret
        self._tokens: set[str] = set()
        self._lock = threading.Lock()

    def handle(self, request: Request, base_url: str) -> Reply | None:
        """The answer to a request of Entra ID's, or None if it is not one."""
        parts = request.parts
        if len(parts) != 4:
            return None
        tenant, rest = parts[0], [part.lower() for part in parts[1:]]
        if rest == ["v2.0", ".well-known", "openid-configuration"] and request.method == "GET":
            return self._configuration(tenant, base_url)
        if rest == ["oauth2", "v2.0", "token"] and request.method == "POST":
            return self._token(tenant, request.form(), base_url)
        return None

    def valid(self, token: str) -> bool:
        with self._lock:
            return token in self._tokens

    def revoke(self) -> None:
        """Forget every token issued, as if they came from another tenant."""
        with self._lock:
            self._tokens.clear()

    def _configuration(self, tenant: str, base_url: str) -> Reply:
        if tenant != self.tenant:
            return _error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        root = f"{base_url}/{tenant}"
        return Reply(
            200,
            {
                "token_endpoint": f"{root}/oauth2/v2.0/token",
                "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                "issuer": f"{root}/v2.0",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "tenant_region_scope": None,
            },
        )

    def _token(self, tenant: str, form: dict[str, str], base_url: str) -> Reply:
        if tenant != self.tenant:
            return _error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return _error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        client = form.get("client_id", "")
        if client != self.client_id:
            description = f"Application with identifier '{client}' was not found in the directory '{tenant}'."
            return _error(400, "unauthorized_client", 700016, description)
        if form.get("client_secret") != self.client_secret:
            description = (
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{client}'."
            )
            return _error(401, "invalid_client", 7000215, description)
        scope = form.get("scope", "")
        if not scope.endswith("/.default"):
            return _error(400, "invalid_scope", 1002012, f"The provided value for scope {scope} is not valid.")
        now = int(time.time())
        claims = {
            "aud": scope.removesuffix("/.default"),
            "iss": f"{base_url}/{tenant}/",
            "tid": tenant,
            "appid": client,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "jti": secrets.token_hex(8),
        }
        token = ".".join(_segment(part) for part in ({"typ": "JWT", "alg": "none"}, claims)) + "."
        with self._lock:
            self._tokens.add(token)
        return Reply(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})


def _segment(part: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
