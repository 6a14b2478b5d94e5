"""HTTP hardening: body limits, security headers, CSRF for form posts, CORS and hosts."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.auth import DenialHook
from server.settings import Settings

# Multipart framing (boundaries, part headers, small fields) on top of the file itself.
UPLOAD_FRAMING = 64 * 1024
CSRF_HEADERS = ("x-requested-with", "apollo-require-preflight")
CSRF_REFUSAL = (
    "multipart and form requests need an X-Requested-With (or Apollo-Require-Preflight) "
    "header: it protects against cross-site request forgery"
)
# The content types a browser may post cross-site without a CORS preflight.
_SIMPLE_CONTENT_TYPES = frozenset(
    {"multipart/form-data", "application/x-www-form-urlencoded", "text/plain"}
)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_HSTS = "max-age=31536000; includeSubDomains"
_SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
_CSP_API = "default-src 'none'; frame-ancestors 'none'"
# GraphiQL and Swagger UI load scripts and styles from unpkg and run inline
# scripts; without a browser test proving a stricter policy keeps them
# working, HTML pages only refuse being framed.
_CSP_HTML = "frame-ancestors 'none'"


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuses request bodies over the limit with 413, declared or streamed.

    Multipart requests (REST and GraphQL uploads) may carry ``max_upload_bytes``
    plus framing; every other body is held to ``max_body_bytes``.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if _media_type(headers) == "multipart/form-data":
            limit = self.max_upload_bytes + UPLOAD_FRAMING
            # The wording of the REST upload route, so a robot reads one
            # message whichever layer refuses its file.
            refusal = f"file too large: the limit is {self.max_upload_bytes / 1_000_000:g} MB"
        else:
            limit = self.max_body_bytes
            refusal = f"request body too large: the limit is {limit} bytes"
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await JSONResponse({"detail": refusal}, status_code=413)(scope, receive, send)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            if received > limit:
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def checked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                # An app that swallowed the cut-off must not answer as if the
                # body had been read: the 413 below replaces its response.
                if received > limit:
                    raise _BodyTooLarge
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, checked_send)
        except _BodyTooLarge:
            if started:
                # Too late for a 413: failing lets the server drop the connection.
                raise
            await JSONResponse({"detail": refusal}, status_code=413)(scope, receive, send)


class SecurityHeadersMiddleware:
    """Adds browser security headers to every HTTP response, keeping any the app set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                html = headers.get("content-type", "").startswith("text/html")
                headers.setdefault("content-security-policy", _CSP_HTML if html else _CSP_API)
                if https:
                    headers.setdefault("strict-transport-security", _HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CsrfMiddleware:
    """Refuses form-like POST, PUT and PATCH requests without a preflight-forcing header.

    A browser sends multipart, urlencoded and plain-text bodies cross-site
    without asking CORS first; a custom header makes it ask, so a forged form
    can no longer upload or mutate.
    """

    def __init__(self, app: ASGIApp, on_denied: DenialHook | None = None) -> None:
        self.app = app
        self.on_denied = on_denied

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if _media_type(headers) in _SIMPLE_CONTENT_TYPES and not any(
            headers.get(name, "").strip() for name in CSRF_HEADERS
        ):
            if self.on_denied is not None:
                await self.on_denied(scope, 403, CSRF_REFUSAL)
            await JSONResponse({"detail": CSRF_REFUSAL}, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def hardening_middleware(settings: Settings, on_denied: DenialHook | None) -> list[Middleware]:
    """The hardening layers in order, outermost first, as ``settings`` configures them."""
    layers: list[Middleware] = []
    if settings.allowed_hosts != ["*"]:
        layers.append(Middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts))
    layers.append(Middleware(SecurityHeadersMiddleware))
    if settings.cors_origins:
        layers.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_credentials=settings.cors_allow_credentials,
                allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                allow_headers=[
                    "Content-Type",
                    "X-API-Key",
                    "Authorization",
                    "X-Request-ID",
                    "X-Requested-With",
                    "Apollo-Require-Preflight",
                ],
                expose_headers=["X-Request-ID", "Retry-After"],
            )
        )
    layers.append(
        Middleware(
            BodyLimitMiddleware,
            max_body_bytes=settings.max_body_bytes,
            max_upload_bytes=settings.max_upload_bytes,
        )
    )
    layers.append(Middleware(CsrfMiddleware, on_denied=on_denied))
    return layers


def _media_type(headers: Headers) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()
