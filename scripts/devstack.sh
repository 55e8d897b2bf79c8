#!/usr/bin/env bash
# devstack.sh — a private PostgreSQL and Marquez on loopback, for tracline's tests and local use.
#   install|start|stop [postgres|marquez]   (default: both)
#   status                                  one line each; exits 0 only if both are up
#   env                                     export lines for the tests: eval "$(scripts/devstack.sh env)"
# Settings, ports and file locations: docs/operations/marquez.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

MARQUEZ_VERSION=${TRACLINE_MARQUEZ_VERSION:-0.50.0}
MARQUEZ_MAIN=marquez.MarquezApp
CACHE_DIR=${TRACLINE_CACHE:-$HOME/.cache/tracline}
LIB_DIR=$CACHE_DIR/marquez-$MARQUEZ_VERSION/lib
STATE_DIR=${TRACLINE_STATE:-$REPO_ROOT/.devstack}
PG_PORT=${TRACLINE_PG_PORT:-55432}
MQ_PORT=${TRACLINE_MARQUEZ_PORT:-55000}
MQ_ADMIN_PORT=${TRACLINE_MARQUEZ_ADMIN_PORT:-55001}
START_TIMEOUT=${TRACLINE_MARQUEZ_START_TIMEOUT:-180}
JAVA_OPTS=${TRACLINE_MARQUEZ_JAVA_OPTS:--Xms64m -Xmx1g -XX:+UseSerialGC}

# As root, PostgreSQL runs as the OS user postgres, which may not be able to enter the state
# directory (say, a checkout under /root); its files then go to /var/lib/tracline-devstack/<id>.
PG_HOME=$STATE_DIR
state_parent=$STATE_DIR
[[ -d $state_parent ]] || state_parent=$(dirname "$STATE_DIR")
if ((EUID == 0)) && id -u postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$state_parent" 2>/dev/null; then
    PG_HOME=/var/lib/tracline-devstack/$(printf '%s' "$STATE_DIR" | cksum | cut -d' ' -f1)
fi
PG_DATA=$PG_HOME/pgdata
PG_RUN=$PG_HOME/pgrun
PG_LOG=$PG_HOME/postgres.log
MQ_CONF=$STATE_DIR/marquez.yml
MQ_LOG=$STATE_DIR/marquez.log
MQ_PID=$STATE_DIR/marquez.pid
# Written when Maven cannot fetch Marquez, so that `start` and `env` can say so plainly.
UNAVAILABLE=$CACHE_DIR/marquez-$MARQUEZ_VERSION/UNAVAILABLE

say() { printf 'devstack: %s\n' "$*"; }
die() { printf 'devstack: error: %s\n' "$*" >&2; exit 1; }

# PostgreSQL refuses to run as root: as root, run its tools as the OS user postgres.
if ((EUID == 0)); then PG_SUPER=postgres; else PG_SUPER=$(id -un); fi
as_pg() { if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi; }

# The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/<major>/bin).
pg_bin() {
    local d
    d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)
    [[ -n $d && -x $d/initdb ]] && printf '%s\n' "$d"
}

install_postgres() {
    if pg_bin >/dev/null; then say "postgres: already installed ($(pg_bin))"; return; fi
    ((EUID == 0)) || die "PostgreSQL is missing; install it as root: apt-get install postgresql"
    say "postgres: installing Debian's postgresql package"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    pg_bin >/dev/null || die "postgresql installed, but no /usr/lib/postgresql/*/bin/initdb"
}

install_marquez() {
    if [[ -f $LIB_DIR/.complete ]]; then say "marquez: $MARQUEZ_VERSION already cached in $LIB_DIR"; return; fi
    if ! command -v mvn >/dev/null; then
        # Not fatal: the Marquez tests are then skipped, saying why (see print_env).
        mkdir -p "$(dirname "$UNAVAILABLE")"
        printf 'Maven (mvn) is not on PATH, so Marquez %s cannot be fetched (install maven, or put the jars in %s)\n' \
            "$MARQUEZ_VERSION" "$LIB_DIR" >"$UNAVAILABLE"
        say "marquez: NOT AVAILABLE — $(<"$UNAVAILABLE")"
        return 1
    fi
    local tmp=$LIB_DIR.partial log=$CACHE_DIR/marquez-$MARQUEZ_VERSION/mvn.log
    rm -rf "$tmp" && mkdir -p "$tmp"
    say "marquez: fetching io.github.marquezproject:marquez-api:$MARQUEZ_VERSION and its dependencies"
    # -U: retry artifacts whose earlier "not found" Maven cached in ~/.m2.
    if ! mvn -B -q -U -Dstyle.color=never -f "$SCRIPT_DIR/marquez/pom.xml" -Dmarquez.version="$MARQUEZ_VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$log" 2>&1; then
        rm -rf "$tmp"
        printf 'Maven could not fetch io.github.marquezproject:marquez-api:%s from the configured repository (log: %s)\n' \
            "$MARQUEZ_VERSION" "$log" >"$UNAVAILABLE"
        say "marquez: NOT AVAILABLE — $(<"$UNAVAILABLE")"
        say "marquez: put the jar and its dependencies in $LIB_DIR and touch $LIB_DIR/.complete to use your own copy"
        return 1
    fi
    rm -f "$UNAVAILABLE"
    local jar=$tmp/marquez-api-$MARQUEZ_VERSION.jar
    [[ -f $jar ]] || die "marquez-api-$MARQUEZ_VERSION.jar missing after the Maven run"
    jar_entries "$jar" | grep -qx "${MARQUEZ_MAIN//.//}.class" || die "$MARQUEZ_MAIN not found in $jar"
    rm -rf "$LIB_DIR" && mv "$tmp" "$LIB_DIR" && touch "$LIB_DIR/.complete"
    say "marquez: cached $(find "$LIB_DIR" -name '*.jar' | wc -l) jars in $LIB_DIR"
}

