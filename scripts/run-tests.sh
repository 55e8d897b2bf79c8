#!/usr/bin/env bash
# Runs every package's tests in its own virtual environment, with the services they need
# (PostgreSQL, and Marquez where it can be had) started here and stopped afterwards.
# Fails if any suite fails or collects no test. Called by `make test`.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/devstack.sh install || exit 1
was_running=0
scripts/devstack.sh status >/dev/null 2>&1 && was_running=1
scripts/devstack.sh start || exit 1
[[ $was_running == 1 ]] || trap 'scripts/devstack.sh stop >/dev/null 2>&1 || true' EXIT
eval "$(scripts/devstack.sh env)"

declare -a names results
suite() {
    local name=$1 rc
    shift
    printf '\n===== %s =====\n' "$name"
    "$@"
    rc=$?
    # pytest exits 5 when it collected no test: that is a failure here, not a pass.
    ((rc == 5)) && echo "run-tests: $name collected no tests"
    names+=("$name")
    results+=("$rc")
}

suite lint make --no-print-directory lint
suite core .venv/core/bin/pytest core/tests tests
for part in airflow prefect dagster; do
    suite "$part" ".venv/$part/bin/pytest" "integrations/$part/tests"
done

printf '\n===== summary =====\n'
failed=0
for i in "${!names[@]}"; do
    if [[ ${results[$i]} == 0 ]]; then status=ok; else status="FAILED (exit ${results[$i]})"; failed=1; fi
    printf '%-10s %s\n' "${names[$i]}" "$status"
done
exit "$failed"
