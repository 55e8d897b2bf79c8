#!/usr/bin/env bash
# Installs the Debian packages tracline's tests and benchmarks use, if missing:
# PostgreSQL (stores, Marquez's database), strace (capture of non-Python children),
# b3sum (independent BLAKE3 check), a C compiler (the capture hook's C part, built when the
# environments are), ssh-keygen (signed approvals), chromium and its driver (browser tests of
# the review page). Idempotent; needs root for apt-get.
set -euo pipefail

want=()
command -v strace >/dev/null || want+=(strace)
command -v b3sum >/dev/null || want+=(b3sum)
command -v cc >/dev/null || want+=(gcc)
command -v ssh-keygen >/dev/null || want+=(openssh-client)
command -v chromium >/dev/null || want+=(chromium)
command -v chromedriver >/dev/null || want+=(chromium-driver)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
((${#want[@]})) || { echo "system-deps: all present"; exit 0; }
if ((EUID != 0)); then
    echo "system-deps: missing ${want[*]}; install them as root: apt-get install ${want[*]}" >&2
    exit 1
fi
echo "system-deps: installing ${want[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null
