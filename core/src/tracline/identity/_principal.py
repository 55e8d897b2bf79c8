"""Who acts: an authenticated principal and the roles it holds.

A principal is ``user:NAME`` (a person) or ``agent:NAME`` (a program). Against a server it is
whoever the token, session or trusted proxy header says, never a parameter; on one machine
with signing on, whoever the signing key belongs to in the allowed-signers file.

Roles:

* ``requester`` — file, amend and cancel one's own requests; claim and settle them;
* ``reviewer`` — approve and reject (people only: an agent never holds it);
* ``agent`` — file requests and claim/settle them as a program (an orchestrator's worker);
* ``ingest`` — post OpenLineage events;
* ``admin`` — manage tokens (and nothing else: an admin is no reviewer unless also granted it).

Every authenticated principal may read: the queue, requests, audit log, spend and lineage.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

from tracline.errors import NotAuthorized, ValidationError

__all__ = ["DEFAULT_ROLES", "ROLES", "Principal", "check_name", "check_roles"]

ROLES = ("admin", "agent", "ingest", "requester", "reviewer")
#: Roles a new token gets when none are named.
DEFAULT_ROLES = {"user": ("requester", "reviewer"), "agent": ("agent", "ingest")}
_NAME = re.compile(r"^(user|agent):[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
#: What each role lets a principal do (beyond reading).
_ALLOWS = {
    "file": ("requester", "agent"),
    "amend": ("requester", "agent"),
    "cancel": ("requester", "agent"),
    "claim": ("requester", "agent"),
    "settle": ("requester", "agent"),
    "approve": ("reviewer",),
    "reject": ("reviewer",),
    "ingest": ("ingest",),
    "admin": ("admin",),
}


def check_name(name: str) -> str:
    """``user:NAME`` or ``agent:NAME``, or :class:`ValidationError`."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError("principal", f"{name!r} is not user:NAME or agent:NAME",
                              hint="e.g. user:alice for a person, agent:trainer for a program")
    return name


def check_roles(name: str, roles: Iterable[str]) -> tuple[str, ...]:
    """The sorted, known roles of ``name``; agents never get ``reviewer``."""
    chosen = sorted(set(roles))
    for role in chosen:
        if role not in ROLES:
            raise ValidationError("roles", f"{role!r} is not a role",
                                  hint=f"roles: {', '.join(ROLES)}")
    if name.startswith("agent:") and "reviewer" in chosen:
        raise ValidationError("roles", f"{name} is an agent and cannot be a reviewer",
                              hint="agents never approve; give reviewer to people (user:NAME)")
    if not chosen:
        raise ValidationError("roles", "names no role", hint=f"roles: {', '.join(ROLES)}")
    return tuple(chosen)


@attrs.frozen
class Principal:
    """An authenticated caller: its name, its roles, and how it was authenticated."""

    name: str
    roles: frozenset[str]
    #: ``token``, ``session``, ``proxy`` (a trusted reverse proxy's header) or ``key``.
    via: str = "token"
    #: The id of the token it authenticated with (never the secret).
    token_id: str | None = None

    @property
    def is_agent(self) -> bool:
        """True for ``agent:`` principals."""
        return self.name.startswith("agent:")

    def may(self, action: str) -> bool:
        """True when one of the principal's roles allows ``action``."""
        if action in {"approve", "reject"} and self.is_agent:
            return False
        return any(role in self.roles for role in _ALLOWS.get(action, ()))

    def require(self, action: str) -> None:
        """Raise :class:`NotAuthorized` unless a role allows ``action``."""
        if not self.may(action):
            needed = " or ".join(_ALLOWS.get(action, ("?",)))
            held = ", ".join(sorted(self.roles)) or "none"
            raise NotAuthorized(f"{self.name} may not {action}: it needs the role {needed} "
                                f"(it holds {held})",
                                hint="an admin grants roles: tracline admin token create")
