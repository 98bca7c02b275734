package mongo_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/atomicsession/atomicsession/internal/faultapp"
	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/mongo"
)

// TestOutageFerretDB kills the embedded FerretDB under load from 8 clients
// and starts it again on the same port with the same files: 503 while it is
// down, served again after, nothing acknowledged lost (testenv.Outage
// checks it all).
func TestOutageFerretDB(t *testing.T) {
	if testing.Short() {
		t.Skip("an outage under load takes seconds")
	}
	if os.Getenv(testenv.MongoURIEnv) != "" {
		t.Logf("%s is set, but this test stops and starts a server: it runs an embedded FerretDB of its own", testenv.MongoURIEnv)
	}
	srv := testenv.RestartableFerret(t)
	client, err := driver.Connect(options.Client().ApplyURI(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	store := mongo.NewStore(client.Database("faults").Collection(strings.ReplaceAll(t.Name(), "/", "_")))
	t.Cleanup(func() { _ = store.Close() })
	const timeout, slack = time.Second, 500 * time.Millisecond
	testenv.Outage(t, faultapp.App(t, store, middleware.Options{Timeout: timeout}), testenv.OutageOptions{
		Timeout:     timeout,
		Slack:       slack,
		Down:        4 * time.Second,
		StartOutage: func() error { return srv.Stop(os.Kill) },
		EndOutage:   srv.Start,
	})
}
