"""Identity: authenticated principals, their roles and tokens, and signed approvals.

Against a team server the acting identity is the authenticated principal (an API token, a
web session opened with one, or a trusted reverse proxy's header), never a parameter. On one
machine with ``[signing]`` on, it is whoever the allowed-signers file says the signing key
belongs to, and approvals carry SSH signatures that a claim verifies before anything runs.
"""

from tracline.identity._principal import DEFAULT_ROLES, ROLES, Principal, check_name, check_roles
from tracline.identity._signing import (
    SERVER_PRINCIPAL,
    Signatures,
    SigningSettings,
    approval_message,
)
from tracline.identity._ssh import (
    NAMESPACE,
    find_principals,
    generate_key,
    public_key,
    sign,
    verify,
)

TYPE_CHECKING = False  # the token store (SQLAlchemy) loads on first use: clients need none
if TYPE_CHECKING:
    from tracline.identity._tokens import IssuedToken, TokenInfo, TokenStore

__all__ = [
    "DEFAULT_ROLES",
    "NAMESPACE",
    "ROLES",
    "SERVER_PRINCIPAL",
    "IssuedToken",
    "Principal",
    "Signatures",
    "SigningSettings",
    "TokenInfo",
    "TokenStore",
    "approval_message",
    "check_name",
    "check_roles",
    "find_principals",
    "generate_key",
    "public_key",
    "sign",
    "verify",
]


def __getattr__(name: str) -> object:
    if name in {"IssuedToken", "TokenInfo", "TokenStore"}:
        from tracline.identity import _tokens

        return getattr(_tokens, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
