"""Sign-in (issue 18): the server's own key, local accounts, password login, API tokens,
OpenID Connect against a local provider (tests/oidc_provider.py, standing in for GitLab's
OIDC), JWKS verification, and refusals. Every test here fails on 311d7db, which had no
generated key, no accounts, no /api/v1/auth routes and no JWKS support.

One server for the module, started as `make serve` would: no ASTROFLOW_JWT_* key.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import jwt
import pytest
from oidc_provider import CLIENT_ID, CLIENT_SECRET, KID, OidcProvider
from server_process import TEST_SERVICES, ServerProcess

from astroflow.accounts.keys import ensure_signing_key, key_id, key_path, load_signing_key
from astroflow.accounts.passwords import hash_password, verify_password
from astroflow.accounts.users import AccountError, Users
from astroflow.cli import main
from astroflow.server.config import ServerConfig

LOGIN_LIMIT = 20  # above the sign-ins the other tests make within a minute
PASSWORDS = {"alice": "correct horse battery staple", "bob": "hunter2-but-longer"}


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, data_dir: Path, stdin: str = "") -> Ran:
    """`astroflow ARGS --data-dir DIR` in this process (the real entry point; no import
    delay per call), with no ASTROFLOW_JWT_* key in the environment."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("ASTROFLOW_JWT_")}
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err), _stdin(stdin):
            code = main([*args, "--data-dir", str(data_dir)])
    finally:
        os.environ.update(saved)
    return Ran(code, out.getvalue(), err.getvalue())


@contextmanager
def _stdin(text: str) -> Iterator[None]:
    saved, sys.stdin = sys.stdin, io.StringIO(text)
    try:
        yield
    finally:
        sys.stdin = saved


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with OidcProvider().running() as running:
        yield running


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("signin")
    for name, roles in (("alice", "team,general,secret-team"), ("bob", "general,secret-team")):
        done = cli("user", "add", name, "--roles", roles, "--password-stdin", data_dir=folder,
                   stdin=PASSWORDS[name] + "\n")
        assert done.returncode == 0, done.stderr
    return folder


def server_env(provider: OidcProvider) -> dict[str, str]:
    return {"ASTROFLOW_JWT_SECRET": "", "ASTROFLOW_OFFLINE": "1",
            "ASTROFLOW_LOGIN_RATE_LIMIT": str(LOGIN_LIMIT),
            "ASTROFLOW_OIDC_ISSUER": provider.issuer, "ASTROFLOW_OIDC_CLIENT_ID": CLIENT_ID,
            "ASTROFLOW_OIDC_CLIENT_SECRET": CLIENT_SECRET, "ASTROFLOW_OIDC_NAME": "GitLab",
            "ASTROFLOW_OIDC_ROLES_CLAIM": "groups_direct",
            "ASTROFLOW_JWT_JWKS_URL": provider.issuer + "/oauth/discovery/keys"}


@pytest.fixture(scope="module")
def server(data_dir: Path, provider: OidcProvider) -> Iterator[ServerProcess]:
    process = ServerProcess(data_dir, services=[TEST_SERVICES / "basics", TEST_SERVICES / "private"],
                            env=server_env(provider))
    with process.running():
        yield process


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def login(http: httpx.Client, name: str, password: str | None = None) -> httpx.Response:
    return http.post("/api/v1/auth/login",
                     json={"username": name, "password": password or PASSWORDS[name]})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def whoami(http: httpx.Client, token: str) -> httpx.Response:
    return http.get("/api/v1/auth", headers=bearer(token))


# --- the server's own key ---------------------------------------------------------------------

def test_serve_makes_a_key_in_its_data_dir(server, data_dir, http):
    """`astroflow serve` without a configured key made one (0600, folder 0700) in its data
    directory and signs with it; a restart reads the same file (ServerConfig loads it)."""
    path = key_path(data_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    token = login(http, "alice").json()["token"]
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "typ": "JWT",
                                                "kid": key_id(path.read_text())}
    restarted = ServerConfig.from_env({}, data_dir=data_dir).auth
    assert restarted.signing_key == path.read_text()
    jwk = http.get("/api/v1/auth/jwks").json()["keys"][0]
    assert jwk["alg"] == "ES256" and jwk["kid"] == jwt.get_unverified_header(token)["kid"]
    assert "d" not in jwk  # only the public half is published


