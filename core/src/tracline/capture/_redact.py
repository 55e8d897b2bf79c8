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


#: Programs whose ``-p`` gives a password (``sshpass -p pw``, ``mysql -ppw``, ``7z -ppw``).
_PASSWORD_P = frozenset({
    "sshpass", "mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlcheck", "mysqlshow",
    "mysqlbinlog", "mysqlpump", "mariadb", "mariadb-dump", "mariadb-admin", "mongo", "mongosh",
    "mongodump", "mongorestore", "mongoexport", "mongoimport", "7z", "7za", "7zr", "rar",
    "unrar", "zip", "unzip",
})
#: Programs whose ``-p`` is a flag without a value (``mkdir -p out``, ``cp -p a b``).
_FLAG_P = frozenset({
    "mkdir", "cp", "install", "rsync", "tar", "scp", "ls", "git", "diff", "patch", "read",
    "nice", "pgrep", "pkill", "ps", "lsof", "strace", "xargs", "sort", "uniq", "touch", "du",
})
#: Options whose value is ``user:password`` (curl, wget, httpie, proxies).
_USER_OPTIONS = frozenset({"-u", "--user", "-U", "--proxy-user", "--auth", "-a"})
#: Options whose value is an HTTP header (curl, wget, httpie).
_HEADER_OPTIONS = frozenset({"-H", "--header", "--proxy-header"})
_HEADER = re.compile(r"^(?P<name>[A-Za-z0-9_-]+)\s*:\s*(?P<value>\S.*)$", re.DOTALL)
#: A value of a generic ``-p`` kept as it is: a number (port, probability) or a range.
_PLAIN_P = re.compile(r"^[0-9.:,/-]+$")


def _program(arg: str) -> str:
    return arg.rsplit("/", 1)[-1]


def _hide_p_value(value: str, program: str) -> bool:
    """Whether the value after ``-p`` is a password: always for the programs that take one
    that way; for any other, unless it is a number or a path that exists (``mkdir -p out``)."""
    if program in _PASSWORD_P:
        return True
    if program in _FLAG_P:
        return False
    import os

    return not _PLAIN_P.match(value) and not os.path.exists(value)


def _header(value: str) -> str | None:
    """``Name: ***`` for a header whose name says it carries a secret (None: keep it)."""
    match = _HEADER.match(value.strip())
    if match and is_secret_name(match.group("name")):
        return f"{match.group('name')}: {REDACTED}"
    return None


def _user(value: str) -> str:
    """``user:***`` for a ``user:password`` value."""
    user, colon, _password = value.partition(":")
    return f"{user}:{REDACTED}" if colon else value


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line with secrets replaced: by option name (``--password x``, ``-p x`` where
    it means a password, ``-ppw`` for mysql-like programs), by assignment, by shape
    (``user:pw`` of ``-u``, a secret HTTP header of ``-H``), by credential pattern."""
    out: list[str] = []
    hide_next: str | None = None  # what the next argument is: "secret", "p", "user", "header"
    program = _program(argv[0]) if argv else ""
    for arg in argv:
        if hide_next is not None:
            kind, hide_next = hide_next, None
            if kind == "header" and (hidden := _header(arg)) is not None:
                out.append(hidden)
                continue
            if kind == "user":
                out.append(_redact_inline(_user(arg)))
                continue
            if (kind == "secret" and (not arg.startswith("-") or arg == "-")) or \
                    (kind == "p" and not arg.startswith("-") and _hide_p_value(arg, program)):
                out.append(REDACTED)
                continue
        if not arg.startswith("-") and _program(arg) in _PASSWORD_P | _FLAG_P:
            program = _program(arg)
        if arg.startswith("-") and len(arg) > 1:
            name, eq, value = arg.partition("=")
            if is_secret_name(name) and not name.startswith("---"):
                if eq:
                    out.append(f"{name}={REDACTED}")
                else:
                    out.append(arg)
                    hide_next = "secret"
                continue
            if arg == "-p":
                out.append(arg)
                hide_next = "p"
                continue
            if arg.startswith("-p") and not arg.startswith("--") and program in _PASSWORD_P:
                out.append(f"-p{REDACTED}")
                continue
            if name in _USER_OPTIONS:
                out.append(f"{name}={_user(value)}" if eq else arg)
                hide_next = None if eq else "user"
                continue
            if arg.startswith("-u") and not arg.startswith("--") and ":" in arg:
                out.append("-u" + _user(arg[2:]))
                continue
            if name in _HEADER_OPTIONS:
                hidden = _header(value) if eq else None
                out.append(f"{name}={hidden}" if hidden else arg)
                hide_next = None if eq else "header"
                continue
            if arg.startswith("-H") and not arg.startswith("--") and len(arg) > 2:
                hidden = _header(arg[2:])
                out.append(f"-H{hidden}" if hidden else arg)
                continue
        match = None if any(c.isspace() for c in arg) else _ASSIGNMENT.match(arg)
        if match and is_secret_name(match.group("name")):
            out.append(f"{match.group('name')}={REDACTED}")
            continue
        out.append(_redact_inline(arg))
    return out


def _redact_inline(arg: str) -> str:
    """Redact ``NAME=secret``, ``--password x`` and every form :func:`redact_argv` knows inside
    one argument that holds a command line (``bash -c '...'``, ``ssh host '...'``)."""
    text = redact_text(arg)
    if " " not in text and "=" not in text:
        return text
    text = re.sub(
        r"(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)=(?P<value>'[^']*'|\"[^\"]*\"|\S+)",
        lambda m: f"{m.group('name')}={REDACTED}" if is_secret_name(m.group("name"))
        else m.group(0),
        text,
    )
    text = re.sub(
        r"(?P<flag>--?[A-Za-z][A-Za-z0-9_-]*)(?P<sep>\s+)(?P<value>'[^']*'|\"[^\"]*\"|[^\s-]\S*)",
        lambda m: f"{m.group('flag')}{m.group('sep')}{REDACTED}" if is_secret_name(m.group("flag"))
        else m.group(0),
        text,
    )
    if " " not in text:
        return text
    import shlex

    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    for before, after in zip(words, redact_argv(words), strict=True):
        if before != after:
            text = _replace_word(text, before, after)
    return text


def _replace_word(text: str, before: str, after: str) -> str:
    """``text`` with the word ``before`` (bare or quoted, as shlex read it) become ``after``."""
    for quoted in (f"'{before}'", f'"{before}"', before):
        pattern = r"(?<![^\s'\"=])" + re.escape(quoted) + r"(?![^\s'\";|&)])"
        # backslashes doubled: the replacement is literal text, not a template
        replacement = quoted.replace(before, after).replace("\\", "\\\\")
        replaced, count = re.subn(pattern, replacement, text)
        if count:
            return replaced
    return text.replace(before, after)


def _allow_matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """A test of a name against globs: plain names and ``PREFIX*`` globs (all of the default
    allow list) without a regex (compiling one for ~50 globs would cost each run)."""
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
