"""The stand-in's service accounts: key files made for a test (a fresh RSA key), and the check of the bearer
token Google's client sends with each call. With a service account's key, google-cloud-compute signs its own
JWT (`always_use_jwt_access`, Google's AIP-4111) rather than exchanging one for an access token: the stand-in
verifies its signature with the public half of the registered key, its issuer, expiry and scope."""

from __future__ import annotations

import json
import secrets
import threading
from pathlib import Path

from google.auth import jwt

SCOPES = frozenset({"https://www.googleapis.com/auth/compute", "https://www.googleapis.com/auth/cloud-platform"})


class Accounts:
    """Registered keys: key id -> (account, public key)."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def key_file(self, path: Path, project: str, token_uri: str, registered: bool = True) -> Path:
        """Write a service account's JSON key file (account `parlay-test@PROJECT.iam...`) with a new RSA key,
        whose public half the stand-in knows if `registered` (else the key is a wrong one)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        public = (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        key_id, account = secrets.token_hex(20), f"parlay-test@{project}.iam.gserviceaccount.com"
        if registered:
            with self._lock:
                self._keys[key_id] = (account, public)
        content = {
            "type": "service_account",
            "project_id": project,
            "private_key_id": key_id,
            "private_key": private,
            "client_email": account,
            "client_id": str(secrets.randbits(64)),
            "token_uri": token_uri,
        }
        path.write_text(json.dumps(content, indent=2))
        return path

    def bearer(self, authorization: str | None) -> str | None:
        """The account an `Authorization: Bearer JWT` header speaks for: the JWT is signed by a registered key
        of that account, unexpired, and asks for a Compute Engine scope. None otherwise."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization.removeprefix("Bearer ")
        try:
            with self._lock:
                account, public = self._keys[jwt.decode_header(token).get("kid", "")]
            claims = jwt.decode(token, certs=public)
        except (KeyError, ValueError):
            return None
        scopes = set(str(claims.get("scope", "")).split())
        return account if claims.get("iss") == account and scopes & SCOPES else None