def test_replicas_starting_together_share_one_key(tmp_path):
    """Replicas on one data directory racing to make the key all end up with the same one."""
    code = ("import sys; from astroflow.accounts.keys import ensure_signing_key, key_id; "
            "print(key_id(ensure_signing_key(sys.argv[1])))")
    racers = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)],
                               stdout=subprocess.PIPE, text=True) for _ in range(4)]
    kids = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    assert len(kids) == 1 and kids == {key_id(load_signing_key(tmp_path))}
    assert [p.name for p in key_path(tmp_path).parent.iterdir()] == [key_path(tmp_path).name]


def test_token_create_signs_with_the_data_dir_key(server, data_dir, http, tmp_path):
    made = cli("token", "create", "--sub", "carol", "--roles", "general", "--ttl", "1h",
               data_dir=data_dir)
    assert made.returncode == 0, made.stderr
    me = whoami(http, made.stdout.strip()).json()
    assert me["sub"] == "carol" and me["roles"] == ["general"]
    empty = cli("token", "create", "--sub", "carol", data_dir=tmp_path)
    assert empty.returncode == 2 and "astroflow serve" in empty.stderr
    assert load_signing_key(tmp_path) is None  # token create never makes a key


def test_a_broken_key_file_is_a_clear_error(tmp_path):
    """An unreadable or foreign key file stops `serve` and `token create` with what to do,
    never a traceback or a 500 at the first sign-in."""
    key_path(tmp_path).parent.mkdir(parents=True)
    key_path(tmp_path).write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    for args in (("serve",), ("token", "create", "--sub", "x")):
        ran = cli(*args, data_dir=tmp_path)
        assert ran.returncode == 2 and "is not a P-256 private key" in ran.stderr, ran.stderr
        assert "remove it" in ran.stderr


def test_explicit_keys_win_over_the_stored_one(tmp_path):
    pem = ensure_signing_key(tmp_path)
    env = {"ASTROFLOW_JWT_SECRET": "x" * 40}
    assert ServerConfig.from_env(env, data_dir=tmp_path).auth.signing_key is None
    assert ServerConfig.from_env({}, data_dir=tmp_path).auth.signing_key == pem


# --- local accounts ----------------------------------------------------------------------------

def test_passwords_are_salted_scrypt_and_checked():
    first, second = hash_password("pw-1"), hash_password("pw-1")
    assert first.startswith("scrypt$32768$8$1$") and first != second  # per-user salt
    assert verify_password("pw-1", first) and not verify_password("pw-2", first)
    assert not verify_password("pw-1", None) and not verify_password("pw-1", "garbage")


def test_user_commands(data_dir, http):
    listed = cli("user", "list", "--json", data_dir=data_dir)
    names = {u["name"]: u["roles"] for u in json.loads(listed.stdout)}
    assert names["alice"] == ["general", "secret-team", "team"]
    assert names["bob"] == ["general", "secret-team"]
    again = cli("user", "add", "alice", "--password-stdin", data_dir=data_dir, stdin="x\n")
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = cli("user", "add", "no spaces", "--password-stdin", data_dir=data_dir, stdin="x\n")
    assert bad.returncode == 2 and "user name" in bad.stderr
    empty = cli("user", "add", "dave", "--password-stdin", data_dir=data_dir, stdin="\n")
    assert empty.returncode == 2 and "password is empty" in empty.stderr
    assert cli("user", "add", "dave", "--password-stdin", data_dir=data_dir,
               stdin="first-pw\n").returncode == 0
    assert login(http, "dave", "first-pw").status_code == 200
    assert cli("user", "passwd", "dave", "--password-stdin", data_dir=data_dir,
               stdin="second-pw\n").returncode == 0
    assert login(http, "dave", "first-pw").status_code == 401
    assert login(http, "dave", "second-pw").status_code == 200
    assert cli("user", "remove", "dave", data_dir=data_dir).returncode == 0
    assert login(http, "dave", "second-pw").status_code == 401
    gone = cli("user", "remove", "dave", data_dir=data_dir)
    assert gone.returncode == 2 and "no user named 'dave'" in gone.stderr


def test_users_table_on_postgresql():
    """Migration 0005 makes the users table on PostgreSQL as on SQLite."""
    from pg import private_schema

    from astroflow.jobs.store import JobStore

    with private_schema() as url:
        store = JobStore(url)
        store.migrate()
        users = Users(store.engine)
        users.add("erin", ["team"], "pw-of-erin")
        with pytest.raises(AccountError, match="already exists"):
            users.add("erin", [], None)
        assert users.check("erin", "pw-of-erin").roles == ("team",)
        assert users.check("erin", "wrong") is None and users.check("nobody", "x") is None
        store.close()


# --- password sign-in --------------------------------------------------------------------------

