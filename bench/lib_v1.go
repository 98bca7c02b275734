//go:build benchv1

package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/atomicsession/atomicsession/future"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/session"
)

// loadSession returns the request's whole session: the library before the
// Store v2 API (build tag benchv1) has no partial loads.
func loadSession(r *http.Request, _ ...string) *future.Future[*session.Session] {
	return middleware.Session(r)
}

// partialLoads says whether loadSession loads only the keys it is given.
const partialLoads = false

// attachSession is not in the library before the Store v2 API.
func attachSession(*http.Request) (*session.Session, error) {
	return nil, notRun{errNoAttach}
}

// hasAttach says whether the library has attachSession's fast path.
const hasAttach = false

var errNoAttach = errors.New("this build of the library has no middleware.Attach")

// fetchKeys is not in the library before the Store v2 API.
func fetchKeys(*session.Session, []string) func(context.Context) error {
	return func(context.Context) error { return notRun{errNoAttach} }
}
