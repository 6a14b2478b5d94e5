"""Role checks on fields: what a caller's role allows, declared next to each field."""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.permission import BasePermission
from strawberry.types import Info

from analytics.access import Role


class _RoleRequired(BasePermission):
    role: ClassVar[Role]
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return bool(info.context.principal.has_role(self.role))


class IsAnalyst(_RoleRequired):
    """Uploads, analyses, training, predictions and askAI."""

    role = Role.ANALYST
    message = "this needs the analyst or admin role"


class IsAdmin(_RoleRequired):
    """Keys, deletions, the audit log and raw logs."""

    role = Role.ADMIN
    message = "this needs the admin role"