def test_login_gives_a_signed_token_with_roles(http):
    answer = login(http, "alice")
    assert answer.status_code == 200
    body = answer.json()
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["roles"] == ["general", "secret-team", "team"]
    assert 0 < claims["exp"] - time.time() <= 12 * 3600 + 5
    assert whoami(http, body["token"]).json()["sub"] == "alice"


def test_login_refusals_say_the_same_for_unknown_users(http):
    wrong = login(http, "alice", "not her password")
    unknown = login(http, "nobody-here", "whatever")
    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert answer.json()["error"]["message"] == "wrong user name or password"
    odd = http.post("/api/v1/auth/login", content=b'{"username": "\\ud800", "password": "x"}',
                    headers={"Content-Type": "application/json"})  # a lone surrogate: no 500
    assert odd.status_code == 422 and odd.json()["error"]["errors"][0]["field"] == "username"
    missing = http.post("/api/v1/auth/login", json={"username": "alice"})
    assert missing.status_code == 422 and missing.json()["error"]["errors"][0]["field"] == "password"
    assert http.post("/api/v1/auth/login", content=b"{", headers={
        "Content-Type": "application/json"}).status_code == 422


# --- API tokens --------------------------------------------------------------------------------

def test_api_tokens_for_a_signed_in_caller(http):
    session = login(http, "alice").json()["token"]
    made = http.post("/api/v1/auth/tokens", headers=bearer(session),
                     json={"name": "laptop", "ttl": 7 * 86400, "roles": ["general"]})
    assert made.status_code == 201, made.text
    api_token = made.json()["token"]
    claims = jwt.decode(api_token, options={"verify_signature": False})
    assert claims["roles"] == ["general"] and claims["name"] == "laptop"
    assert 7 * 86400 - 10 <= claims["exp"] - time.time() <= 7 * 86400 + 5
    assert whoami(http, api_token).json() | {"can_sign": True} == whoami(http, api_token).json()
    more = http.post("/api/v1/auth/tokens", headers=bearer(api_token),
                     json={"name": "escalate", "roles": ["team"]})
    assert more.status_code == 403 and "do not hold team" in more.json()["error"]["message"]
    long = http.post("/api/v1/auth/tokens", headers=bearer(session),
                     json={"name": "x", "ttl": 400 * 86400})
    assert long.status_code == 422 and long.json()["error"]["errors"][0]["field"] == "ttl"
    anonymous = http.post("/api/v1/auth/tokens", json={"name": "x"})
    assert anonymous.status_code == 401 and "sign in" in anonymous.json()["error"]["message"]


def test_another_users_jobs_stay_invisible(http):
    """Signed in with passwords, bob (who holds the service's role too) neither lists nor
    reads alice's job of a restricted service."""
    alice = bearer(login(http, "alice").json()["token"])
    bob = bearer(login(http, "bob").json()["token"])
    job = http.post("/api/v1/services/hidden/jobs", headers=alice,
                    json={"parameters": {"x": 7.25}})
    assert job.status_code in (200, 201), job.text
    job_id = job.json()["id"]
    assert any(j["id"] == job_id for j in http.get("/api/v1/jobs", headers=alice).json())
    assert all(j["id"] != job_id for j in http.get("/api/v1/jobs", headers=bob).json())
    assert http.get(f"/api/v1/jobs/{job_id}", headers=bob).status_code == 404


# --- refused tokens and JWKS -------------------------------------------------------------------

def test_refused_tokens(http, provider):
    from cryptography.hazmat.primitives.asymmetric import ec

    now = int(time.time())
    stranger = ec.generate_private_key(ec.SECP256R1())
    signed = login(http, "bob").json()["token"]
    good = jwt.decode(signed, options={"verify_signature": False})
    kid = jwt.get_unverified_header(signed)["kid"]
    forged = jwt.encode({**good, "roles": ["team"]}, stranger, algorithm="ES256",
                        headers={"kid": kid})
    expired = jwt.encode({"sub": "gwen", "exp": now - 3600}, provider.key, algorithm="RS256",
                         headers={"kid": KID})
    unknown_kid = jwt.encode({"sub": "gwen", "exp": now + 60}, provider.key, algorithm="RS256",
                             headers={"kid": "not-there"})
    hs = jwt.encode({"sub": "bob", "exp": now + 60}, "x" * 40, algorithm="HS256")
    none = jwt.encode({"sub": "bob", "exp": now + 60}, None, algorithm="none")
    reasons = {}
    for name, token in {"forged": forged, "expired": expired, "unknown-kid": unknown_kid,
                        "hs256": hs, "none": none}.items():
        answer = whoami(http, token)
        assert answer.status_code == 401, name
        reasons[name] = answer.json()["error"]["message"]
    assert reasons["forged"] == "invalid signature" and reasons["expired"] == "token expired"
    assert "not found" in reasons["unknown-kid"] and "not accepted" in reasons["hs256"]


