"""Signed approvals: what is signed, with which key, and how a gate checks it.

``[signing]`` in tracline.toml::

    [signing]
    key = "~/.ssh/id_ed25519"            # your private key (or $TRACLINE_SIGNING_KEY)
    allowed_signers = "reviewers.allowed" # PRINCIPAL namespaces="tracline-approval" KEY, per line
    required = true                      # default: true once key or allowed_signers is set

An approval signs :func:`approval_message`: the request id, the digest the reviewer saw, the
approver and the moment of approval. A reviewer's own key signs it (``via = "ssh"``; the
allowed-signers file must list that key for that approver), or a team server's key attests the
reviewer it authenticated (``via = "server"``; the allowed-signers file lists the server's key
under :data:`SERVER_PRINCIPAL`). A claim counts only approvals whose signature verifies, so a
row written into the database by hand does not count.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path

import attrs

from tracline.config import Config
from tracline.errors import ConfigError, NotAuthorized
from tracline.identity import _ssh

__all__ = ["SERVER_PRINCIPAL", "Signatures", "SigningSettings", "approval_message"]

#: The principal under which allowed-signers files list a team server's attesting key.
SERVER_PRINCIPAL = "server:tracline"
_KEYS = {"key", "allowed_signers", "required"}


def approval_message(request_id: str, digest: str, approver: str, decided_at: str,
                     via: str) -> bytes:
    """The bytes an approval's signature covers (canonical JSON: sorted keys, no spaces)."""
    return json.dumps({"type": "tracline-approval/1", "request": request_id, "digest": digest,
                       "approver": approver, "decided_at": decided_at, "via": via},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _path(value: object, where: str, base: Path | None) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where} = {value!r} is not a path", hint="write a path in quotes")
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return str(path)


@attrs.frozen
class SigningSettings:
    """Where the signing key and the allowed-signers file are; whether signatures are needed."""

    required: bool = False
    key: str | None = None
    allowed_signers: str | None = None
    #: The team server's own private key (``[server] key``), only inside the server.
    server_key: str | None = None

    @classmethod
    def from_config(cls, config: Config) -> SigningSettings:
        """Read ``[signing]`` (and ``$TRACLINE_SIGNING_KEY``)."""
        table = config.checked_section("signing", _KEYS)
        base = config.source.parent if config.source else None
        key = _path(os.environ.get("TRACLINE_SIGNING_KEY") or table.get("key"),
                    "[signing] key", base)
        allowed = _path(table.get("allowed_signers"), "[signing] allowed_signers", base)
        required = table.get("required", key is not None or allowed is not None)
        if not isinstance(required, bool):
            raise ConfigError(f"[signing] required = {required!r} is not true or false")
        if required and allowed is None:
            raise ConfigError("[signing] is required but names no allowed_signers file",
                              hint='set allowed_signers = "path" (one "user:NAME '
                              'namespaces=\\"tracline-approval\\" ssh-ed25519 ..." per line)')
        return cls(required=required, key=key, allowed_signers=allowed)


class Signatures:
    """Signs and verifies approvals under one :class:`SigningSettings`."""

    def __init__(self, settings: SigningSettings) -> None:
        self.settings = settings

    @property
    def required(self) -> bool:
        """True when only approvals with a valid signature count."""
        return self.settings.required or self.settings.server_key is not None

    @functools.cached_property
    def server_public_key(self) -> str | None:
        """The server key's public half, or None outside a server."""
        key = self.settings.server_key
        return _ssh.public_key(key) if key else None

    def allowed_signers_text(self) -> str:
        """The allowed-signers lines in force: the configured file's, plus the server's key."""
        text = ""
        if self.settings.allowed_signers:
            try:
                text = Path(self.settings.allowed_signers).read_text()
            except OSError as e:
                raise ConfigError(f"cannot read the allowed-signers file "
                                  f"{self.settings.allowed_signers}: {e.strerror}",
                                  hint="check [signing] allowed_signers") from e
        if self.server_public_key:
            text += (f'\n{SERVER_PRINCIPAL} namespaces="{_ssh.NAMESPACE}" '
                     f"{self.server_public_key}\n")
        return text

    def _with_allowed(self) -> tempfile.TemporaryDirectory[str]:
        folder = tempfile.TemporaryDirectory(prefix="tracline-allowed-")
        Path(folder.name, "allowed_signers").write_text(self.allowed_signers_text())
        return folder

    @functools.cached_property
    def local_principal(self) -> str:
        """Whom the allowed-signers file names for the local signing key (exactly one)."""
        if not self.settings.key:
            raise NotAuthorized("signing is on but no signing key is set",
                                hint="set [signing] key (or $TRACLINE_SIGNING_KEY) to your "
                                "private SSH key")
        signature = _ssh.sign(self.settings.key, b"tracline-whoami")  # proves the key works
        mine = _ssh.public_key(self.settings.key).split()[1]
        people = sorted(p for p in _ssh.principals_of(self.allowed_signers_text(), mine)
                        if p != SERVER_PRINCIPAL)
        with self._with_allowed() as folder:
            found = _ssh.find_principals(Path(folder, "allowed_signers"), signature)
        if not found:
            people = []
        if len(people) != 1:
            listed = ", ".join(people) or "nobody"
            raise NotAuthorized(f"the signing key {self.settings.key} belongs to {listed} in "
                                "the allowed-signers file, not to exactly one principal",
                                hint="list each key once, under its owner's user:NAME or "
                                "agent:NAME")
        return people[0]

    def sign_local(self, message: bytes) -> str:
        """Sign with the local key."""
        if not self.settings.key:
            raise NotAuthorized("no signing key is set",
                                hint="set [signing] key (or $TRACLINE_SIGNING_KEY)")
        return _ssh.sign(self.settings.key, message)

    def attest(self, message: bytes) -> str:
        """Sign with the server's key (the server attests the reviewer it authenticated)."""
        if not self.settings.server_key:
            raise ConfigError("this process holds no server key", hint="only tracline serve "
                              "attests approvals")
        return _ssh.sign(self.settings.server_key, message)

    def verify(self, message: bytes, signature: str | None, via: str | None,
               approver: str) -> str | None:
        """The signing key's fingerprint when ``signature`` is valid for ``approver`` (by
        their key, ``via="ssh"``) or attests them (the server's key, ``via="server"``)."""
        if not signature or via not in ("ssh", "server"):
            return None
        principal = SERVER_PRINCIPAL if via == "server" else approver
        with self._with_allowed() as folder:
            return _ssh.verify(Path(folder, "allowed_signers"), principal, message, signature)

    def signer_of(self, signature: str) -> list[str]:
        """The principals whose key made ``signature`` (server excluded)."""
        with self._with_allowed() as folder:
            found = _ssh.find_principals(Path(folder, "allowed_signers"), signature)
        return [p for p in found if p != SERVER_PRINCIPAL]

