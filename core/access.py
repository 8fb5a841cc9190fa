"""Who is asking, and what they may do on a site. Deny by default: no membership, no access.

A principal is a logged-in moderator (roles on any number of sites) or an API token (one
role on one site). A site the principal has no role on is reported as not found, so a
moderator of one site cannot even learn which other sites exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import PermissionDenied, SiteNotFound
from models import Role


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `actor` is what the audit log records ("moderator:3",
    "token:7"); `roles` maps site ids to the caller's role there."""

    actor: str
    name: str
    roles: Mapping[int, Role] = field(default_factory=dict)
    moderator_id: int | None = None
    session_id: int | None = None
    token_id: int | None = None
    # The session's idle timer (or the token's last use) is due a refresh: see
    # core.accounts.record_activity.
    activity_due: bool = False

    def role_on(self, site_id: int) -> Role | None:
        return self.roles.get(site_id)


def require(principal: Principal, site_id: int, needed: Role) -> Role:
    """The caller's role on the site if it is at least `needed`: SiteNotFound when the
    caller has no role there, PermissionDenied when the role is too low."""
    role = principal.role_on(site_id)
    if role is None:
        raise SiteNotFound("no such site")
    if role.rank < needed.rank:
        raise PermissionDenied(f"this needs the {needed.value} role on the site")
    return role
