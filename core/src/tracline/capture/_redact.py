"""Keep secrets out of lineage: redaction of command lines, environments and free text.

Three rules, applied everywhere a recipe is recorded:

* a value whose *name* says it is secret (``--password x``, ``--token=x``,
  ``AWS_SECRET_ACCESS_KEY=...``, an environment variable ``*_TOKEN``) is replaced;
* a value that *looks* like a credential (AWS access key ids, GitHub, OpenAI, Slack,
  Hugging Face and Google API tokens, JWTs, private keys, ``Bearer`` headers) is replaced
  wherever it appears;
* a URL keeps its user name but loses its password (``https://me:***@host``).

Only allow-listed environment variables are recorded at all (``[capture] env`` adds names).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = ["REDACTED", "is_secret_name", "redact_argv", "redact_env", "redact_text"]

REDACTED = "***"

_SECRET_NAME = re.compile(
    r"(password|passwd|passphrase|(^|[-_.])(pass|pwd|pw|dsn|auth)$|secret|token$|(^|[-_.])token[-_.]"
    r"|api[-_]?key|access[-_]?key|private[-_]?key|(^|[-_.])key$|credential|cookie|session[-_]?key"
    r"|signature|authorization|auth[-_]?token|conn(ection)?[-_]?str(ing)?)",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"(?<![A-Za-z0-9])("
    r"(AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}"  # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|sk-(proj-|ant-)?[A-Za-z0-9_-]{16,}"  # OpenAI, Anthropic
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|hf_[A-Za-z0-9]{20,}"  # Hugging Face
    r"|AIza[0-9A-Za-z_-]{30,}"  # Google API keys
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWT
    r")"
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL
)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):(?P<pw>[^/\s@]+)@")
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}")
_GLOB_CHARS = frozenset("*?[")
_ASSIGNMENT = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)=(?P<value>.*)$", re.DOTALL)

#: Environment variables recorded by default (globs); everything else is never recorded.
ENV_ALLOW = (
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "CUDA_LAUNCH_BLOCKING", "CUBLAS_WORKSPACE_CONFIG",
    "NVIDIA_VISIBLE_DEVICES", "NCCL_*", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "TOKENIZERS_PARALLELISM", "PYTHONHASHSEED",
    "PYTHONOPTIMIZE", "PYTHONUTF8", "SEED", "RANDOM_SEED", "RANK", "LOCAL_RANK", "WORLD_SIZE",
    "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCH_*", "TF_CPP_MIN_LOG_LEVEL",
    "TF_DETERMINISTIC_OPS",
    "TF_ENABLE_ONEDNN_OPTS", "TF_FORCE_GPU_ALLOW_GROWTH", "TF_XLA_FLAGS", "XLA_*", "JAX_*",
    "HF_*", "TRANSFORMERS_*", "WANDB_PROJECT", "WANDB_MODE", "MLFLOW_EXPERIMENT_NAME", "LANG",
    "LC_ALL", "TZ", "VIRTUAL_ENV", "CONDA_DEFAULT_ENV", "SLURM_JOB_ID", "SLURM_JOB_NAME",
)


def is_secret_name(name: str) -> bool:
    """True when a variable or option name says its value is secret."""
    return bool(_SECRET_NAME.search(name.strip("-")))


def redact_text(text: str) -> str:
    """Replace credential-shaped substrings and URL passwords in free text."""
    if not text:
        return text
    text = _PRIVATE_KEY.sub(REDACTED, text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:{REDACTED}@", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _SECRET_VALUE.sub(REDACTED, text)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line with secrets replaced: by option name, by assignment, by shape."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            hide_next = False
            if not arg.startswith("-") or arg == "-":
                out.append(REDACTED)
                continue
        if arg.startswith("-") and len(arg) > 1:
            name, eq, _value = arg.partition("=")
            if is_secret_name(name) and not name.startswith("---"):
                if eq:
                    out.append(f"{name}={REDACTED}")
                else:
                    out.append(arg)
                    hide_next = True
                continue
        match = None if any(c.isspace() for c in arg) else _ASSIGNMENT.match(arg)
        if match and is_secret_name(match.group("name")):
            out.append(f"{match.group('name')}={REDACTED}")
            continue
        out.append(_redact_inline(arg))
    return out


def _redact_inline(arg: str) -> str:
    """Redact ``NAME=secret`` and ``--password x`` inside one argument (``bash -c '...'``)."""
    text = redact_text(arg)
    if " " not in text and "=" not in text:
        return text
    text = re.sub(
        r"(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)=(?P<value>'[^']*'|\"[^\"]*\"|\S+)",
        lambda m: f"{m.group('name')}={REDACTED}" if is_secret_name(m.group("name"))
        else m.group(0),
        text,
    )
    return re.sub(
        r"(?P<flag>--?[A-Za-z][A-Za-z0-9_-]*)(?P<sep>\s+)(?P<value>'[^']*'|\"[^\"]*\"|[^\s-]\S*)",
        lambda m: f"{m.group('flag')}{m.group('sep')}{REDACTED}" if is_secret_name(m.group("flag"))
        else m.group(0),
        text,
    )


def _allow_matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """A test of a name against globs: plain names and ``PREFIX*`` globs (all of the default
    allow list) without a regex, as compiling one for ~50 globs costs each run ~3 ms."""
    exact: set[str] = set()
    prefixes: list[str] = []
    others: list[str] = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            others.append(pattern)
        elif not _GLOB_CHARS.intersection(pattern):
            exact.add(pattern)
        elif pattern.endswith("*") and not _GLOB_CHARS.intersection(pattern[:-1]):
            prefixes.append(pattern[:-1])
        else:
            others.append(pattern)
    starts = tuple(prefixes)
    regex = re.compile("|".join(fnmatch.translate(p) for p in others)) if others else None

    def allowed(name: str) -> bool:
        return name in exact or name.startswith(starts) or bool(regex and regex.match(name))

    return allowed


def redact_env(environ: Mapping[str, str], allow: Iterable[str] = ()) -> dict[str, str]:
    """The allow-listed part of an environment, secret values replaced."""
    allowed = _allow_matcher([*ENV_ALLOW, *allow])
    out: dict[str, str] = {}
    for name in sorted(environ):
        if not allowed(name):
            continue
        value = environ[name]
        out[name] = REDACTED if is_secret_name(name) else redact_text(value)
    return out
