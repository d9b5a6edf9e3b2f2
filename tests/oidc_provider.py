"""A local OpenID Connect provider on 127.0.0.1, standing in for GitLab's OIDC in tests
(MMODA's users sign in with GitLab; astroflow's operators point ASTROFLOW_OIDC_ISSUER at it).

Real HTTP and real RS256 JWTs: a discovery document, a JWKS, an authorize endpoint that
approves its test user at once (as GitLab does for an app the user already authorized), and
a token endpoint that checks the client secret, the redirect URI and the PKCE verifier before
it hands out an ID token carrying the nonce and GitLab's ``groups_direct`` claim.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CLIENT_ID = "astroflow-test-client"
CLIENT_SECRET = "gloas-test-client-secret"
KID = "test-key-1"


class OidcProvider:
    """The provider; ``user`` is whom the authorize endpoint signs in, ``groups`` its roles."""

    def __init__(self, user: str = "gwen", groups: list[str] | None = None) -> None:
        self.user = user
        self.groups = groups if groups is not None else ["team", "astroflow-users"]
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []          # every path asked, with its query
        self.token_bodies: list[dict[str, list[str]]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def issuer(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def id_token(self, nonce: str | None, **overrides: Any) -> str:
        """An ID token as the token endpoint signs it (tests may forge variants)."""
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "sub": "4242", "iat": now,
                  "exp": now + 300, "preferred_username": self.user,
                  "groups_direct": self.groups, **({"nonce": nonce} if nonce else {})}
        claims.update(overrides)
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID})

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": KID, "alg": "RS256", "use": "sig"}]}

    @contextmanager
    def running(self) -> Iterator[OidcProvider]:
        provider = self

        class Handler(_Handler):
            owner = provider

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    owner: OidcProvider

    def log_message(self, *args: Any) -> None:
        """Keep the test output clean: requests are not logged."""

    def _json(self, body: Any, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        provider = self.owner
        url = urlsplit(self.path)
        provider.requests.append(self.path)
        if url.path == "/.well-known/openid-configuration":
            base = provider.issuer
            self._json({"issuer": base, "authorization_endpoint": f"{base}/oauth/authorize",
                        "token_endpoint": f"{base}/oauth/token", "jwks_uri": f"{base}/oauth/discovery/keys",
                        "response_types_supported": ["code"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "code_challenge_methods_supported": ["S256"],
                        "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                                  "client_secret_post"]})
        elif url.path == "/oauth/discovery/keys":
            self._json(provider.jwks())
        elif url.path == "/oauth/authorize":
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if query.get("client_id") != CLIENT_ID or query.get("code_challenge_method") != "S256":
                self._json({"error": "invalid_request"}, 400)
                return
            code = secrets.token_urlsafe(16)
            provider.codes[code] = query
            target = query["redirect_uri"] + "?" + urlencode({"code": code,
                                                              "state": query.get("state", "")})
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._json({"error": "not_found"}, 404)

    def do_POST(self) -> None:  # noqa: N802
        provider = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        provider.token_bodies.append(form)
        field = {k: v[0] for k, v in form.items()}
        if urlsplit(self.path).path != "/oauth/token":
            self._json({"error": "not_found"}, 404)
            return
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {basic}" \
                and field.get("client_secret") != CLIENT_SECRET:
            self._json({"error": "invalid_client"}, 401)
            return
        asked = provider.codes.pop(field.get("code", ""), None)  # a code works once
        if asked is None or asked["redirect_uri"] != field.get("redirect_uri"):
            self._json({"error": "invalid_grant", "error_description": "unknown code"}, 400)
            return
        verifier = field.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if challenge.decode().rstrip("=") != asked["code_challenge"]:
            self._json({"error": "invalid_grant", "error_description": "PKCE verifier"}, 400)
            return
        self._json({"access_token": secrets.token_urlsafe(20), "token_type": "Bearer",
                    "expires_in": 7200, "id_token": provider.id_token(asked.get("nonce"))})
