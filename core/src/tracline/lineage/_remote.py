"""Lineage questions asked of a team server (``TRACLINE_URL``): trace and receipt by digest.

The server never reads files on a caller's behalf, so a path is hashed here and the server is
asked about its content digest. Its answers are the ``to_dict()`` forms of :class:`Trace` and
:class:`Receipt`, read back into the same objects, so that the command line shows them as it
shows the local registry's. Errors are the same classes the local queries raise.
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracline._urls import display_url
from tracline.config import Config, get_config, server_url
from tracline.errors import StoreError, ValidationError
from tracline.lineage._common import RunInfo
from tracline.lineage._receipt import CostLine, Receipt
from tracline.lineage._trace import Trace, TraceNode
from tracline.registry import ArtifactRow, RunRow

if TYPE_CHECKING:
    import httpx

__all__ = ["RemoteLineage", "open_remote_lineage", "receipt_from_dict", "trace_from_dict"]

#: What the server takes for an artifact: ``algorithm:hex`` (a prefix of 8 hex digits or more).
_DIGEST = re.compile(r"^[a-z0-9_-]{2,16}:[0-9a-f]{8,128}$")


class RemoteLineage:
    """The lineage routes of the team server at ``url``, with an API token."""

    def __init__(self, url: str, token: str, *, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        import httpx

        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {token}",
                                           "User-Agent": "tracline-client"})

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        import httpx

        from tracline.approvals import error_from_wire

        try:
            reply = self._http.get("/api/v1" + path, params=params)
        except httpx.HTTPError as e:
            raise StoreError(display_url(f"cannot reach the tracline server at {self.url}: {e}"),
                             hint="check TRACLINE_URL and that tracline serve is running, or "
                             "ask the local registry with --from local") from e
        if reply.status_code >= 400:
            raise error_from_wire(reply.status_code, reply.content)
        return reply.json()

    def trace(self, ref: str, depth: int) -> Trace:
        """The upstream lineage of ``ref`` (a path here, or a digest) as the server knows it."""
        found = trace_from_dict(self._get("/trace", {"ref": server_ref(ref), "depth": depth}))
        found.source = f"the team server at {display_url(self.url)}"
        return found

    def receipt(self, ref: str, depth: int) -> Receipt:
        """The receipt of ``ref`` (a path here, or a digest) as the server knows it."""
        made = receipt_from_dict(self._get("/receipt", {"ref": server_ref(ref),
                                                        "depth": depth}))
        made.trace.source = f"the team server at {display_url(self.url)}"
        return made

    def close(self) -> None:
        self._http.close()


def open_remote_lineage(config: Config | None = None) -> RemoteLineage | None:
    """The team server's lineage when ``TRACLINE_URL`` (or ``[server] url``) is set."""
    config = config or get_config()
    url = server_url(config)
    if not url:
        return None
    from tracline.approvals import server_token

    return RemoteLineage(url, server_token(config))


def server_ref(ref: str) -> str:
    """What the server is asked about: the digest of a file or folder here, or ``ref`` when
    it is a digest."""
    text = ref.strip()
    path = Path(text).expanduser()
    if path.exists():
        from tracline.hashing import digest_path

        return digest_path(path).digest
    if _DIGEST.match(text.lower()):
        return text.lower()
    raise ValidationError("artifact", f"{ref!r} is neither a file here nor a content digest",
                          hint="a team server is asked by content: give a path to the file "
                          "(it is hashed here) or its digest, e.g. blake3:<hex>; or ask the "
                          "local registry with --from local")


def _run(data: dict[str, Any]) -> RunInfo:
    return RunInfo(data["run_id"], data["job_namespace"], data["job_name"], data["state"],
                   data.get("started_at"), data.get("ended_at"))


def trace_from_dict(data: dict[str, Any]) -> Trace:
    """A :class:`Trace` from its ``to_dict()`` form (shared inputs shown once, then marked
    as repeats, as the walk marks them)."""
    runs = {r["run_id"]: _run(r) for r in data["runs"]}
    inputs = {r["run_id"]: list(r.get("inputs") or []) for r in data["runs"]}
    artifacts = {a["id"]: a for a in data["artifacts"]}

    def run_info(run_id: str) -> RunInfo:
        return runs.get(run_id) or RunInfo(run_id, "", "", "", None, None)

    def node(key: str) -> TraceNode:
        a = artifacts[key]
        return TraceNode(a["namespace"], a["name"], a["digest"], a.get("size"),
                         a.get("fileCount"), a.get("kind"),
                         run=run_info(a["madeBy"]) if a.get("madeBy") else None,
                         matched_by=a.get("matchedBy"),
                         identical_reruns=[run_info(r) for r in a.get("identicalReruns", [])],
                         also_made_by=[run_info(r) for r in a.get("alsoMadeBy", [])],
                         truncated=bool(a.get("truncated")))

    root = node(data["artifact"])
    placed, queue = {root.key}, deque([root])
    while queue:  # level by level, as the walk went: the first sighting is the full one
        parent = queue.popleft()
        if parent.run is None or parent.truncated:
            continue
        for key in inputs.get(parent.run.run_id, []):
            child = node(key)
            if key in placed:
                child.repeat = True
            else:
                placed.add(key)
                queue.append(child)
            parent.inputs.append(child)
    return Trace(root, int(data["depth"]), data.get("note"), data.get("source"))


def receipt_from_dict(data: dict[str, Any]) -> Receipt:
    """A :class:`Receipt` from its ``to_dict()`` form."""
    trace = trace_from_dict(data["upstream"])
    same = data.get("sameBytes") or {}
    trace.root.identical_reruns = [_run(r) for r in same.get("identicalReruns", [])]
    trace.root.also_made_by = [_run(r) for r in same.get("otherRuns", [])]
    run = None
    if data.get("run"):
        r = data["run"]
        facets = {key: data[field] for key, field in (("tracline_execution", "recipe"),
                                                      ("tracline_gpuCost", "cost"),
                                                      ("tracline_approval", "approval"))
                  if data.get(field)}
        run = RunRow(r["run_id"], r["job_namespace"], r["job_name"], r["state"],
                     r.get("started_at"), r.get("ended_at"), None, facets)
    io = [ArtifactRow(run.run_id if run else "", direction, a["namespace"], a["name"],
                      a.get("digest"), a.get("size"), a.get("fileCount"))
          for direction, key in (("in", "inputs"), ("out", "outputs"))
          for a in data.get(key) or []]
    upstream = (data.get("upstreamCost") or {}).get("runs") or []
    costs = [CostLine(c["runId"], c["job"], c.get("gpuSeconds"), c.get("cost"),
                      c.get("currency"), c.get("measurement")) for c in upstream]
    return Receipt(trace, run, io, costs, data["generatedAt"], dict(data.get("links") or {}))
