#!/usr/bin/env bash
# Runs every check and test of every module in this repository: gofmt, go vet
# and go test -race. This is the README's test command and what CI runs.
#
# The MongoDB store's tests use $MONGODB_URI when it is set and otherwise start
# an embedded MongoDB-wire server (FerretDB) themselves; the Redis store's
# tests use $REDIS_URL or start a redis-server child; the browser test needs
# Debian's chromium. Without redis-server or chromium those tests skip, except
# under CI=true, where they fail.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

# The library and the example run under the race detector. The dev-only
# modules (the embedded FerretDB, the benchmarks) run without it: compiling
# FerretDB and SQLite with -race alone takes minutes and tests none of our
# concurrency.
run() {
	local mod=$1
	shift
	[ -f "$mod/go.mod" ] || return 0
	echo "== $mod"
	(cd "$mod" && go vet ./... && go test -count=1 -timeout 20m "$@" ./...)
}
run . -race
run examples/koa-style -race
run devtools
run bench
