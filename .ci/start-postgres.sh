#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests (CI and development).
#
#   eval "$(.ci/start-postgres.sh start)"   # installs (apt) if needed, starts, prints exports
#   .ci/start-postgres.sh stop "$JURA_TRUST_PG_DIR"
#
# `start` prints `export JURA_TRUST_TEST_PG=postgresql://jura@127.0.0.1:PORT/jura` and
# `export JURA_TRUST_PG_DIR=...` on stdout (everything else goes to stderr). The cluster
# lives in a temporary directory, listens on a free port of 127.0.0.1 only, trusts local
# connections, and runs as a non-root user (`postgres` when started as root).
set -euo pipefail

log() { echo "start-postgres: $*" >&2; }

pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
    command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)" && return
    return 1
}

as_owner() {
    # run "$@" as the cluster's owner (never root: PostgreSQL refuses to run as root)
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
    local bin dir port
    if ! bin=$(pg_bin); then
        log "installing PostgreSQL from Debian's packages"
        apt-cache policy postgresql >&2 || true
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
        bin=$(pg_bin)
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    fi
    dir=$(mktemp -d "${TMPDIR:-/tmp}/jura-trust-pg.XXXXXX")
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/initdb" -D "$dir/data" -U jura -A trust -E UTF8 --locale=C >/dev/null
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c synchronous_commit=on -c max_connections=200" \
        start >&2
    for _ in $(seq 1 60); do
        if as_owner "$bin/pg_isready" -h 127.0.0.1 -p "$port" -q; then break; fi
        sleep 0.5
    done
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U jura jura
    log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir)"
    echo "export JURA_TRUST_TEST_PG=postgresql://jura@127.0.0.1:$port/jura"
    echo "export JURA_TRUST_PG_DIR=$dir"
}

stop() {
    local dir=${1:?usage: start-postgres.sh stop DIR} bin
    bin=$(pg_bin)
    if [ -d "$dir/data" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || true
    fi
    rm -rf "$dir"
}

case "${1:-start}" in
    start) start ;;
    stop) shift; stop "$@" ;;
    *) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
