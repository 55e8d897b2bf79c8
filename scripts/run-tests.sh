#!/usr/bin/env bash
# Runs every package's tests in its own virtual environment, with the services they need
# (PostgreSQL, and Marquez where it can be had) started here and stopped afterwards.
# Fails if any suite fails or collects no test. Called by `make test`.
#
# After lint, core's suite and the integrations' suites (one after another) run side by side
# in two lanes: a suite mostly runs one process at a time, so a second lane puts a 2-core
# machine's other core to work. Each suite's output is printed whole when it ends.
# TRACLINE_TEST_LANES=1 runs every suite one after another instead.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/devstack.sh install || exit 1
was_running=0
scripts/devstack.sh status >/dev/null 2>&1 && was_running=1
scripts/devstack.sh start || exit 1
eval "$(scripts/devstack.sh env)"

logs=$(mktemp -d)
cleanup() {
    local lanes
    lanes=$(jobs -p)
    [[ -n $lanes ]] && kill $lanes 2>/dev/null
    rm -rf "$logs"
    [[ $was_running == 1 ]] || scripts/devstack.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Runs one suite; its output goes to $logs/NAME.log, printed in one block when it ends (a lock
# keeps two lanes' blocks apart), and its exit status to $logs/NAME.rc.
suite() {
    local name=$1 rc start
    shift
    start=$SECONDS
    "$@" >"$logs/$name.log" 2>&1 </dev/null
    rc=$?
    # pytest exits 5 when it collected no test: that is a failure here, not a pass.
    ((rc == 5)) && echo "run-tests: $name collected no tests" >>"$logs/$name.log"
    echo "$rc" >"$logs/$name.rc"
    {
        flock 9
        printf '\n===== %s (%d s) =====\n' "$name" $((SECONDS - start))
        cat "$logs/$name.log"
    } 9>"$logs/print.lock"
}

integrations() {
    for part in airflow prefect dagster; do
        suite "$part" ".venv/$part/bin/pytest" "integrations/$part/tests"
    done
}

suite lint make --no-print-directory lint
if [[ ${TRACLINE_TEST_LANES:-2} == 1 ]]; then
    suite core .venv/core/bin/pytest core/tests tests
    integrations
else
    echo "run-tests: core and the integrations run side by side; each suite prints when it ends"
    suite core .venv/core/bin/pytest core/tests tests &
    core_lane=$!
    integrations
    wait "$core_lane"
fi

printf '\n===== summary =====\n'
failed=0
for name in lint core airflow prefect dagster; do
    rc=$(cat "$logs/$name.rc" 2>/dev/null || echo missing)
    if [[ $rc == 0 ]]; then status=ok; else status="FAILED (exit $rc)"; failed=1; fi
    printf '%-10s %s\n' "$name" "$status"
done
exit "$failed"
