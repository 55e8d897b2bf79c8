"""The recipe of a run: code version (git), imported packages, interpreter, host, environment.

Everything here is observed, never declared. Git is read by :mod:`._git` (before the command
starts). Packages are the distributions that provide the
top-level modules the run's Python processes actually imported, resolved in *their*
environment (site folders reported by each process), never tracline's own.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracline.capture._redact import redact_text

if TYPE_CHECKING:  # _observe loads with the watcher, after the command has started
    from tracline.capture._observe import PythonProcess

__all__ = ["code_info", "git_info", "host_info", "packages_for", "site_distributions"]


def code_info(state: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The git state as the ``code`` fact of a run (``CodeVersion``'s fields, absent ones left
    out) from :func:`~tracline.capture._git.git_state`'s fields, the remote's credentials
    redacted (a repository without a remote is named by its folder)."""
    if state is None:
        return None
    url = str(state.get("repository") or "")
    code = {"repository": redact_text(url) if url else str(state["root"]),
            "commit": state["commit"], "branch": state["branch"], "dirty": state["dirty"],
            "diffDigest": state["diffDigest"], "untracked": state["untracked"]}
    return {key: value for key, value in code.items() if value is not None}


def git_info(cwd: str, home: str | None = None) -> dict[str, Any] | None:
    """The repository, commit, branch and dirtiness at ``cwd``; None outside a repository."""
    from tracline.capture._git import git_state

    return code_info(git_state(cwd, home))


def host_info() -> dict[str, Any]:
    """The machine: hostname, operating system, platform, CPU count."""
    uname = platform.uname()
    system = uname.system
    try:
        system = platform.freedesktop_os_release().get("PRETTY_NAME", system)
    except OSError:
        pass
    return {"hostname": uname.node, "os": system,
            "platform": f"{uname.system}-{uname.release}-{uname.machine}",
            "cpuCount": os.cpu_count()}


def interpreter_info(process: PythonProcess | None) -> dict[str, str] | None:
    """The interpreter of the run's first Python process."""
    if process is None:
        return None
    return {"implementation": process.implementation, "version": process.version,
            "executable": process.executable}


def _top_levels(dist_info: Path) -> set[str]:
    top = dist_info / "top_level.txt"
    if top.is_file():
        return {line.strip() for line in top.read_text().splitlines() if line.strip()}
    names: set[str] = set()
    record = dist_info / "RECORD"
    if record.is_file():
        for line in record.read_text(errors="replace").splitlines():
            path = line.split(",", 1)[0]
            first = path.split("/", 1)[0]
            if not first or first.startswith(("..", "__pycache__")) or first.endswith(
                (".dist-info", ".data", ".pth")
            ):
                continue
            names.add(first if "/" in path else first.split(".", 1)[0])
    return names


def _editable_roots(site: Path, dist_info: Path) -> list[str]:
    roots = []
    record = dist_info / "RECORD"
    if record.is_file():
        for line in record.read_text(errors="replace").splitlines():
            name = line.split(",", 1)[0]
            if name.endswith(".pth") and "/" not in name and (site / name).is_file():
                for entry in (site / name).read_text(errors="replace").splitlines():
                    if entry.startswith("/") and os.path.isdir(entry):
                        roots.append(entry.rstrip("/") + "/")
    return roots


def site_distributions(site: str, cache_dir: Path | None = None) -> dict[str, Any]:
    """Map a site folder's top-level modules (and editable roots) to ``name==version``.

    The map is cached on disk per folder, keyed by the folder's mtime (which changes when a
    distribution is installed or removed).
    """
    folder = Path(site)
    try:
        stamp = folder.stat().st_mtime_ns
    except OSError:
        return {"modules": {}, "roots": {}}
    known = _SITES.get(site)
    if known is not None and known[0] == stamp:
        return known[1]
    found = _site_distributions(site, folder, stamp, cache_dir)
    _SITES[site] = (stamp, found)
    return found


#: site folder -> (its mtime, its map), for this process (a run reads each one once).
_SITES: dict[str, tuple[int, dict[str, Any]]] = {}


def _site_distributions(site: str, folder: Path, stamp: int,
                        cache_dir: Path | None) -> dict[str, Any]:
    cache_file = None
    if cache_dir is not None:
        import hashlib

        cache_file = cache_dir / f"site-{hashlib.sha1(site.encode()).hexdigest()[:16]}.json"
        try:
            cached = json.loads(cache_file.read_text())
            if cached.get("stamp") == stamp and cached.get("site") == site:
                return dict(cached["map"])
        except (OSError, ValueError, KeyError):
            pass
    modules: dict[str, str] = {}
    roots: dict[str, str] = {}
    for dist_info in sorted(folder.glob("*.dist-info")):
        stem = dist_info.name.removesuffix(".dist-info")
        name, _, version = stem.partition("-")
        ref = f"{name}=={version}"
        for top in _top_levels(dist_info):
            modules.setdefault(top, ref)
        for root in _editable_roots(folder, dist_info):
            roots[root] = ref
    result = {"modules": modules, "roots": roots}
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_text(json.dumps({"site": site, "stamp": stamp, "map": result}))
        except OSError:
            pass
    return result


def packages_for(modules: Mapping[str, str], processes: Iterable[PythonProcess],
                 cache_dir: Path | None = None) -> list[tuple[str, str]]:
    """The distributions (name, version) providing ``modules`` (name -> file), tracline excluded."""
    sites = sorted({p for proc in processes for p in proc.path if "-packages" in p},
                   key=len, reverse=True)
    maps = {site: site_distributions(site, cache_dir) for site in sites}
    found: set[str] = set()
    for name, where in modules.items():
        if name.startswith("tracline") or name.startswith("_tracline"):
            continue
        ref = None
        for site in sites:
            if where.startswith(site.rstrip("/") + "/"):
                ref = maps[site]["modules"].get(name)
                break
        if ref is None:
            for site in sites:
                ref = next((r for root, r in maps[site]["roots"].items()
                            if where.startswith(root)), None)
                if ref:
                    break
        if ref and not ref.lower().startswith("tracline"):
            found.add(ref)
    return sorted((tuple(r.split("==", 1)) for r in found), key=lambda p: p[0].lower())  # type: ignore[misc]