jar_entries() { if command -v unzip >/dev/null; then unzip -Z1 "$1"; else jar tf "$1"; fi; }

pg_up() { [[ -f $PG_DATA/PG_VERSION ]] && as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

psql_admin() {
    as_pg "$(pg_bin)/psql" -h "$PG_RUN" -p "$PG_PORT" -U "$PG_SUPER" -d postgres -X -q -v ON_ERROR_STOP=1
}

start_postgres() {
    local bin
    bin=$(pg_bin) || die "PostgreSQL is not installed; run: $0 install"
    mkdir -p "$STATE_DIR" "$PG_DATA" "$PG_RUN"
    [[ $PG_HOME == "$STATE_DIR" ]] || say "postgres: user postgres cannot enter $STATE_DIR; its files are in $PG_HOME"
    touch "$PG_LOG"
    if ((EUID == 0)); then chown postgres:postgres "$PG_DATA" "$PG_RUN" "$PG_LOG"; fi
    chmod 700 "$PG_DATA"
    as_pg test -w "$PG_DATA" ||
        die "user postgres cannot write $PG_DATA; set TRACLINE_STATE to a directory it can enter"
    if [[ ! -f $PG_DATA/PG_VERSION ]]; then
        say "postgres: initdb in $PG_DATA"
        as_pg "$bin/initdb" -D "$PG_DATA" -U "$PG_SUPER" -E UTF8 --locale=C.UTF-8 \
            --auth-local=peer --auth-host=scram-sha-256 >"$PG_HOME/initdb.log" 2>&1 ||
            { cat "$PG_HOME/initdb.log" >&2; die "initdb failed"; }
        printf "\ninclude_if_exists = 'devstack.conf'\n" >>"$PG_DATA/postgresql.conf"
    fi
    # Rewritten on every start so that port changes apply to an existing cluster.
    cat >"$PG_DATA/devstack.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_RUN'
password_encryption = 'scram-sha-256'
synchronous_commit = off
EOF
    if pg_up; then
        say "postgres: already running on 127.0.0.1:$PG_PORT"
    else
        say "postgres: starting on 127.0.0.1:$PG_PORT"
        as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null ||
            { tail -n 40 "$PG_LOG" >&2; die "PostgreSQL did not start"; }
    fi
    # Idempotent: create what is missing, (re)set the passwords. Each database is owned by its
    # role, which PostgreSQL 15 needs for CREATE in schema public (see the doc).
    psql_admin <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', r) FROM unnest(ARRAY['marquez', 'tracline']) AS r
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE marquez PASSWORD 'marquez';
ALTER ROLE tracline PASSWORD 'tracline';
SELECT format('CREATE DATABASE %I OWNER %I', d, o)
  FROM (VALUES ('marquez', 'marquez'), ('tracline_test', 'tracline')) AS v(d, o)
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d) \gexec
SQL
    say "postgres: databases marquez and tracline_test ready"
}

stop_postgres() {
    pg_up || { say "postgres: not running"; return; }
    as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
    say "postgres: stopped"
}