def test_provider_tokens_verify_through_its_jwks(http, provider):
    """ASTROFLOW_JWT_JWKS_URL: a token the identity provider signed is accepted as is."""
    me = whoami(http, provider.id_token(None, roles=["team"])).json()
    assert me["sub"] == "4242" and me["roles"] == ["team"]


# --- OpenID Connect ----------------------------------------------------------------------------

def oidc_round(http: httpx.Client, provider: OidcProvider, tamper_state: bool = False):
    start = http.get("/api/v1/auth/oidc/login")
    assert start.status_code == 303
    asked = urlsplit(start.headers["location"])
    query = {k: v[0] for k, v in parse_qs(asked.query).items()}
    assert start.headers["location"].startswith(provider.issuer + "/oauth/authorize?")
    assert query["code_challenge_method"] == "S256" and query["nonce"] and query["state"]
    assert "httponly" in start.headers["set-cookie"].lower()
    back = httpx.get(start.headers["location"])  # the provider approves the test user
    assert back.status_code == 302
    callback = back.headers["location"]
    if tamper_state:
        callback = callback.replace("state=", "state=x")
    assert callback.startswith(http.base_url.join("/api/v1/auth/oidc/callback").__str__())
    return http.get(callback)


def test_oidc_sign_in(http, provider):
    """Authorization code + PKCE + state + nonce; the portal gets astroflow's own token in
    the URL fragment (never the query string), and the provider's groups become roles."""
    done = oidc_round(http, provider)
    assert done.status_code == 303
    location = done.headers["location"]
    assert location.startswith("../../../../#signed-in=") and "?" not in location
    token = location.split("#signed-in=", 1)[1]
    assert jwt.get_unverified_header(token)["alg"] == "ES256"  # astroflow's, not GitLab's
    me = whoami(http, token).json()
    assert me["sub"] == "gwen" and me["roles"] == ["astroflow-users", "team"]
    assert provider.token_bodies[-1]["code_verifier"]
    methods = http.get("/api/v1/auth").json()
    assert methods["oidc"]["name"] == "GitLab" and methods["password"] is True


def test_oidc_refusals(http, provider):
    tampered = oidc_round(http, provider, tamper_state=True)
    assert tampered.status_code == 303
    assert "state differs" in unquote(tampered.headers["location"])
    no_cookie = httpx.get(http.base_url.join("/api/v1/auth/oidc/callback"),
                          params={"code": "c", "state": "s"})
    assert "#signin-error=" in no_cookie.headers["location"]
    denied = http.get("/api/v1/auth/oidc/callback",
                      params={"error": "access_denied", "error_description": "user said no"})
    assert "GitLab refused: user said no" in unquote(denied.headers["location"])


# --- last: it spends the address's sign-in allowance ------------------------------------------

def test_login_is_rate_limited_per_address(http):
    answers = [login(http, "alice", f"guess-{i}").status_code for i in range(LOGIN_LIMIT + 2)]
    assert 429 in answers
    limited = login(http, "alice")  # even the right password waits
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "sign-in attempts" in limited.json()["error"]["message"]


# --- a server whose only key is the one it made (as under `make serve`) --------------------

def test_own_key_only_keeps_anonymous_uploads_and_takes_mmoda_tokens_as_none(tmp_path):
    """Access-control policies follow the keys an operator set, not the one `serve` made so
    that its own sign-in works: anonymous uploads stay open, and an oda_api client sending
    a MMODA token (signed elsewhere) to the dispatcher facade is served anonymously, as on a
    keyless server. Its own tokens still verify."""
    foreign = jwt.encode({"sub": "mmoda-user", "exp": int(time.time()) + 600},
                           "a secret of some MMODA deployment", algorithm="HS256")
    process = ServerProcess(tmp_path / "own-key", services=[TEST_SERVICES / "basics"],
                            env={"ASTROFLOW_JWT_SECRET": "", "ASTROFLOW_OFFLINE": "1"})
    with process.running(), httpx.Client(base_url=process.url, timeout=60) as client:
        upload = client.post("/api/v1/uploads", files={"file": ("a.csv", b"x\n1\n")})
        assert upload.status_code == 201, upload.text
        listed = client.get("/dispatch-data/api/instr-list", params={"token": foreign})
        assert listed.status_code == 200, listed.text
        refused = client.get("/api/v1/jobs", headers=bearer(foreign))
        assert refused.status_code == 401  # the native API still says the token is refused
