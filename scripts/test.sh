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

for mod in . devtools examples/koa-style bench; do
	[ -f "$mod/go.mod" ] || continue
	echo "== $mod"
	(cd "$mod" && go vet ./... && go test -race -count=1 -timeout 20m ./...)
done
