package postgres_test

import (
	"testing"

	"github.com/atomicsession/atomicsession/session"
	"github.com/atomicsession/atomicsession/sessiontest"
)

// TestConformance runs the conformance suite; every top-level subtest
// gets a store in a schema of its own, on one pool of 8 connections.
func TestConformance(t *testing.T) {
	pool := newPool(t, 8)
	sessiontest.Run(t, func(t *testing.T) session.Store {
		return newStore(t, pool)
	})
}
