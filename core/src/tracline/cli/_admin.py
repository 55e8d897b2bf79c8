"""`tracline admin token create|list|revoke`: API tokens of the team server.

Run where the server's database is reachable (the server's host, with its configuration):
tokens are written straight into the store the server reads. A new token is printed once.
"""

from __future__ import annotations

import click

from tracline.approvals import parse_duration
from tracline.cli._app import app
from tracline.cli._output import Column, json_option, line, print_json, show, table
from tracline.config import load_config
from tracline.errors import ConfigError, ValidationError
from tracline.identity import DEFAULT_ROLES, ROLES, TokenStore, check_name


def _store(store_url: str | None) -> TokenStore:
    config = load_config()
    url = store_url or str(config.section("requests").get("url") or config.registry_url)
    return TokenStore(url)


_STORE = click.option("--store-url", default=None,
                      help="The server's store (default: [requests] url, else the registry).")


@app.group("admin")
def admin_app() -> None:
    """Issue and revoke the team server's API tokens."""


@admin_app.group("token")
def token_app() -> None:
    """Create, list and revoke API tokens (stored hashed; shown once)."""


@token_app.command("create")
@click.argument("principal")
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES),
              help="A role (repeatable). Default: requester+reviewer for user:, agent+ingest "
              "for agent:.")
@click.option("--expires-in", default="90d", show_default=True, help='e.g. "30d", "12h".')
@click.option("--note", default=None, help="What the token is for.")
@_STORE
@json_option
def create_cmd(*, principal: str, roles: tuple[str, ...], expires_in: str, note: str | None,
               store_url: str | None, as_json: bool) -> None:
    """Make a token for PRINCIPAL (user:NAME or agent:NAME) and print it once."""
    name = check_name(principal)
    try:
        ttl = parse_duration(expires_in, "--expires-in")
    except ConfigError as e:
        raise ValidationError("expires_in", f"{expires_in!r} is not a duration",
                              hint=e.hint) from None
    chosen = roles or DEFAULT_ROLES[name.split(":", 1)[0]]
    store = _store(store_url)
    try:
        issued = store.issue(name, chosen, ttl=ttl, note=note)
    finally:
        store.close()
    if as_json:
        print_json({"id": issued.info.id, "principal": name, "roles": list(issued.info.roles),
                    "expires_at": issued.info.expires_at, "token": issued.secret})
        return
    line(f"token {issued.info.id} for {name} ({', '.join(issued.info.roles)}), "
         f"expires {issued.info.expires_at[:16]}:")
    line(issued.secret)
    line("it is shown once: store it now (e.g. in TRACLINE_TOKEN)")


@token_app.command("list")
@click.option("--principal", default=None)
@_STORE
@json_option
def list_cmd(principal: str | None, store_url: str | None, as_json: bool) -> None:
    """List tokens (never their secrets)."""
    store = _store(store_url)
    try:
        found = store.list(principal)
    finally:
        store.close()
    if as_json:
        print_json([{"id": t.id, "principal": t.principal, "roles": list(t.roles),
                     "created_at": t.created_at, "expires_at": t.expires_at,
                     "revoked_at": t.revoked_at, "note": t.note} for t in found])
        return
    if not found:
        line("no tokens yet: tracline admin token create user:NAME")
        return
    show(table(
        [Column("id"), Column("principal", flexible=True, priority=1), Column("roles"),
         Column("status"), Column("note", flexible=True, drop=1)],
        [(t.id, t.principal, ",".join(t.roles),
          f"revoked {t.revoked_at[:16]}" if t.revoked_at else f"until {t.expires_at[:16]}",
          t.note or "") for t in found]))


@token_app.command("revoke")
@click.argument("token_id")
@_STORE
@json_option
def revoke_cmd(token_id: str, store_url: str | None, as_json: bool) -> None:
    """Revoke a token (and end its web sessions) now."""
    store = _store(store_url)
    try:
        info = store.revoke(token_id)
    finally:
        store.close()
    if as_json:
        print_json({"id": info.id, "principal": info.principal, "revoked_at": info.revoked_at})
        return
    line(f"revoked {info.id} ({info.principal})")
