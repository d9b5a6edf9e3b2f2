"""Bearer tokens: HS256 and RS256, refusals with reasons, MMODA-style roles, lifetimes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta

import jwt
import pytest

from astroflow.server.auth import (
    ANONYMOUS,
    AuthConfig,
    AuthError,
    Caller,
    caller_from_header,
    mint_token,
    parse_ttl,
)

SECRET = "a-secret-of-at-least-thirty-two-bytes!!"
HS = AuthConfig(secret=SECRET)


@pytest.fixture(scope="module")
def rsa_pair() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_no_header_is_anonymous():
    for header in (None, "", "   "):
        caller = caller_from_header(header, HS)
        assert caller is ANONYMOUS
        assert caller.anonymous and caller.roles == frozenset() and caller.token is None
    assert caller_from_header(None, AuthConfig()) is ANONYMOUS  # even without keys


def test_hs256_round_trip_with_roles():
    token = mint_token(HS, "alice@example.org", roles=["integral-private", "general"])
    caller = caller_from_header(bearer(token), HS)
    assert caller == Caller("alice@example.org", frozenset({"general", "integral-private"}), token)
    assert not caller.anonymous
    assert caller.has_roles(["general"]) and caller.has_roles([])
    assert not caller.has_roles(["general", "admin"])
    assert caller_from_header(f"bearer   {token}  ", HS).sub == "alice@example.org"


def test_roles_as_mmoda_string():
    token = jwt.encode({"sub": "bob", "exp": time.time() + 60,
                        "roles": "general, integral-private-qla,unige-hpc-full  magic"},
                       SECRET, algorithm="HS256")
    caller = caller_from_header(bearer(token), HS)
    assert caller.roles == {"general", "integral-private-qla", "unige-hpc-full", "magic"}


def test_roles_absent_or_malformed():
    token = jwt.encode({"sub": "bob", "exp": time.time() + 60}, SECRET, algorithm="HS256")
    assert caller_from_header(bearer(token), HS).roles == frozenset()
    token = jwt.encode({"sub": "bob", "exp": time.time() + 60, "roles": {"a": 1}}, SECRET)
    with pytest.raises(AuthError, match="roles"):
        caller_from_header(bearer(token), HS)


def test_expired_token():
    token = jwt.encode({"sub": "carol", "exp": time.time() - 3600}, SECRET, algorithm="HS256")
    with pytest.raises(AuthError) as info:
        caller_from_header(bearer(token), HS)
    assert info.value.reason == "token expired"


def test_leeway_accepts_just_expired():
    token = jwt.encode({"sub": "carol", "exp": time.time() - 2}, SECRET, algorithm="HS256")
    assert caller_from_header(bearer(token), HS).sub == "carol"
    with pytest.raises(AuthError, match="expired"):
        caller_from_header(bearer(token), AuthConfig(secret=SECRET, leeway=0))


def test_forged_signature():
    forged = mint_token(AuthConfig(secret="another-secret-of-thirty-two-bytes!!"), "mallory",
                        roles=["admin"])
    with pytest.raises(AuthError) as info:
        caller_from_header(bearer(forged), HS)
    assert info.value.reason == "invalid signature"


def test_tampered_payload():
    header, _, signature = mint_token(HS, "mallory").split(".")
    payload = base64.urlsafe_b64encode(json.dumps(
        {"sub": "mallory", "roles": ["admin"], "exp": time.time() + 60}).encode()).rstrip(b"=")
    with pytest.raises(AuthError, match="invalid signature"):
        caller_from_header(bearer(f"{header}.{payload.decode()}.{signature}"), HS)


def test_alg_none_rejected():
    token = jwt.encode({"sub": "mallory", "exp": time.time() + 60}, None, algorithm="none")
    with pytest.raises(AuthError) as info:
        caller_from_header(bearer(token), HS)
    assert "'none' is not accepted" in info.value.reason


def test_hs256_signed_with_public_key_rejected(rsa_pair):
    """Algorithm confusion: an HS256 token whose HMAC secret is the server's public RSA key."""
    _, public = rsa_pair

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "."
                     + b64(json.dumps({"sub": "mallory", "exp": time.time() + 60}).encode()))
    mac = hmac.new(public.encode(), signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(AuthError, match="'HS256' is not accepted"):
        caller_from_header(bearer(f"{signing_input}.{b64(mac)}"), AuthConfig(public_key=public))


def test_missing_sub_and_exp():
    no_sub = jwt.encode({"exp": time.time() + 60}, SECRET, algorithm="HS256")
    with pytest.raises(AuthError) as info:
        caller_from_header(bearer(no_sub), HS)
    assert info.value.reason == "token missing 'sub'"
    empty_sub = jwt.encode({"sub": "", "exp": time.time() + 60}, SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match="missing 'sub'"):
        caller_from_header(bearer(empty_sub), HS)
    numeric_sub = jwt.encode({"sub": 42, "exp": time.time() + 60}, SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match="'sub' must be a string"):
        caller_from_header(bearer(numeric_sub), HS)
    no_exp = jwt.encode({"sub": "dave"}, SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match="missing 'exp'"):
        caller_from_header(bearer(no_exp), HS)


def test_malformed_and_wrong_scheme():
    with pytest.raises(AuthError, match="malformed token"):
        caller_from_header("Bearer not.a.jwt", HS)
    with pytest.raises(AuthError, match="malformed token"):
        caller_from_header("Bearer", HS)
    with pytest.raises(AuthError, match="unsupported authorization scheme 'Basic'"):
        caller_from_header("Basic dXNlcjpwYXNz", HS)


def test_no_key_configured():
    token = mint_token(HS, "erin")
    with pytest.raises(AuthError) as info:
        caller_from_header(bearer(token), AuthConfig())
    assert info.value.reason == "no key configured to verify tokens"
    with pytest.raises(AuthError, match="sign tokens"):
        mint_token(AuthConfig(), "erin")


def test_rs256(rsa_pair):
    private, public = rsa_pair
    signer = AuthConfig(private_key=private)
    verifier = AuthConfig(public_key=public)
    token = mint_token(signer, "frank", roles=("general",), ttl=timedelta(hours=1))
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert caller_from_header(bearer(token), verifier).roles == {"general"}
    assert caller_from_header(bearer(token), signer).sub == "frank"  # private key verifies too
    # an RS256-only server refuses HS256 tokens, and an HS256-only server refuses RS256
    with pytest.raises(AuthError, match="'HS256' is not accepted"):
        caller_from_header(bearer(mint_token(HS, "frank")), verifier)
    with pytest.raises(AuthError, match="'RS256' is not accepted"):
        caller_from_header(bearer(token), HS)


def test_rs256_forged_with_other_key(rsa_pair):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    token = mint_token(AuthConfig(private_key=other), "mallory")
    with pytest.raises(AuthError, match="invalid signature"):
        caller_from_header(bearer(token), AuthConfig(public_key=rsa_pair[1]))


def test_issuer_and_audience():
    config = AuthConfig(secret=SECRET, issuer="astroflow", audience="portal")
    token = mint_token(config, "gina", email="gina@example.org")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="portal")
    assert claims["iss"] == "astroflow" and claims["email"] == "gina@example.org"
    assert caller_from_header(bearer(token), config).sub == "gina"
    with pytest.raises(AuthError, match="issuer"):
        caller_from_header(bearer(token), AuthConfig(secret=SECRET, issuer="other"))
    with pytest.raises(AuthError, match="audience"):
        caller_from_header(bearer(token), AuthConfig(secret=SECRET, audience="other"))
    # a server that configures no audience accepts tokens that carry one
    assert caller_from_header(bearer(token), HS).sub == "gina"


