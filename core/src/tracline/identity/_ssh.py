"""SSH signatures in the format git uses for signed commits, through ``ssh-keygen -Y``.

``sign`` makes an armored ``SSH SIGNATURE`` over a message with a private key; ``verify``
checks one against an allowed-signers file (``PRINCIPAL namespaces="..." KEYTYPE KEY`` per
line, as git's ``gpg.ssh.allowedSignersFile``) for a given principal and namespace, and
returns the signing key's fingerprint; ``find_principals`` says whom a signature's key
belongs to. Nothing here trusts a database: only the key file and the allowed-signers file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tracline.errors import ConfigError, ValidationError

__all__ = ["NAMESPACE", "find_principals", "generate_key", "principals_of", "public_key", "sign",
           "verify"]

#: The signature namespace of approvals (``ssh-keygen -n``): a signature made for git or for
#: anything else never verifies as an approval.
NAMESPACE = "tracline-approval"
_FINGERPRINT = re.compile(r"key (SHA256:[A-Za-z0-9+/=]+)")
_TIMEOUT = 30


def _ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise ConfigError("ssh-keygen is not installed; signed approvals need it",
                          hint="install OpenSSH's client (Debian: apt-get install "
                          "openssh-client)")
    return found


def _run(args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run([_ssh_keygen(), *args], input=data, capture_output=True,
                              timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ConfigError(f"ssh-keygen failed to run: {e}",
                          hint="check that ssh-keygen works: ssh-keygen -Y sign -h") from e


def sign(key: str | os.PathLike[str], message: bytes, namespace: str = NAMESPACE) -> str:
    """An armored SSH signature of ``message`` with the private key at ``key``."""
    path = Path(key).expanduser()
    if not path.is_file():
        raise ConfigError(f"signing key {path} does not exist",
                          hint="set [signing] key to your private SSH key "
                          "(ssh-keygen -t ed25519 makes one)")
    done = _run(["-Y", "sign", "-q", "-f", str(path), "-n", namespace, "-"], message)
    text = done.stdout.decode(errors="replace")
    if done.returncode != 0 or "BEGIN SSH SIGNATURE" not in text:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise ConfigError(f"cannot sign with {path}: {reason[-1] if reason else 'no output'}",
                          hint="use a key without a passphrase or load it into ssh-agent")
    return text


def _signature_file(folder: str, signature: str) -> str:
    if not isinstance(signature, str) or "BEGIN SSH SIGNATURE" not in signature or (
        len(signature) > 16_384
    ):
        raise ValidationError("signature", "is not an armored SSH signature",
                              hint="make one with: ssh-keygen -Y sign -n " + NAMESPACE)
    path = os.path.join(folder, "approval.sig")
    with open(path, "w", encoding="ascii", errors="replace") as handle:
        handle.write(signature)
    return path


def verify(allowed_signers: str | os.PathLike[str], principal: str, message: bytes,
           signature: str, namespace: str = NAMESPACE) -> str | None:
    """The signing key's fingerprint when ``signature`` is ``principal``'s over ``message``
    per ``allowed_signers``; None when it is not."""
    with tempfile.TemporaryDirectory(prefix="tracline-sig-") as folder:
        try:
            sig = _signature_file(folder, signature)
        except ValidationError:
            return None
        done = _run(["-Y", "verify", "-f", os.fspath(allowed_signers), "-I", principal,
                     "-n", namespace, "-s", sig], message)
    if done.returncode != 0:
        return None
    found = _FINGERPRINT.search(done.stdout.decode(errors="replace"))
    return found.group(1) if found else None


def find_principals(allowed_signers: str | os.PathLike[str], signature: str,
                    namespace: str = NAMESPACE) -> list[str]:
    """The principals ``allowed_signers`` lists for the key that made ``signature``."""
    with tempfile.TemporaryDirectory(prefix="tracline-sig-") as folder:
        sig = _signature_file(folder, signature)
        done = _run(["-Y", "find-principals", "-f", os.fspath(allowed_signers), "-n",
                     namespace, "-s", sig], b"")
    if done.returncode != 0:
        return []
    return [line.strip() for line in done.stdout.decode(errors="replace").splitlines()
            if line.strip()]


def principals_of(allowed_signers: str, key_blob: str) -> list[str]:
    """Every principal an allowed-signers text lists for the public key ``key_blob``
    (the base64 part): ``ssh-keygen -Y find-principals`` names only the first."""
    found: list[str] = []
    for line in allowed_signers.splitlines():
        parts = line.strip().split()
        if not parts or parts[0].startswith("#"):
            continue
        for i, part in enumerate(parts[1:-1], start=1):
            if part.startswith(("ssh-", "ecdsa-", "sk-")) and parts[i + 1] == key_blob:
                found += [p.strip('"') for p in parts[0].split(",")]
                break
    return found


def public_key(key: str | os.PathLike[str]) -> str:
    """The public half (``ssh-ed25519 AAAA...``) of the private key at ``key``."""
    done = _run(["-y", "-f", os.fspath(Path(key).expanduser())], b"")
    if done.returncode != 0:
        raise ConfigError(f"cannot read the SSH key {key}",
                          hint="check the path and that it is a private key without passphrase")
    parts = done.stdout.decode().split()
    return " ".join(parts[:2])


def generate_key(path: str | os.PathLike[str], comment: str) -> None:
    """Make a new ed25519 key pair at ``path`` (private, mode 0600) and ``path``.pub."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    done = _run(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(target)], b"")
    if done.returncode != 0:
        raise ConfigError(f"cannot create the key {target}: "
                          f"{done.stderr.decode(errors='replace').strip()}",
                          hint="check that the folder is writable")
