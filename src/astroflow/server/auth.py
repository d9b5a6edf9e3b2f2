"""Who is calling: bearer JWTs (HS256 secret, RS256 key pair, the server's own ES256 key or
an identity provider's JWKS) become a :class:`Caller`.

Tokens travel only in the ``Authorization`` header (never in query strings, unlike MMODA's
dispatcher), and each refusal carries a short reason the client can act on. MMODA tokens carry
``roles`` as one comma-separated string, so both that and a JSON list are accepted.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt

from astroflow.errors import AstroflowError

DEFAULT_TTL = timedelta(days=30)
_ROLE_SEPARATORS = re.compile(r"[,\s]+")
_TTL = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)\s*$", re.IGNORECASE)
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RESERVED_CLAIMS = frozenset({"sub", "roles", "exp", "iat", "iss", "aud"})
# What a JWKS (an OpenID provider's keys) may sign with; never HS* nor "none".
JWKS_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                             "ES256", "ES384"})


@dataclass(frozen=True)
class Caller:
    """The identity a request acts for; anonymous callers have no ``sub`` and no roles."""

    sub: str | None
    roles: frozenset[str]
    token: str | None
    address: str | None = None  # the client's network address, set per request

    @property
    def anonymous(self) -> bool:
        return self.sub is None

    def has_roles(self, required: Iterable[str]) -> bool:
        """Whether the caller holds every one of ``required`` (an empty list always holds)."""
        return set(required) <= self.roles


ANONYMOUS = Caller(None, frozenset(), None)


class AuthError(AstroflowError):
    """A request whose credentials are refused (HTTP 401); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class AuthConfig:
    """Keys that verify (and, for ``astroflow token create``, sign) tokens.

    ``secret`` enables HS256; ``public_key`` (PEM) enables RS256 verification and
    ``private_key`` (PEM) RS256 signing; a private key alone also verifies, through its
    public half. ``signing_key`` is the server's own ES256 key (made in the data directory
    when no signing key is configured, see :mod:`astroflow.accounts.keys`); ``jwks_url``
    verifies tokens an identity provider signed, by their ``kid``.
    """

    secret: str | None = None
    public_key: str | None = None
    private_key: str | None = None
    issuer: str | None = None
    audience: str | None = None
    leeway: float = 10
    signing_key: str | None = None
    jwks_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> AuthConfig:
        """Read ``ASTROFLOW_JWT_*``; key variables hold PEM text or the path of a PEM file."""
        leeway = environ.get("ASTROFLOW_JWT_LEEWAY", "").strip()
        try:
            seconds = float(leeway) if leeway else 10.0
        except ValueError:
            raise ValueError(f"ASTROFLOW_JWT_LEEWAY={leeway!r} is not a number of seconds") from None
        return cls(
            secret=environ.get("ASTROFLOW_JWT_SECRET") or None,
            public_key=_pem(environ, "ASTROFLOW_JWT_PUBLIC_KEY"),
            private_key=_pem(environ, "ASTROFLOW_JWT_PRIVATE_KEY"),
            issuer=environ.get("ASTROFLOW_JWT_ISSUER") or None,
            audience=environ.get("ASTROFLOW_JWT_AUDIENCE") or None,
            leeway=seconds,
            jwks_url=environ.get("ASTROFLOW_JWT_JWKS_URL") or None,
        )

    @property
    def can_verify(self) -> bool:
        return bool(self.can_sign or self.public_key or self.jwks_url)

    @property
    def can_sign(self) -> bool:
        return bool(self.secret or self.private_key or self.signing_key)

    @property
    def configured(self) -> bool:
        """Keys the operator set (not only the key `astroflow serve` made itself): what
        policies meant for a server with access control (e.g. no anonymous uploads) ask."""
        return bool(self.secret or self.public_key or self.private_key or self.jwks_url)

    def with_stored_key(self, data_dir: Path, create: bool = False) -> AuthConfig:
        """This config plus the data directory's own key, when no signing key is configured
        (explicit keys win); ``create`` makes that key first if there is none."""
        if self.secret or self.private_key:
            return self
        from astroflow.accounts.keys import ensure_signing_key, load_signing_key

        pem = ensure_signing_key(data_dir) if create else load_signing_key(data_dir)
        return replace(self, signing_key=pem) if pem else self


