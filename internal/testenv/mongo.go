package testenv

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// MongoURIEnv is the environment variable that names the MongoDB server the
// tests use, such as "mongodb://127.0.0.1:27017/".
const MongoURIEnv = "MONGODB_URI"

// FerretDBVersion is the version of FerretDB that the embedded development
// server (devtools/cmd/mongodev) runs.
const FerretDBVersion = "v1.24.0"

// mongodev is the embedded server of this test binary, started once.
var mongodev struct {
	once sync.Once
	uri  string
	err  error
}

// MongoURI returns the URI of a MongoDB-wire server for tests, and whether
// it is the embedded FerretDB.
//
// If MONGODB_URI is set then MongoURI returns it and ferret is false. Else
// it builds devtools/cmd/mongodev into the user's cache directory (the first
// build takes about two minutes, later ones seconds), starts it once per
// test binary, logs that the tests run against the embedded FerretDB, and
// returns its URI with ferret true. The server stops at Cleanup (see Main).
// If the server cannot be built or started then MongoURI fails tb with the
// build's output.
func MongoURI(tb testing.TB) (uri string, ferret bool) {
	tb.Helper()
	if uri := os.Getenv(MongoURIEnv); uri != "" {
		return uri, false
	}
	mongodev.once.Do(func() {
		mongodev.uri, mongodev.err = startMongodev()
	})
	if mongodev.err != nil {
		tb.Fatalf("%s not set, and the embedded FerretDB did not start: %v", MongoURIEnv, mongodev.err)
	}
	tb.Logf("%s not set: testing against embedded FerretDB %s at %s", MongoURIEnv, FerretDBVersion, mongodev.uri)
	return mongodev.uri, true
}

func startMongodev() (string, error) {
	bin, err := buildTool("devtools", "./cmd/mongodev", "mongodev")
	if err != nil {
		return "", err
	}
	uri, err := startChild("mongodev", bin, []string{"-addr", "127.0.0.1:0"}, MongoURIEnv)
	if err != nil {
		return "", fmt.Errorf("%s: %w", bin, err)
	}
	return uri, nil
}

// SkipIfFerret skips tb with reason if ferret is true (the server is the
// embedded FerretDB, see MongoURI), saying that the test needs a real
// MongoDB and how to give it one.
func SkipIfFerret(tb testing.TB, ferret bool, reason string) {
	tb.Helper()
	if ferret {
		tb.Skipf("FerretDB %s: %s; set %s to a real MongoDB to run this test", FerretDBVersion, reason, MongoURIEnv)
	}
}
