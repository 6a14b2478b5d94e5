"""Authentication: who is calling, decided once per request before anything runs.

Credentials are an API key in ``X-API-Key`` or an HS256 JWT in
``Authorization: Bearer``. Presented credentials are always checked; a
request without any runs as the open-access caller only when the server
does not require authentication (loopback, ``SALESCOPE_REQUIRE_AUTH`` unset).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

import structlog
from anyio import to_thread
from sqlalchemy.engine import Engine
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from analytics.access import (
    OPEN_ACCESS,
    AuthenticationError,
    Principal,
    Role,
    authenticate_api_key,
    authenticate_jwt,
)

logger = structlog.get_logger("salescope.auth")

API_KEY_HEADER = "x-api-key"
# The dashboard page and static assets (public library code) load without
# credentials; the page then asks for a key before it queries anything.
PUBLIC_PATHS = frozenset({"/dashboard"})
PUBLIC_PREFIXES = ("/static/",)
# Probes must reach /health whatever the configuration.
OPEN_PATHS = PUBLIC_PATHS | {"/health"}


def is_public(path: str) -> bool:
    """Whether ``path`` is the dashboard page or a static file."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


# Stands in for the caller of an open path when nobody authenticated: sees nothing.
NOBODY = Principal(subject="anonymous", role=Role.VIEWER, datasets=frozenset(), authenticated=False)
WWW_AUTHENTICATE = 'Bearer realm="salescope", ApiKey header="X-API-Key"'

DenialHook = Callable[[Scope, int, str], Awaitable[None]]


async def authenticate(
    engine: Engine, jwt_secret: str | None, api_key: str | None, authorization: str | None
) -> Principal | None:
    """The caller these credentials stand for; ``None`` when there are none."""
    if api_key is not None:
        return await to_thread.run_sync(authenticate_api_key, engine, api_key.strip())
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("the Authorization header must read 'Bearer <token>'")
    return authenticate_jwt(token.strip(), jwt_secret)


def principal_of(scope: Scope) -> Principal:
    """The caller the middleware recorded for this request."""
    principal = scope.get("state", {}).get("principal")
    return principal if isinstance(principal, Principal) else NOBODY


class AuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        engine: Engine,
        require_auth: bool,
        jwt_secret: str | None,
        on_denied: DenialHook | None = None,
    ) -> None:
        self.app = app
        self.engine = engine
        self.require_auth = require_auth
        self.jwt_secret = jwt_secret
        self.on_denied = on_denied

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if scope["path"] in OPEN_PATHS or is_public(scope["path"]):
            state["principal"] = NOBODY
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            principal = await authenticate(
                self.engine,
                self.jwt_secret,
                headers.get(API_KEY_HEADER),
                headers.get("authorization"),
            )
        except AuthenticationError as error:
            await self._deny(scope, receive, send, str(error))
            return
        if principal is None and scope["type"] == "websocket" and self._required(scope):
            # Browsers cannot set headers on a WebSocket: the credentials come in the
            # connection_init payload, checked by the GraphQL view before any subscription.
            state["principal"] = NOBODY
            state["credentials_pending"] = True
            await self.app(scope, receive, send)
            return
        if principal is None:
            if self._required(scope):
                await self._deny(
                    scope,
                    receive,
                    send,
                    "authentication required: send an API key in the X-API-Key header "
                    "or a token in 'Authorization: Bearer'",
                )
                return
            principal = OPEN_ACCESS
        state["principal"] = principal
        structlog.contextvars.bind_contextvars(caller=principal.subject)
        await self.app(scope, receive, send)

    def _required(self, scope: Scope) -> bool:
        if self.require_auth:
            return True
        # However the server was started, a connection that reached a
        # non-loopback address came from the network.
        server = scope.get("server")
        if not server:
            return False
        try:
            return not ipaddress.ip_address(str(server[0])).is_loopback
        except ValueError:
            return False

    async def _deny(self, scope: Scope, receive: Receive, send: Send, message: str) -> None:
        if self.on_denied is not None:
            await self.on_denied(scope, 401, message)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401, "reason": message[:120]})
            return
        response = JSONResponse(
            denial_body(scope, message, "UNAUTHENTICATED"),
            status_code=401,
            headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        )
        await response(scope, receive, send)


def denial_body(scope: Scope, message: str, code: str) -> dict[str, object]:
    """A refusal in the shape the route's clients read: GraphQL errors or REST detail."""
    if scope["path"] == "/graphql":
        extensions: dict[str, object] = {"code": code}
        request_id = scope.get("state", {}).get("request_id")
        if request_id:
            extensions["requestId"] = request_id
        return {"data": None, "errors": [{"message": message, "extensions": extensions}]}
    return {"detail": message}
