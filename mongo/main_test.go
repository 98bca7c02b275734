package mongo_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/atomicsession/atomicsession/internal/testenv"
)

// TestMain stops the embedded FerretDB (if the tests started one) and then
// checks that no test leaked a goroutine: every client is disconnected and
// every background sweeper stopped.
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
