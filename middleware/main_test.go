package middleware_test

import (
	"testing"

	"github.com/atomicsession/atomicsession/internal/testenv"
)

// TestMain checks that no goroutine outlived the tests.
func TestMain(m *testing.M) {
	testenv.Main(m)
}
