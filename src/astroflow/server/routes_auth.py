"""``/api/v1/auth``: how a visitor gets a token — password sign-in (local accounts), OpenID
Connect sign-in (an operator's provider), and API tokens minted by a signed-in caller.

Every token this hands out is astroflow's own (signed with the configured key, or the key
`astroflow serve` made in the data directory), so the rest of the API checks one kind of
token whichever way the caller signed in.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from astroflow.accounts import oidc
from astroflow.accounts.users import AccountError, Users, check_name
from astroflow.errors import AstroflowError
from astroflow.server.auth import AuthError, Caller, mint_token
from astroflow.server.deps import caller
from astroflow.server.edge import RateLimited, RateLimiter, caller_key, parse_json_body
from astroflow.server.openapi import errors
from astroflow.server.schemas import Jwks, ok

_M = TypeVar("_M", bound=BaseModel)
router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

WRONG = "wrong user name or password"
MAX_API_TOKEN_TTL = 366 * 86400
PORTAL = "../../../../"  # from /api/v1/auth/oidc/callback back to the portal, under any prefix


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class TokenRequest(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="what the token is for")
    ttl: int = Field(30 * 86400, ge=60, le=MAX_API_TOKEN_TTL,
                     description="lifetime in seconds (one minute to 366 days)")
    roles: list[str] | None = Field(
        None, max_length=100, description="a subset of the caller's roles (default: all)")


class Token(BaseModel):
    token: str
    token_type: str = "Bearer"
    sub: str
    roles: list[str]
    expires_in: int
    name: str | None = None


class Methods(BaseModel):
    password: bool = Field(description="local accounts exist: POST /api/v1/auth/login")
    oidc: dict[str, str] | None = Field(
        None, description="the OpenID Connect provider: its name and the login URL")
    can_sign: bool = Field(description="the server has a key to sign tokens with")
    sub: str | None = Field(None, description="who the caller is (null: anonymous)")
    roles: list[str] = Field(default_factory=list)


def _users(request: Request) -> Users:
    return Users(request.app.state.platform.store.engine)


def _login_limiter(request: Request) -> RateLimiter:
    state = request.app.state
    if getattr(state, "login_limiter", None) is None:
        state.login_limiter = RateLimiter(state.config.login_rate_limit)
    return state.login_limiter


@router.get("", response_model=Methods, responses=errors(401))
def methods(request: Request, who: Caller = Depends(caller)) -> Methods:
    """Which sign-in methods this server offers, and who the caller is."""
    config = request.app.state.config
    provider = ({"name": config.oidc.name, "login": "api/v1/auth/oidc/login"}
                if config.oidc else None)
    return Methods(password=_users(request).count() > 0, oidc=provider,
                   can_sign=config.auth.can_sign, sub=who.sub, roles=sorted(who.roles))


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its body with :func:`_parse`."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": model.model_json_schema()}}}}


def _parse(model: type[_M], raw: bytes) -> _M:
    """``raw`` as ``model``, through the edge's JSON parser (NaN, lone surrogates and deep
    nesting become a 422 naming the field), each problem as a (field, value, reason)."""
    from pydantic import ValidationError as Invalid

    from astroflow.workflow import FieldError, ValidationError

    data = parse_json_body(raw)
    try:
        return model.model_validate(data)
    except Invalid as exc:
        raise ValidationError([FieldError(".".join(str(p) for p in e["loc"]) or "body",
                                          _short(e.get("input")), e["msg"])
                               for e in exc.errors()]) from None


def _short(value: Any) -> Any:
    return value[:100] if isinstance(value, str) else value if isinstance(
        value, int | float | bool | None) else None


@router.post("/login", response_model=Token, responses=errors(400, 401, 422, 429),
             openapi_extra=_body(Login))
async def login(request: Request) -> Token:
    """A token for a local account (``astroflow user add``); the same refusal for an unknown
    user and a wrong password, and at most ``login_rate_limit`` attempts a minute from one
    address."""
    body = _parse(Login, await request.body())
    address = request.client.host if request.client else None
    try:
        _login_limiter(request).take(caller_key(None, address))
    except RateLimited as exc:
        limit = request.app.state.config.login_rate_limit
        raise RateLimited(f"more than {limit} sign-in attempts a minute from this address; "
                          f"try again in {exc.retry_after} s", exc.retry_after) from None
    try:
        name = check_name(body.username)
    except AccountError:
        name = None
    user = await run_in_threadpool(_users(request).check, name or "", body.password)
    if user is None:
        raise AuthError(WRONG)
    return _issue(request, user.name, user.roles, request.app.state.config.session_ttl,
                  via="password")


@router.post("/tokens", response_model=Token, status_code=201,
             responses=errors(400, 401, 403, 422, 429), openapi_extra=_body(TokenRequest))
async def create_token(request: Request, who: Caller = Depends(caller)) -> Token:
    """An API token for the Python client or oda_api, with a subset of the caller's roles."""
    if who.anonymous:
        raise AuthError("sign in first: API tokens are minted for a signed-in caller")
    request.app.state.rate_limiter.take(caller_key(who.sub, who.address))
    body = _parse(TokenRequest, await request.body())
    roles = who.roles if body.roles is None else {r.strip() for r in body.roles if r.strip()}
    extra = sorted(roles - who.roles)
    if extra:
        from astroflow.server.platform import Forbidden

        raise Forbidden(f"roles: you do not hold {', '.join(extra)}; an API token carries "
                        "only roles of the caller who makes it")
    return _issue(request, who.sub or "", roles, body.ttl, via="api-token", name=body.name)


