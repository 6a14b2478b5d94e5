from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.access import (
    OPEN_ACCESS,
    AccessDeniedError,
    AuthenticationError,
    Principal,
    Role,
    authenticate_api_key,
    authenticate_jwt,
    create_api_key,
    issue_jwt,
    list_api_keys,
    revoke_api_key,
)
from analytics.errors import InvalidArgumentError

SECRET = "k" * 32


def test_only_a_salted_hash_of_the_secret_is_stored(tiny_dataset: Engine) -> None:
    first = create_api_key(tiny_dataset, "robot", "analyst", ["tiny"])
    second = create_api_key(tiny_dataset, "robot", "analyst", ["tiny"])

    with tiny_dataset.connect() as conn:
        stored = conn.execute(sa.text("SELECT * FROM api_keys")).mappings().all()
    text = repr(stored)
    for issued in (first, second):
        secret_part = issued.secret.split("_", 2)[2]
        assert secret_part not in text
        assert issued.secret.startswith(f"slsc_{issued.key.id}_")
    assert stored[0]["salt"] != stored[1]["salt"]
    assert len(stored[0]["secret_hash"]) == 64


def test_a_key_authenticates_as_its_role_and_scope(tiny_dataset: Engine) -> None:
    issued = create_api_key(tiny_dataset, "robot", Role.ANALYST, ["tiny"])

    principal = authenticate_api_key(tiny_dataset, issued.secret)

    assert principal == Principal(
        subject=f"key:{issued.key.id}", role=Role.ANALYST, datasets=frozenset({"tiny"})
    )


def test_unknown_tampered_and_revoked_keys_fail(tiny_dataset: Engine) -> None:
    issued = create_api_key(tiny_dataset, "robot", "viewer")
    tampered = issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")
    unknown = "slsc_ffffffffffff_" + issued.secret.split("_", 2)[2]

    for presented in (tampered, unknown, "slsc_short", issued.secret + "x"):
        with pytest.raises(AuthenticationError, match="invalid API key"):
            authenticate_api_key(tiny_dataset, presented)
    revoked = revoke_api_key(tiny_dataset, issued.key.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        authenticate_api_key(tiny_dataset, issued.secret)
    assert revoked.revoked_at is not None
    # Revoking again keeps the first revocation time.
    assert revoke_api_key(tiny_dataset, issued.key.id).revoked_at == revoked.revoked_at


def test_key_arguments_are_checked_before_anything_is_stored(tiny_dataset: Engine) -> None:
    with pytest.raises(InvalidArgumentError, match="role: expected one of viewer, analyst, admin"):
        create_api_key(tiny_dataset, "x", "root")
    with pytest.raises(InvalidArgumentError, match="datasets: no dataset 'nope'"):
        create_api_key(tiny_dataset, "x", "viewer", ["tiny", "nope"])
    with pytest.raises(InvalidArgumentError, match="name"):
        create_api_key(tiny_dataset, "bad\nname", "viewer")
    with pytest.raises(InvalidArgumentError, match="at least one dataset"):
        create_api_key(tiny_dataset, "x", "viewer", [])
    assert list_api_keys(tiny_dataset) == []


def test_jwt_claims_become_the_principal() -> None:
    token = issue_jwt(SECRET, "alice", "viewer", ["a", "b"])
    everything = issue_jwt(SECRET, "bob", "admin")

    assert authenticate_jwt(token, SECRET) == Principal(
        "jwt:alice", Role.VIEWER, frozenset({"a", "b"})
    )
    assert authenticate_jwt(everything, SECRET).datasets is None


def test_jwts_are_refused_without_a_secret_or_when_expired() -> None:
    token = issue_jwt(SECRET, "alice", "viewer", lifetime=dt.timedelta(seconds=-1))
    with pytest.raises(AuthenticationError, match="expired"):
        authenticate_jwt(token, SECRET)
    with pytest.raises(AuthenticationError, match="no JWT secret"):
        authenticate_jwt(token, None)


def test_roles_are_ordered_and_scopes_hide_other_datasets() -> None:
    viewer = Principal("key:v", Role.VIEWER, frozenset({"a"}))

    assert OPEN_ACCESS.has_role(Role.ADMIN) and OPEN_ACCESS.can_see("anything")
    assert viewer.has_role(Role.VIEWER) and not viewer.has_role(Role.ANALYST)
    assert viewer.visible(["a", "b", "c"]) == ["a"]
    with pytest.raises(AccessDeniedError, match="needs the analyst role; this caller is a viewer"):
        viewer.require_role(Role.ANALYST, "uploading")
    with pytest.raises(AccessDeniedError, match="'b' is outside this caller's scope"):
        viewer.require_dataset("b")
    with pytest.raises(AccessDeniedError, match="limited to a"):
        viewer.require_unscoped("uploading")