def test_mint_token_lifetime_and_claims():
    token = mint_token(HS, "hal", ttl=120)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 120 and claims["roles"] == []
    default = jwt.decode(mint_token(HS, "hal"), SECRET, algorithms=["HS256"])
    assert default["exp"] - default["iat"] == 30 * 86400
    with pytest.raises(ValueError, match="positive"):
        mint_token(HS, "hal", ttl=0)
    with pytest.raises(ValueError, match="exp"):
        mint_token(HS, "hal", email="x", exp=5)


def test_from_env(tmp_path, rsa_pair):
    private, public = rsa_pair
    key_file = tmp_path / "public.pem"
    key_file.write_text(public)
    config = AuthConfig.from_env({
        "ASTROFLOW_JWT_SECRET": SECRET,
        "ASTROFLOW_JWT_PUBLIC_KEY": str(key_file),
        "ASTROFLOW_JWT_PRIVATE_KEY": private,
        "ASTROFLOW_JWT_ISSUER": "iss",
        "ASTROFLOW_JWT_AUDIENCE": "",
    })
    assert config == AuthConfig(secret=SECRET, public_key=public, private_key=private,
                                issuer="iss", audience=None)
    assert AuthConfig.from_env({}) == AuthConfig()
    with pytest.raises(ValueError, match="ASTROFLOW_JWT_PUBLIC_KEY"):
        AuthConfig.from_env({"ASTROFLOW_JWT_PUBLIC_KEY": str(tmp_path / "missing.pem")})


@pytest.mark.parametrize(("text", "seconds"), [
    ("30d", 30 * 86400), ("12h", 12 * 3600), ("15m", 900), ("3600s", 3600), ("3600", 3600),
    ("2w", 14 * 86400), (" 1.5H ", 5400),
])
def test_parse_ttl(text, seconds):
    assert parse_ttl(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "d", "30 days", "-5m", "0", "1y", "3600ss"])
def test_parse_ttl_rejects(text):
    with pytest.raises(ValueError, match="invalid token lifetime"):
        parse_ttl(text)
