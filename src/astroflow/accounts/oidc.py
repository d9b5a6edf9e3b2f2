"""OpenID Connect sign-in: authorization-code flow with PKCE, ``state`` and ``nonce``.

astroflow is the client of an operator's provider (GitLab, Keycloak, …). The login step
keeps ``state``, ``nonce`` and the PKCE verifier in a short-lived HttpOnly cookie signed with
a key derived from the server's own key, so any replica can finish a login another started
and nothing is stored server-side. The callback checks the ID token's signature against the
provider's JWKS, its issuer, audience, expiry and nonce, then maps one claim to roles.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from astroflow.errors import AstroflowError
from astroflow.server.auth import JWKS_ALGORITHMS, AuthConfig, AuthError, parse_roles

STATE_TTL = 600  # seconds a visitor has to come back from the provider
COOKIE = "astroflow_oidc"


class OidcError(AstroflowError):
    """A sign-in the provider or the callback refused; the message says why."""


@dataclass(frozen=True)
class OidcConfig:
    """An operator-configured provider (``ASTROFLOW_OIDC_*``)."""

    issuer: str
    client_id: str
    client_secret: str | None = None
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    roles_claim: str | None = None        # e.g. GitLab's "groups_direct"
    username_claim: str = "preferred_username"
    default_roles: tuple[str, ...] = ()
    name: str = "OpenID Connect"          # the portal's button: "Sign in with <name>"
    redirect_url: str | None = None       # default: this server's /api/v1/auth/oidc/callback
    leeway: float = 10

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> OidcConfig | None:
        """None unless ASTROFLOW_OIDC_ISSUER is set; then the client id is required."""
        issuer = (environ.get("ASTROFLOW_OIDC_ISSUER") or "").strip().rstrip("/")
        if not issuer:
            return None
        client_id = (environ.get("ASTROFLOW_OIDC_CLIENT_ID") or "").strip()
        if not client_id:
            raise ValueError("ASTROFLOW_OIDC_ISSUER is set but ASTROFLOW_OIDC_CLIENT_ID is not")
        scopes = tuple(s for s in (environ.get("ASTROFLOW_OIDC_SCOPES") or "").replace(",", " ")
                       .split() if s) or cls.scopes
        if "openid" not in scopes:
            scopes = ("openid", *scopes)
        roles = (environ.get("ASTROFLOW_OIDC_DEFAULT_ROLES") or "").replace(",", " ").split()
        return cls(issuer=issuer, client_id=client_id,
                   client_secret=environ.get("ASTROFLOW_OIDC_CLIENT_SECRET") or None,
                   scopes=scopes, roles_claim=environ.get("ASTROFLOW_OIDC_ROLES_CLAIM") or None,
                   username_claim=environ.get("ASTROFLOW_OIDC_USERNAME_CLAIM")
                   or "preferred_username",
                   default_roles=tuple(roles),
                   name=environ.get("ASTROFLOW_OIDC_NAME") or "OpenID Connect",
                   redirect_url=environ.get("ASTROFLOW_OIDC_REDIRECT_URL") or None)


@lru_cache(maxsize=4)
def _discovery(issuer: str) -> dict[str, Any]:
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        response = httpx.get(url, timeout=10)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcError(f"the identity provider's discovery document {url} could not be "
                        f"read: {exc}") from exc
    missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")
               if not isinstance(document.get(k), str)]
    if missing:
        raise OidcError(f"the identity provider's discovery document lacks {', '.join(missing)}")
    return document


def discovery(config: OidcConfig) -> dict[str, Any]:
    """The provider's ``.well-known/openid-configuration`` (fetched once; failures retried)."""
    try:
        return _discovery(config.issuer)
    except OidcError:
        _discovery.cache_clear()
        raise


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _state_key(auth: AuthConfig, config: OidcConfig) -> bytes:
    """A key for the login cookie only, derived from the server's signing material, so a
    login cookie is never a valid bearer token and needs no key of its own."""
    material = auth.secret or auth.private_key or auth.signing_key
    if not material:
        raise AuthError("no key configured to sign tokens: OpenID Connect sign-in needs one")
    return hashlib.sha256(b"astroflow-oidc-state\0" + material.encode()
                          + b"\0" + (config.client_secret or "").encode()).digest()


