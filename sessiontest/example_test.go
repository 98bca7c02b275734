package sessiontest_test

import (
	"testing"

	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/session"
	"github.com/atomicsession/atomicsession/sessiontest"
)

// A store's package runs the suite from one of its tests. This one runs it
// on the memory store; replace memory.NewStore with your store.
func ExampleRun() {
	TestConformance := func(t *testing.T) {
		sessiontest.Run(t, func(t *testing.T) session.Store {
			s := memory.NewStore()
			t.Cleanup(func() { s.Close() })
			return s
		},
			// Explain every skipped subtest; the reason shows in the output.
			sessiontest.Skip("Expiry/Lapse", "sleeps; covered by the nightly run"),
			// Smaller sizes for a store that is slow to reach.
			sessiontest.WithConcurrency(8, 25),
			sessiontest.WithUserIndexCrowd(500),
		)
	}
	_ = TestConformance // go test calls it, as a func TestConformance(t *testing.T) in a _test.go file
}
