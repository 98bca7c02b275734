package postgres_test

import (
	"testing"

	"github.com/atomicsession/atomicsession/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