def _pem(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name) or ""
    if not value.strip():
        return None
    if "-----BEGIN" in value:
        return value
    path = Path(value.strip()).expanduser()
    try:
        return path.read_text("ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{name} is neither PEM text nor a readable PEM file: {exc}") from exc


def caller_from_header(authorization: str | None, config: AuthConfig) -> Caller:
    """The caller an ``Authorization`` header names; no header means :data:`ANONYMOUS`.

    Raises :class:`AuthError` for any header that is present but not a valid bearer token.
    """
    if authorization is None or not authorization.strip():
        return ANONYMOUS
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise AuthError(f"unsupported authorization scheme {scheme!r}; "
                        "send 'Authorization: Bearer <token>'")
    token = token.strip()
    if not token:
        raise AuthError("malformed token: the Bearer header carries no token")
    claims = _verify(token, config)
    return Caller(sub=claims["sub"], roles=parse_roles(claims.get("roles")), token=token)


def _verify(token: str, config: AuthConfig) -> dict[str, Any]:
    if not config.can_verify:
        raise AuthError("no key configured to verify tokens")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as exc:
        raise AuthError(f"malformed token: {exc}") from exc
    algorithm = header.get("alg")
    key = _verification_key(algorithm, header.get("kid"), token, config)
    assert isinstance(algorithm, str)  # _verification_key accepts only the configured ones
    options: Any = {"require": ["exp", "sub"]}  # pyjwt's Options
    if config.audience is None:
        options["verify_aud"] = False  # a server without an audience accepts any
    try:
        claims = jwt.decode(token, key, algorithms=[algorithm], options=options,
                            issuer=config.issuer, audience=config.audience,
                            leeway=config.leeway)
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired") from exc
    except jwt.InvalidSignatureError as exc:
        raise AuthError("invalid signature") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(f"token missing {exc.claim!r}") from exc
    except jwt.exceptions.InvalidSubjectError as exc:
        raise AuthError("token 'sub' must be a string") from exc
    except jwt.InvalidIssuerError as exc:
        raise AuthError(f"token issuer is not {config.issuer!r}") from exc
    except jwt.InvalidAudienceError as exc:
        raise AuthError(f"token audience is not {config.audience!r}") from exc
    except jwt.ImmatureSignatureError as exc:
        raise AuthError("token not yet valid") from exc
    except jwt.DecodeError as exc:
        raise AuthError(f"malformed token: {exc}") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from exc
    if not claims["sub"]:
        raise AuthError("token missing 'sub'")
    return claims


def _verification_key(algorithm: Any, kid: Any, token: str, config: AuthConfig) -> Any:
    """The key for the token's declared algorithm; each algorithm has exactly one key, except
    that a JWKS holds keys by ``kid``.

    Choosing the key by algorithm (never the other way round) prevents the classic attack of
    an HS256 token signed with the public RSA key as its secret, and ``alg: none``.
    """
    accepted = [alg for alg, key in (("HS256", config.secret),
                                     ("RS256", config.public_key or config.private_key),
                                     ("ES256", config.signing_key)) if key]
    if config.jwks_url:
        accepted.append("a key of " + config.jwks_url)
    if algorithm == "HS256" and config.secret:
        return config.secret
    if algorithm == "ES256" and config.signing_key:
        from astroflow.accounts.keys import key_id, public_key

        if kid is None or kid == key_id(config.signing_key) or not config.jwks_url:
            return public_key(config.signing_key)
    if config.jwks_url and algorithm in JWKS_ALGORITHMS and kid is not None:
        return _jwks_key(config.jwks_url, token)
    if algorithm == "RS256" and config.public_key:
        return config.public_key
    if algorithm == "RS256" and config.private_key:
        return _public_half(config.private_key)
    raise AuthError(f"token algorithm {algorithm!r} is not accepted "
                    f"(expected {' or '.join(accepted)})")


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    """One client per JWKS URL: it caches the keys (5 min), so most tokens cost no request."""
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=10)


