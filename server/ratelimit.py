"""Rate limits per caller: an API key or token by its role's limit, anyone else by IP.

Counts live in memory (one budget per process) or, with ``redis_url``, in
Redis so that every worker process draws on the same budget. The window
moves: a request counts for exactly one window length after it was made.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog
from anyio import to_thread
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis import ConnectionPool, RedisError
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.engine import make_url
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from analytics.access import Principal, Role
from server.auditing import client_ip as client_ip_of
from server.auth import denial_body, is_public, principal_of
from server.settings import Settings

logger = structlog.get_logger("salescope.ratelimit")

# Every Redis key starts ``<prefix>:<namespace>:``.
REDIS_KEY_PREFIX = "salescope:ratelimit"
# Probes and scrapers poll on a schedule and must never be refused. The
# dashboard page and static files cost nothing to serve; counting them would
# spend a browser's budget on one page load.
EXEMPT_PATHS = frozenset({"/health", "/metrics"})
# Redis answers in milliseconds; anything slower is an outage, and every
# request waits for it.
_REDIS_TIMEOUT = 0.5
# After a Redis failure requests pass unlimited without asking Redis again for
# this long, so an outage neither slows every request nor floods the log.
_REDIS_RETRY_AFTER = 5.0

LimitedHook = Callable[[Scope, "RateDecision"], Awaitable[None]]


@dataclass(frozen=True)
class RateDecision:
    """The verdict on one request.

    ``limit`` reads like the setting (``"60/minute"``), ``quota`` is its
    number of requests; ``retry_after`` is the whole seconds, at least 1,
    until the oldest counted request leaves the window and frees a slot.
    """

    allowed: bool
    limit: str
    quota: int
    remaining: int
    retry_after: int


class RateLimiter:
    """Counts each caller's requests against the limit of its role.

    ``namespace`` separates deployments (and tests) that share one Redis.
    """

    def __init__(
        self,
        *,
        anonymous: str,
        viewer: str,
        analyst: str,
        admin: str,
        redis_url: str | None = None,
        namespace: str = "default",
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self._anonymous = parse_many(anonymous)
        self._by_role = {
            Role.VIEWER: parse_many(viewer),
            Role.ANALYST: parse_many(analyst),
            Role.ADMIN: parse_many(admin),
        }
        self._pool: ConnectionPool | None = None
        self._redis_down_until = 0.0
        if redis_url is None or not enabled:
            self._storage: MemoryStorage | RedisStorage = MemoryStorage()
        else:
            # One retry reconnects a pooled connection that Redis closed.
            self._pool = ConnectionPool.from_url(
                redis_url,
                socket_timeout=_REDIS_TIMEOUT,
                socket_connect_timeout=_REDIS_TIMEOUT,
                retry=Retry(NoBackoff(), 1),
            )
            self._storage = RedisStorage(
                redis_url,
                connection_pool=self._pool,
                key_prefix=f"{REDIS_KEY_PREFIX}:{namespace}",
            )
        self._strategy = MovingWindowRateLimiter(self._storage)

    @classmethod
    def from_settings(cls, settings: Settings, namespace: str | None = None) -> RateLimiter:
        """The limiter ``settings`` describe; ``namespace`` defaults to the database's."""
        return cls(
            anonymous=settings.rate_limit_anonymous,
            viewer=settings.rate_limit_viewer,
            analyst=settings.rate_limit_analyst,
            admin=settings.rate_limit_admin,
            redis_url=settings.redis_url,
            namespace=namespace if namespace is not None else database_namespace(settings),
            enabled=settings.rate_limit_enabled,
        )

    @property
    def shared(self) -> bool:
        """Whether the counts live in Redis, shared by every process that uses it."""
        return self._pool is not None

    async def hit(self, principal: Principal | None, client_ip: str | None) -> RateDecision:
        """Count one request of this caller and say whether it may proceed.

        A caller nobody authenticated is known by its IP; callers without an
        address (a Unix socket) share one budget.
        """
        if principal is not None and principal.authenticated:
            identity, items = principal.subject, self._by_role[principal.role]
        else:
            identity, items = f"ip:{client_ip or 'unknown'}", self._anonymous
        if not self.shared:
            return self._count(identity, items)
        if time.monotonic() < self._redis_down_until:
            return _unlimited(items)
        try:
            return await to_thread.run_sync(self._count, identity, items)
        except RedisError as error:
            self._redis_down_until = time.monotonic() + _REDIS_RETRY_AFTER
            logger.error(
                "rate limit storage failed; requests pass unlimited",
                error=str(error) or type(error).__name__,
                retry_in_s=_REDIS_RETRY_AFTER,
            )
            return _unlimited(items)

    def close(self) -> None:
        """Close the Redis connections (a memory limiter holds none)."""
        if self._pool is not None:
            self._pool.disconnect()

    def _count(self, identity: str, items: Sequence[RateLimitItem]) -> RateDecision:
        for item in items:
            if not self._strategy.hit(item, identity):
                return self._decision(False, item, identity)
        decisions = [self._decision(True, item, identity) for item in items]
        return min(decisions, key=lambda decision: decision.remaining)

    def _decision(self, allowed: bool, item: RateLimitItem, identity: str) -> RateDecision:
        reset_at, remaining = self._strategy.get_window_stats(item, identity)
        return RateDecision(
            allowed=allowed,
            limit=_describe(item),
            quota=item.amount,
            remaining=max(0, remaining),
            retry_after=max(1, math.ceil(reset_at - time.time())),
        )


class RateLimitMiddleware:
    """Refuses HTTP requests over their caller's limit with 429 and ``Retry-After``.

    Runs after authentication, which records the caller in
    ``scope["state"]["principal"]``. Every counted response carries
    ``X-RateLimit-Limit`` and ``X-RateLimit-Remaining``. ``on_limited`` is
    awaited before a refusal is sent (the audit log). A disabled limiter
    passes everything through untouched.
    """

    def __init__(
        self, app: ASGIApp, limiter: RateLimiter, on_limited: LimitedHook | None = None
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.on_limited = on_limited

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limiter.enabled or _exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        decision = await self.limiter.hit(principal_of(scope), client_ip_of(scope))
        headers = {
            "X-RateLimit-Limit": str(decision.quota),
            "X-RateLimit-Remaining": str(decision.remaining),
        }
        if not decision.allowed:
            await self._refuse(scope, receive, send, decision, headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        decision: RateDecision,
        headers: dict[str, str],
    ) -> None:
        if self.on_limited is not None:
            try:
                await self.on_limited(scope, decision)
            except Exception:
                # The caller is over its limit either way; a failing hook must
                # not turn the refusal into a 500.
                logger.exception("the rate-limit hook failed")
        message = f"rate limit exceeded: {decision.limit}; retry in {decision.retry_after} s"
        response = JSONResponse(
            denial_body(scope, message, "RATE_LIMITED"),
            status_code=429,
            headers={**headers, "Retry-After": str(decision.retry_after)},
        )
        await response(scope, receive, send)


def _exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or is_public(path)


def database_namespace(settings: Settings) -> str:
    """A Redis namespace per database: the processes of one deployment share it.

    The password is left out so that rotating it keeps the counts.
    """
    url = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _unlimited(items: Sequence[RateLimitItem]) -> RateDecision:
    item = items[0]
    return RateDecision(
        allowed=True,
        limit=_describe(item),
        quota=item.amount,
        remaining=item.amount,
        retry_after=item.get_expiry(),
    )


def _describe(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    if item.multiples == 1:
        return f"{item.amount}/{unit}"
    return f"{item.amount}/{item.multiples} {unit}s"
