"""A real team server for the tests: `tracline serve` under uvicorn in its own process, on
SQLite or PostgreSQL, with tokens for a small team and SSH keys for its reviewers."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa

from tracline.approvals import RemoteRequests, RequestSpec
from tracline.config import Config
from tracline.db import make_engine
from tracline.identity import NAMESPACE, TokenStore, generate_key, public_key

POLICY_TOML = """\
[policy]
reviewers = ["user:chris", "group:ml-leads"]
two_approvals_above = 5000

[policy.groups]
ml-leads = ["user:chris", "user:dana"]
"""
DIGEST_A = "sha256:" + "a" * 64
#: Who the team is, and the roles each token gets.
TEAM: dict[str, tuple[str, ...]] = {
    "user:chris": ("requester", "reviewer"),
    "user:dana": ("requester", "reviewer"),
    "user:eve": ("requester",),
    "user:erin": ("requester", "reviewer"),
    "agent:trainer": ("agent", "ingest"),
    "user:root": ("admin",),
}


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(what: str, check: Any, timeout: float = 60.0) -> Any:
    """Poll ``check`` until it returns something truthy (a deadline, not a timing claim)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in the database at ``url``, to prove nothing was written."""
    engine = make_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return {table.name: [tuple(r) for r in conn.execute(
                sa.select(table).order_by(*(table.primary_key.columns or table.columns)))]
                for table in meta.sorted_tables}
    finally:
        engine.dispose()


def docs_spec(**changes: Any) -> RequestSpec:
    """The docs example: 8× H100 for 3.2 h, budget $984, reviewer chris, by agent:trainer."""
    from tracline.approvals import DatasetRef

    fields: dict[str, Any] = {
        "title": "Fine-tune the cat classifier", "requester": "agent:trainer",
        "project": "vision", "datasets": [DatasetRef("s3://datasets/cats", DIGEST_A)],
        "gpu_model": "H100", "gpu_count": 8, "hours": "3.2", "budget": 984,
        "rationale": "Validation accuracy plateaued; a longer schedule should help.",
        "reviewers": ["user:chris"],
    }
    fields.update(changes)
    return RequestSpec(**fields)


@attrs.define
class TeamServer:
    """`tracline serve` in a subprocess, its stores, its team's tokens and reviewer keys."""

    root: Path
    url: str
    store_url: str
    registry_url: str
    config_path: Path
    tokens: dict[str, str]
    keys: dict[str, Path]
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def env(self, principal: str | None = None, **extra: str) -> dict[str, str]:
        """An environment that talks to this server as ``principal``."""
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("TRACLINE", "OPENLINEAGE")) or k.startswith("TRACLINE_TEST")}
        base |= {"TRACLINE_CONFIG": str(self.config_path), "TRACLINE_URL": self.url}
        if principal:
            base["TRACLINE_TOKEN"] = self.tokens[principal]
        return base | extra

    def client(self, principal: str) -> RemoteRequests:
        """The Python API as ``principal`` (what ``open_requests`` returns with TRACLINE_URL)."""
        config = Config(sections={}, home=str(self.root / "client-home"))
        return RemoteRequests(self.url, self.tokens[principal], config)

    def cli(self, principal: str | None, *args: str,
            **env: str) -> subprocess.CompletedProcess[str]:
        """Run the tracline CLI in a subprocess against this server."""
        return subprocess.run([sys.executable, "-m", "tracline.cli", *args],
                              env=self.env(principal, **env), cwd=self.root,
                              capture_output=True, text=True, timeout=120)

    def request(self, method: str, path: str, *, token: str | None = None,
                body: Any = None, headers: dict[str, str] | None = None,
                ) -> tuple[int, dict[str, Any]]:
        """One raw HTTP call; (status, JSON body)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        def parse(text: bytes) -> dict[str, Any]:
            try:
                return dict(json.loads(text)) if text.startswith((b"{", b"[")) else \
                    {"raw": text.decode(errors="replace")}
            except (ValueError, TypeError):
                return {"raw": text.decode(errors="replace")}

        try:
            with urllib.request.urlopen(req, timeout=60) as reply:
                return reply.status, parse(reply.read())
        except urllib.error.HTTPError as e:
            return e.code, parse(e.read())

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of the server's store and registry."""
        return {**snapshot(self.store_url), **{f"registry.{k}": v for k, v in
                                               snapshot(self.registry_url).items()}}

    def start(self) -> None:
        self.log = self.root / "serve.log"
        port = int(self.url.rsplit(":", 1)[1])
        env = {k: v for k, v in self.env().items() if k not in ("TRACLINE_URL",)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tracline.cli", "serve", "--port", str(port),
             "--store-url", self.store_url, "--registry-url", self.registry_url],
            env=env, cwd=self.root, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)

        def healthy() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"tracline serve exited:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/health", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_until("tracline serve", healthy)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


def make_server(root: Path, store_url: str, *, extra_toml: str = "") -> TeamServer:
    """Tokens for the team, SSH keys for chris and dana, a config; not started yet."""
    root.mkdir(parents=True, exist_ok=True)
    keys = {}
    for name in ("chris", "dana"):
        keys[f"user:{name}"] = root / "keys" / name
        generate_key(keys[f"user:{name}"], name)
    allowed = root / "allowed_signers"
    allowed.write_text("".join(f'{p} namespaces="{NAMESPACE}" {public_key(k)}\n'
                               for p, k in keys.items()))
    config_path = root / "tracline.toml"
    config_path.write_text(POLICY_TOML + f'\n[signing]\nallowed_signers = "{allowed}"\n'
                           f'required = true\n\n[tracline]\nhome = "{root / "server-home"}"\n'
                           + extra_toml)
    store = TokenStore(store_url)
    try:
        tokens = {p: store.issue(p, roles, ttl=dt.timedelta(days=1)).secret
                  for p, roles in TEAM.items()}
    finally:
        store.close()
    registry_url = store_url if store_url.startswith("postgresql") else \
        f"sqlite:///{root / 'registry.db'}"
    return TeamServer(root, f"http://127.0.0.1:{free_port()}", store_url, registry_url,
                      config_path, tokens, keys)
