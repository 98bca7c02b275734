package memory_test

import (
	"testing"

	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/session"
	"github.com/atomicsession/atomicsession/sessiontest"
)

func TestConformance(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store {
		s := memory.NewStore()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestConformanceWithoutSweep runs the suite with the background sweep
// off, so expired sessions stay in memory and only the checks on every
// call keep them from being served.
func TestConformanceWithoutSweep(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store {
		return memory.NewStore(memory.WithSweepInterval(0))
	}, sessiontest.Skip("Concurrency", "run once, in TestConformance"),
		sessiontest.Skip("Differential", "run once, in TestConformance"))
}
