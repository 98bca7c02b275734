package main

import (
	"context"
	"testing"

	"github.com/atomicsession/atomicsession/devtools/ferretdb"
)

// startFerretDB starts an embedded FerretDB in a temporary directory for
// the test and returns its URI; it stops at the end of the test.
func startFerretDB(t *testing.T) string {
	t.Helper()
	srv, err := ferretdb.Start(context.Background(), ferretdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("start FerretDB: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("stop FerretDB: %v", err)
		}
	})
	return srv.URI()
}
