package main

import (
	"context"
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

// attachSession returns the request's session without reading the store
// (middleware.Attach): a Fetch queued with commands joins their batch.
func attachSession(r *http.Request) (*session.Session, error) {
	return middleware.Attach(r)
}

// hasAttach says whether the library has attachSession's fast path.
const hasAttach = true

// fetchKeys queues a Fetch of keys on s and returns the wait for it.
func fetchKeys(s *session.Session, keys []string) func(context.Context) error {
	fetched := s.Fetch(keys...)
	return func(ctx context.Context) error {
		_, err := fetched.Await(ctx)
		return err
	}
}
