"""The server's own signing key, made once in the data directory and reused on restart.

ES256 (an elliptic-curve P-256 key) rather than a random HS256 secret: the key signs and its
public half verifies, so the public half can be published (``/api/v1/auth/jwks``) for other
services without letting them mint tokens; ES256 is also a different algorithm than the
RS256 tokens of an operator's key or an OpenID provider, so each algorithm keeps exactly one
key. Replicas sharing the data directory share the key: the first one to start writes it
(atomically, with a hard link that fails if another won), the others read it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
from functools import lru_cache
from pathlib import Path

KEY_FILE = Path("keys") / "signing-es256.pem"


def key_path(data_dir: Path) -> Path:
    return Path(data_dir) / KEY_FILE


def load_signing_key(data_dir: Path) -> str | None:
    """The stored key's PEM text, or None when there is none yet; ValueError (saying what
    to do) for a file that is unreadable or not a P-256 private key."""
    path = key_path(data_dir)
    try:
        pem = path.read_text("ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"the signing key {path} cannot be read: {exc}") from exc
    try:
        from cryptography.hazmat.primitives.asymmetric import ec

        key = _private(pem)
        if not (isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"):
            raise ValueError("not a P-256 key")
    except ValueError as exc:
        raise ValueError(f"the signing key {path} is not a P-256 private key in PEM ({exc}); "
                         "remove it and `astroflow serve` makes a new one (tokens signed "
                         "with the old key then stop working)") from None
    return pem


def ensure_signing_key(data_dir: Path) -> str:
    """The stored key, made first (mode 0600 in a 0700 folder) if there is none."""
    existing = load_signing_key(data_dir)
    if existing:
        return existing
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    path = key_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another replica was first: use its key
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_text("ascii")


@lru_cache(maxsize=8)
def key_id(private_pem: str) -> str:
    """A stable ``kid`` for the key: a hash of its public half."""
    from cryptography.hazmat.primitives import serialization

    public = _private(private_pem).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.sha256(public).digest()
    return "af-" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:16]


@lru_cache(maxsize=8)
def _private(private_pem: str):  # noqa: ANN202 - a cryptography key object
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(private_pem.encode("ascii"), password=None)


def public_key(private_pem: str):  # noqa: ANN201 - a cryptography key object
    """The public half (cached: parsing keys costs more than verifying a token)."""
    return _private(private_pem).public_key()


def public_jwk(private_pem: str) -> dict[str, str]:
    """The public half as a JWK, for ``/api/v1/auth/jwks``."""
    import json

    from jwt.algorithms import ECAlgorithm

    jwk = json.loads(ECAlgorithm.to_jwk(public_key(private_pem)))
    return {**jwk, "kid": key_id(private_pem), "alg": "ES256", "use": "sig"}
