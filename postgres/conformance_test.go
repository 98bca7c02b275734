package postgres_test

import (
	"testing"

	"github.com/atomicsession/atomicsession/session"
	"github.com/atomicsession/atomicsession/sessiontest"
)

// TestConformance runs the conformance suite; every top-level subtest
// gets a store in a schema of its own, on one pool of 8 connections. The
// Differential subtest runs 3,000 random batches (30 sequences of 100
// steps) against session.ApplyCommands: the store's operators are its
// own, in plpgsql, and this is what keeps them equal to the reference.
func TestConformance(t *testing.T) {
	pool := newPool(t, 8)
	var opts []sessiontest.Option
	if !testing.Short() {
		opts = append(opts, sessiontest.WithDifferential(30, 100))
	}
	sessiontest.Run(t, func(t *testing.T) session.Store {
		return newStore(t, pool)
	}, opts...)
}