@router.get("/jwks", response_model=None, responses=ok(Jwks))
def jwks(request: Request) -> dict[str, Any]:
    """The public half of the server's own key (ES256), for services verifying its tokens."""
    from astroflow.accounts.keys import public_jwk

    key = request.app.state.config.auth.signing_key
    return {"keys": [public_jwk(key)] if key else []}


def _issue(request: Request, sub: str, roles: Any, seconds: float, **claims: Any) -> Token:
    auth = request.app.state.config.auth
    if not auth.can_sign:
        raise AstroflowError("this server has no key to sign tokens with: set "
                             "ASTROFLOW_JWT_SECRET or start it with `astroflow serve`")
    token = mint_token(auth, sub, roles, seconds, **claims)
    return Token(token=token, sub=sub, roles=sorted(roles), expires_in=int(round(seconds)),
                 name=claims.get("name"))


# --- OpenID Connect: browser redirects, not API calls (left out of the OpenAPI document) ----

def _provider(request: Request) -> oidc.OidcConfig:
    config = request.app.state.config.oidc
    if config is None:
        from astroflow.server.platform import NotFound

        raise NotFound("OpenID Connect sign-in is not configured on this server "
                       "(ASTROFLOW_OIDC_ISSUER)")
    return config


def _callback_url(request: Request, provider: oidc.OidcConfig) -> str:
    if provider.redirect_url:
        return provider.redirect_url
    base = request.app.state.config.base_url
    if base:
        return base.rstrip("/") + "/api/v1/auth/oidc/callback"
    return str(request.url_for("oidc_callback"))


def _back_to_portal(fragment: str) -> RedirectResponse:
    # The token goes in the fragment: browsers never send it to a server, so no access log
    # or proxy keeps it; the portal reads it once and removes it from the address bar.
    response = RedirectResponse(PORTAL + "#" + fragment, status_code=303,
                                headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    response.delete_cookie(oidc.COOKIE, path="/")
    return response


@router.get("/oidc/login", include_in_schema=False)
def oidc_login(request: Request) -> RedirectResponse:
    provider = _provider(request)
    redirect_uri = _callback_url(request, provider)
    try:
        url, cookie = oidc.start(provider, request.app.state.config.auth, redirect_uri)
    except (oidc.OidcError, AuthError) as exc:
        return _back_to_portal("signin-error=" + quote(str(exc)))
    response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(oidc.COOKIE, cookie, max_age=oidc.STATE_TTL, path="/",
                        httponly=True, samesite="lax",
                        secure=urlsplit(redirect_uri).scheme == "https")
    return response


@router.get("/oidc/callback", include_in_schema=False, name="oidc_callback")
def oidc_callback(request: Request, code: str = "", state: str = "", error: str = "",
                  error_description: str = "") -> RedirectResponse:
    provider = _provider(request)
    if error:
        reason = error_description or error
        return _back_to_portal("signin-error=" + quote(f"{provider.name} refused: {reason}"[:300]))
    if not code or not state:
        return _back_to_portal("signin-error=" + quote("the sign-in answer lacks its code or "
                                                       "state; sign in again"))
    config = request.app.state.config
    try:
        name, roles = oidc.finish(provider, config.auth, code, state,
                                  request.cookies.get(oidc.COOKIE))
        issued = _issue(request, name, roles, config.session_ttl, via="oidc")
    except (oidc.OidcError, AuthError, AstroflowError) as exc:
        return _back_to_portal("signin-error=" + quote(str(exc)[:300]))
    return _back_to_portal("signed-in=" + issued.token)