def start(config: OidcConfig, auth: AuthConfig, redirect_uri: str) -> tuple[str, str]:
    """The provider's authorization URL and the login cookie that goes with it."""
    endpoints = discovery(config)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    challenge = _b64(hashlib.sha256(verifier.encode("ascii")).digest())
    query = {"response_type": "code", "client_id": config.client_id,
             "redirect_uri": redirect_uri, "scope": " ".join(config.scopes), "state": state,
             "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256"}
    now = int(time.time())
    cookie = jwt.encode({"state": state, "nonce": nonce, "verifier": verifier,
                         "redirect_uri": redirect_uri, "iat": now, "exp": now + STATE_TTL},
                        _state_key(auth, config), algorithm="HS256")
    separator = "&" if "?" in endpoints["authorization_endpoint"] else "?"
    return endpoints["authorization_endpoint"] + separator + urlencode(query), cookie


def finish(config: OidcConfig, auth: AuthConfig, code: str, state: str,
           cookie: str | None) -> tuple[str, list[str]]:
    """Check the callback, exchange the code, verify the ID token → (user name, roles)."""
    if not cookie:
        raise OidcError("the sign-in took too long or started in another browser; "
                        "sign in again")
    try:
        saved = jwt.decode(cookie, _state_key(auth, config), algorithms=["HS256"],
                           options={"require": ["exp", "state", "nonce", "verifier"]})
    except jwt.ExpiredSignatureError:
        raise OidcError("the sign-in took longer than 10 minutes; sign in again") from None
    except jwt.InvalidTokenError:
        raise OidcError("the sign-in cookie is not valid; sign in again") from None
    if not hmac.compare_digest(str(saved["state"]), state or ""):
        raise OidcError("the sign-in answer does not match the sign-in this browser started "
                        "(state differs); sign in again")
    endpoints = discovery(config)
    tokens = _exchange(config, endpoints, code, saved["verifier"], saved["redirect_uri"])
    claims = verify_id_token(config, endpoints, tokens.get("id_token"), saved["nonce"])
    username = claims.get(config.username_claim) or claims["sub"]
    if not isinstance(username, str) or not username:
        raise OidcError(f"the identity provider's ID token has no usable "
                        f"{config.username_claim!r} or 'sub'")
    roles = set(config.default_roles)
    if config.roles_claim and claims.get(config.roles_claim) is not None:
        try:
            roles |= parse_roles(claims[config.roles_claim])
        except AuthError:
            raise OidcError(f"the ID token's {config.roles_claim!r} claim is not a list of "
                            "strings") from None
    return username, sorted(roles)


def _exchange(config: OidcConfig, endpoints: Mapping[str, Any], code: str, verifier: str,
              redirect_uri: str) -> dict[str, Any]:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier, "client_id": config.client_id}
    methods = endpoints.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    auth = None
    if config.client_secret and "client_secret_basic" in methods:
        auth = httpx.BasicAuth(config.client_id, config.client_secret)
    elif config.client_secret:
        form["client_secret"] = config.client_secret
    try:
        response = httpx.post(endpoints["token_endpoint"], data=form, auth=auth, timeout=15,
                              headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise OidcError(f"the identity provider could not be reached: {exc}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body, dict):
        reason = body.get("error_description") or body.get("error") if isinstance(body, dict) \
            else None
        raise OidcError(f"the identity provider refused the sign-in code "
                        f"(HTTP {response.status_code}{': ' + str(reason) if reason else ''})")
    return body


@lru_cache(maxsize=4)
def _jwks(uri: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(uri, cache_keys=True, lifespan=300, timeout=10)


def verify_id_token(config: OidcConfig, endpoints: Mapping[str, Any], id_token: Any,
                    nonce: str) -> dict[str, Any]:
    """The ID token's claims, once its signature (provider JWKS), issuer, audience, expiry
    and nonce all check out."""
    if not isinstance(id_token, str) or not id_token:
        raise OidcError("the identity provider sent no ID token (is 'openid' in the scopes?)")
    offered = endpoints.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [a for a in offered if a in JWKS_ALGORITHMS]
    try:
        key = _jwks(endpoints["jwks_uri"]).get_signing_key_from_jwt(id_token).key
        claims = jwt.decode(id_token, key, algorithms=algorithms, audience=config.client_id,
                            issuer=config.issuer, leeway=config.leeway,
                            options={"require": ["exp", "iat", "sub", "iss", "aud"]})
    except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
        raise OidcError(f"the identity provider's ID token was refused: {exc}") from exc
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise OidcError("the ID token's nonce does not match this sign-in; sign in again")
    return claims
