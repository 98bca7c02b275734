package redis

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/atomicsession/atomicsession/internal/testenv"
)

// TestMain stops the redis-server that testenv may have started, then
// checks that no goroutine outlived the tests (every client is closed).
func TestMain(m *testing.M) {
	code := testenv.Run(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
