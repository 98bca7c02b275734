//go:build !benchv1

package main

import (
	"net/http"

	"github.com/atomicsession/atomicsession/future"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/session"
)

// loadSession returns the request's session with only keys loaded (all of
// them when there are none): the partial load of the Store v2 API.
func loadSession(r *http.Request, keys ...string) *future.Future[*session.Session] {
	return middleware.Session(r, keys...)
}

// partialLoads says whether loadSession loads only the keys it is given.
const partialLoads = true
