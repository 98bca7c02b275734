package mongo_test

import (
	"testing"

	"github.com/atomicsession/atomicsession/internal/testenv"
)

// TestMain stops the servers testenv may have started, then checks that
// no goroutine outlived the tests: every client closed, every sweeper
// stopped.
func TestMain(m *testing.M) {
	testenv.Main(m)
}
