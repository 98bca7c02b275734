#!/usr/bin/env bash
# Runs every check and test of every module in this repository: gofmt,
# go vet, staticcheck and go test (-race for the library and the example).
# This is the README's test command and what CI runs.
#
# The store tests start the servers they need themselves, on free loopback
# ports, unless told where one runs: the MongoDB store's tests use
# $MONGODB_URI or start an embedded MongoDB-wire server (FerretDB); the
# Redis store's tests use $REDIS_URL or start redis-server children (a
# single server and a three-node cluster); the PostgreSQL store's tests use
# $POSTGRES_URL or start Debian's PostgreSQL; the browser test needs Debian's
# chromium. Without redis-server, PostgreSQL or chromium those tests skip,
# except under CI=true, where they fail.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

# staticcheck, built once from the module proxy at a pinned version and
# kept in the user's cache directory between runs.
STATICCHECK_VERSION=v0.8.2
staticcheck_dir="${XDG_CACHE_HOME:-$HOME/.cache}/atomicsession/staticcheck-$STATICCHECK_VERSION"
if [ ! -x "$staticcheck_dir/staticcheck" ]; then
	echo "== building staticcheck $STATICCHECK_VERSION"
	GOBIN="$staticcheck_dir" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
staticcheck="$staticcheck_dir/staticcheck"

# The library and the example run under the race detector. The dev-only
# modules (the embedded FerretDB, the benchmarks) run without it: compiling
# FerretDB and SQLite with -race alone takes minutes and tests none of our
# concurrency.
run() {
	local mod=$1
	shift
	[ -f "$mod/go.mod" ] || return 0
	local start=$SECONDS
	echo "== $mod"
	(cd "$mod" && go vet ./... && "$staticcheck" ./... && go test -count=1 -timeout 20m "$@" ./...)
	echo "== $mod took $((SECONDS - start)) s"
}
run . -race
run examples/koa-style -race
run devtools
run bench