# The pid from the pid file, if that process is alive and is Marquez (not a reused pid).
marquez_pid() {
    local pid
    [[ -f $MQ_PID ]] && pid=$(<"$MQ_PID") && [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null && grep -qa "$MARQUEZ_MAIN" "/proc/$pid/cmdline" 2>/dev/null || return 1
    printf '%s\n' "$pid"
}
marquez_healthy() { curl -fsS -m 3 -o /dev/null "http://127.0.0.1:$MQ_ADMIN_PORT/healthcheck" 2>/dev/null; }

write_marquez_conf() {
    cat >"$MQ_CONF" <<EOF
# Generated by scripts/devstack.sh on every start; edits are lost.
server:
  applicationConnectors:
    - type: http
      bindHost: 127.0.0.1
      port: $MQ_PORT
  adminConnectors:
    - type: http
      bindHost: 127.0.0.1
      port: $MQ_ADMIN_PORT
db:
  driverClass: org.postgresql.Driver
  url: jdbc:postgresql://127.0.0.1:$PG_PORT/marquez
  user: marquez
  password: marquez
migrateOnStartup: true
search:
  enabled: false
logging:
  level: INFO
  appenders:
    - type: console
EOF
}

# The last 40 lines that the latest start wrote to Marquez's log.
last_run_log() { awk '/^=== devstack start /{n=0} {buf[n++]=$0} END{for(i=(n>40?n-40:0);i<n;i++)print buf[i]}' "$MQ_LOG"; }

start_marquez() {
    [[ -f $LIB_DIR/.complete ]] || die "Marquez $MARQUEZ_VERSION is not installed; run: $0 install"
    pg_up || die "PostgreSQL is not running; run: $0 start"
    local pid
    if pid=$(marquez_pid); then
        say "marquez: already running (pid $pid)"
    else
        marquez_healthy && die "something else answers on 127.0.0.1:$MQ_ADMIN_PORT; stop it or set TRACLINE_MARQUEZ_ADMIN_PORT"
        command -v java >/dev/null || die "java not found (Marquez needs Java 17)"
        write_marquez_conf
        local -a jopts
        read -r -a jopts <<<"$JAVA_OPTS"
        printf '=== devstack start %s ===\n' "$(date -u +%FT%TZ)" >>"$MQ_LOG"
        say "marquez: starting on http://127.0.0.1:$MQ_PORT (admin $MQ_ADMIN_PORT), log $MQ_LOG"
        # setsid: own session, so a test runner's Ctrl-C or process-group kill leaves it alone.
        nohup setsid java "${jopts[@]}" -cp "$LIB_DIR/*" "$MARQUEZ_MAIN" server "$MQ_CONF" \
            >>"$MQ_LOG" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$MQ_PID"
    fi
    local waited=0
    until marquez_healthy; do
        if ! kill -0 "$pid" 2>/dev/null; then
            last_run_log >&2
            rm -f "$MQ_PID"
            die "Marquez exited during startup after ${waited}s (log: $MQ_LOG)"
        elif ((waited >= START_TIMEOUT)); then
            last_run_log >&2
            stop_marquez >/dev/null
            die "Marquez did not become healthy within ${START_TIMEOUT}s (log: $MQ_LOG)"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    say "marquez: healthy after ${waited}s (pid $pid)"
}

stop_marquez() {
    local pid i
    pid=$(marquez_pid) || { rm -f "$MQ_PID"; say "marquez: not running"; return; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "marquez: still running after 10s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$MQ_PID"
    say "marquez: stopped"
}

status() {
    local rc=0 pid
    if pg_up; then say "postgres: up   127.0.0.1:$PG_PORT (data $PG_DATA)"; else say "postgres: down"; rc=1; fi
    if pid=$(marquez_pid) && marquez_healthy; then
        say "marquez:  up   http://127.0.0.1:$MQ_PORT (pid $pid)"
    elif [[ -n ${pid:-} ]]; then
        say "marquez:  starting or unhealthy (pid $pid, log $MQ_LOG)"; rc=1
    else
        say "marquez:  down"; rc=1
    fi
    return "$rc"
}

print_env() {
    if [[ -f $LIB_DIR/.complete ]] && ! command -v java >/dev/null && ! marquez_healthy; then
        printf 'export TRACLINE_TEST_MARQUEZ_UNAVAILABLE=%q\n' \
            "java is not on PATH, so Marquez $MARQUEZ_VERSION cannot run (install Java 17)"
    elif [[ -f $LIB_DIR/.complete ]]; then
        printf 'export TRACLINE_TEST_MARQUEZ_URL=http://127.0.0.1:%s\n' "$MQ_PORT"
        printf 'export TRACLINE_TEST_MARQUEZ_ADMIN_URL=http://127.0.0.1:%s\n' "$MQ_ADMIN_PORT"
    else
        printf 'export TRACLINE_TEST_MARQUEZ_UNAVAILABLE=%q\n' \
            "$(cat "$UNAVAILABLE" 2>/dev/null || echo "Marquez $MARQUEZ_VERSION is not installed (scripts/devstack.sh install marquez)")"
    fi
    printf 'export TRACLINE_TEST_PG_URL=postgresql://tracline:tracline@127.0.0.1:%s/tracline_test\n' "$PG_PORT"
}

usage() { die "usage: $0 install|start|stop [postgres|marquez] | status | env"; }

verb=${1:-}
what=${2:-all}
[[ $what == all || $what == postgres || $what == marquez ]] || usage
case $verb in
    install)
        [[ $what == marquez ]] || install_postgres
        # Installing both: a Marquez that cannot be fetched is reported, not fatal.
        if [[ $what != postgres ]]; then install_marquez || [[ $what == all ]]; fi ;;
    start)
        [[ $what == marquez ]] || start_postgres
        if [[ $what == all && ! -f $LIB_DIR/.complete ]]; then
            say "marquez: not installed, not started${UNAVAILABLE:+ ($(cat "$UNAVAILABLE" 2>/dev/null || echo "run: $0 install"))}"
        elif [[ $what == all ]] && ! command -v java >/dev/null; then
            say "marquez: not started: java is not on PATH (Marquez needs Java 17)"
        elif [[ $what != postgres ]]; then
            start_marquez
        fi ;;
    stop)
        [[ $what == postgres ]] || stop_marquez
        [[ $what == marquez ]] || stop_postgres ;;
    status) status ;;
    env) print_env ;;
    *) usage ;;
esac
