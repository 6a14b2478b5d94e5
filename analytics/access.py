"""Who is calling and what they may do: roles, dataset scopes, API keys and JWTs.

An API key reads ``slsc_<id>_<secret>``. The id is public (it names the key
in lists and in the audit log); only an HMAC-SHA256 of the secret under a
per-key salt is stored, and the comparison is constant-time. The secret is
256 random bits, so a fast hash is enough: nothing can be guessed offline.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.db import ApiKey, check_dataset_id, list_datasets
from analytics.errors import AnalyticsError, InvalidArgumentError

KEY_PREFIX = "slsc"
_KEY_FORMAT = re.compile(rf"^{KEY_PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})$")
_NAME_FORMAT = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
# Compared against when a key id is unknown, so a miss costs what a hit costs.
_DUMMY_SALT = bytes(16)
JWT_ALGORITHM = "HS256"


class Role(enum.StrEnum):
    VIEWER = "viewer"
    ANALYST = "analyst"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @classmethod
    def parse(cls, value: object, field: str = "role") -> Role:
        try:
            return cls(str(value))
        except ValueError:
            choices = ", ".join(role.value for role in cls)
            raise InvalidArgumentError(
                f"{field}: expected one of {choices}, got {value!r}"
            ) from None


_RANKS = {Role.VIEWER: 0, Role.ANALYST: 1, Role.ADMIN: 2}


class AuthenticationError(AnalyticsError):
    """No valid credentials: the caller is unknown (HTTP 401)."""

    code = "UNAUTHENTICATED"


class AccessDeniedError(AnalyticsError, PermissionError):
    """A known caller asked for something its role or dataset scope does not allow (403)."""

    code = "FORBIDDEN"


class KeyNotFoundError(AnalyticsError, LookupError):
    code = "NOT_FOUND"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"API key {key_id!r} does not exist")


@dataclass(frozen=True)
class Principal:
    """The caller of one request.

    ``subject`` is what the audit log and the askAI budget know the caller by;
    ``datasets`` is the scope (``None``: every dataset).
    """

    subject: str
    role: Role
    datasets: frozenset[str] | None = None
    authenticated: bool = True

    def has_role(self, role: Role) -> bool:
        return self.role.rank >= role.rank

    def can_see(self, dataset_id: str) -> bool:
        return self.datasets is None or dataset_id in self.datasets

    def visible(self, dataset_ids: Iterable[str]) -> list[str]:
        return [dataset_id for dataset_id in dataset_ids if self.can_see(dataset_id)]

    def require_role(self, role: Role, action: str) -> None:
        if not self.has_role(role):
            raise AccessDeniedError(
                f"{action} needs the {role.value} role; this caller is a {self.role.value}"
            )

    def require_dataset(self, dataset_id: str) -> None:
        # The same answer whether or not the dataset exists: a scope hides the rest.
        if not self.can_see(dataset_id):
            raise AccessDeniedError(f"dataset {dataset_id!r} is outside this caller's scope")

    def require_unscoped(self, action: str) -> None:
        if self.datasets is not None:
            raise AccessDeniedError(
                f"{action} needs a key for every dataset; this one is limited to "
                f"{', '.join(sorted(self.datasets)) or 'no dataset'}"
            )


# Who calls a server that runs open (loopback, no authentication required).
OPEN_ACCESS = Principal(subject="anonymous", role=Role.ADMIN, authenticated=False)
# What the command line acts as: whoever can run it owns the data directory.
COMMAND_LINE = Principal(subject="cli", role=Role.ADMIN)


@dataclass(frozen=True)
class IssuedKey:
    """A new key: the only time its secret exists in the clear."""

    key: ApiKey
    secret: str


def create_api_key(
    engine: Engine, name: str, role: Role | str, datasets: Sequence[str] | None = None
) -> IssuedKey:
    """Store a new key and return it with its secret (shown once, never stored)."""
    if not _NAME_FORMAT.match(name) or not name.strip():
        raise InvalidArgumentError("name: expected 1-100 printable characters")
    role = Role.parse(role)
    scope = _check_scope(engine, datasets)
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    key = ApiKey(
        id=key_id,
        name=name.strip(),
        role=role.value,
        datasets=scope,
        salt=salt.hex(),
        secret_hash=_hash_secret(salt, secret),
    )
    with engine.begin() as conn:
        conn.execute(sa.insert(ApiKey).values(**key.model_dump()))
    return IssuedKey(key=key, secret=f"{KEY_PREFIX}_{key_id}_{secret}")


def list_api_keys(engine: Engine) -> list[ApiKey]:
    table = ApiKey.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c.created_at, table.c.id)).all()
    return [ApiKey.model_validate(row._mapping) for row in rows]


def revoke_api_key(engine: Engine, key_id: str) -> ApiKey:
    """Revoke a key at once for every worker; revoking twice keeps the first time."""
    table = ApiKey.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(
            sa.update(table)
            .where(table.c.id == key_id, table.c.revoked_at.is_(None))
            .values(revoked_at=dt.datetime.now(dt.UTC))
        )
        row = conn.execute(sa.select(table).where(table.c.id == key_id)).first()
    if row is None:
        raise KeyNotFoundError(key_id)
    return ApiKey.model_validate(row._mapping)


def authenticate_api_key(engine: Engine, presented: str) -> Principal:
    """The principal a presented key stands for; any doubt is an AuthenticationError."""
    match = _KEY_FORMAT.match(presented)
    if match is None:
        raise AuthenticationError("invalid API key")
    key_id, secret = match.groups()
    table = ApiKey.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.id == key_id)).first()
    salt = bytes.fromhex(row.salt) if row is not None else _DUMMY_SALT
    expected = row.secret_hash if row is not None else ""
    if not hmac.compare_digest(_hash_secret(salt, secret), expected) or row is None:
        raise AuthenticationError("invalid API key")
    if row.revoked_at is not None:
        raise AuthenticationError("this API key has been revoked")
    datasets = frozenset(row.datasets) if row.datasets is not None else None
    return Principal(subject=f"key:{key_id}", role=Role(row.role), datasets=datasets)


def authenticate_jwt(token: str, secret: str | None) -> Principal:
    """The principal of an HS256 token with ``exp``, ``sub``, ``role`` and ``datasets``.

    ``datasets`` lists the dataset ids the bearer may see; absent or ``"*"``
    means every dataset. Only HS256 is accepted, so ``alg: none`` is refused.
    """
    if not secret:
        raise AuthenticationError("bearer tokens are not accepted: no JWT secret is configured")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "sub", "role"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthenticationError("the bearer token has expired") from None
    except jwt.InvalidTokenError as error:
        raise AuthenticationError(f"invalid bearer token: {_reason(error)}") from None
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject or len(subject) > 128:
        raise AuthenticationError("invalid bearer token: 'sub' must be a non-empty string")
    try:
        role = Role.parse(claims["role"], "claim 'role'")
    except InvalidArgumentError as error:
        raise AuthenticationError(f"invalid bearer token: {error}") from None
    return Principal(subject=f"jwt:{subject}", role=role, datasets=_claimed_datasets(claims))


def issue_jwt(
    secret: str,
    subject: str,
    role: Role | str,
    datasets: Sequence[str] | None = None,
    lifetime: dt.timedelta = dt.timedelta(hours=1),
) -> str:
    """A token this server accepts (for the CLI and tests; identity providers make their own)."""
    claims: dict[str, Any] = {
        "sub": subject,
        "role": Role.parse(role).value,
        "exp": dt.datetime.now(dt.UTC) + lifetime,
    }
    if datasets is not None:
        claims["datasets"] = list(datasets)
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def _claimed_datasets(claims: dict[str, Any]) -> frozenset[str] | None:
    datasets = claims.get("datasets", "*")
    if datasets == "*":
        return None
    if not isinstance(datasets, list) or not all(isinstance(item, str) for item in datasets):
        raise AuthenticationError(
            "invalid bearer token: 'datasets' must be a list of dataset ids or '*'"
        )
    return frozenset(datasets)


def _check_scope(engine: Engine, datasets: Sequence[str] | None) -> list[str] | None:
    if datasets is None:
        return None
    scope = sorted({check_dataset_id(dataset_id) for dataset_id in datasets})
    if not scope:
        raise InvalidArgumentError("datasets: name at least one dataset, or none for all")
    known = {dataset.id for dataset in list_datasets(engine)}
    missing = [dataset_id for dataset_id in scope if dataset_id not in known]
    if missing:
        raise InvalidArgumentError(f"datasets: no dataset {', '.join(map(repr, missing))}")
    return scope


def _hash_secret(salt: bytes, secret: str) -> str:
    return hmac.new(salt, secret.encode(), hashlib.sha256).hexdigest()


def _reason(error: jwt.InvalidTokenError) -> str:
    # PyJWT's messages name the failed check and never echo the token.
    return str(error) or type(error).__name__