def _jwks_key(url: str, token: str) -> Any:
    try:
        return _jwks_client(url).get_signing_key_from_jwt(token).key
    except jwt.PyJWKClientConnectionError as exc:
        raise AuthError(f"the identity provider's keys could not be fetched: {exc}") from exc
    except (jwt.PyJWKClientError, jwt.DecodeError) as exc:
        raise AuthError(f"token key not found among the identity provider's keys: {exc}") from exc


@lru_cache(maxsize=4)
def _public_half(private_pem: str) -> Any:
    """The public key of a PEM private key (cached: parsing RSA keys costs milliseconds)."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(private_pem.encode("ascii"), password=None).public_key()


def parse_roles(claim: Any) -> frozenset[str]:
    """Roles from a JSON list or a comma/space separated string (MMODA's form)."""
    if claim is None:
        return frozenset()
    if isinstance(claim, str):
        return frozenset(r for r in _ROLE_SEPARATORS.split(claim) if r)
    if isinstance(claim, list | tuple) and all(isinstance(r, str) for r in claim):
        return frozenset(r.strip() for r in claim if r.strip())
    raise AuthError("token 'roles' must be a list of strings or a comma-separated string")


def mint_token(config: AuthConfig, sub: str, roles: Iterable[str] = (),
               ttl: float | timedelta = DEFAULT_TTL, **claims: Any) -> str:
    """A signed token for ``sub``: HS256 with the secret, else RS256 with the private key,
    else ES256 with the server's own key."""
    if not sub:
        raise ValueError("a token needs a non-empty 'sub'")
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    if seconds <= 0:
        raise ValueError(f"token lifetime must be positive, got {seconds} s")
    clash = sorted(_RESERVED_CLAIMS & claims.keys())
    if clash:
        raise ValueError(f"claims {', '.join(clash)} are set by mint_token itself")
    headers: dict[str, str] | None = None
    if config.secret:
        key, algorithm = config.secret, "HS256"
    elif config.private_key:
        key, algorithm = config.private_key, "RS256"
    elif config.signing_key:
        from astroflow.accounts.keys import key_id

        key, algorithm = config.signing_key, "ES256"
        headers = {"kid": key_id(config.signing_key)}
    else:
        raise AuthError("no key configured to sign tokens: set ASTROFLOW_JWT_SECRET or "
                        "ASTROFLOW_JWT_PRIVATE_KEY, or start `astroflow serve` once to make "
                        "its own key in the data directory")
    now = int(time.time())
    payload: dict[str, Any] = {**claims, "sub": sub, "roles": sorted(set(roles)),
                               "iat": now, "exp": now + int(round(seconds))}
    if config.issuer:
        payload["iss"] = config.issuer
    if config.audience:
        payload["aud"] = config.audience
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


def parse_ttl(text: str) -> timedelta:
    """``"30d"``, ``"12h"``, ``"15m"``, ``"3600s"``, ``"2w"`` or bare seconds → timedelta."""
    match = _TTL.match(text or "")
    if match is None:
        raise ValueError(f"invalid token lifetime {text!r}: use a number with an optional unit "
                         "s, m, h, d or w, e.g. 30d, 12h, 15m or 3600")
    seconds = float(match.group(1)) * _TTL_UNITS[match.group(2).lower()]
    if seconds <= 0:
        raise ValueError(f"invalid token lifetime {text!r}: it must be longer than zero")
    return timedelta(seconds=seconds)
