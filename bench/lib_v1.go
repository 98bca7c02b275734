//go:build benchv1

package main

import (
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
