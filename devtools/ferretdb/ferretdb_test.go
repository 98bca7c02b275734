package ferretdb_test

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"

	"github.com/atomicsession/atomicsession/devtools/ferretdb"
)

// TestMain checks that a closed server leaves no goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// roundTrip writes a document through uri and reads it back.
func roundTrip(t *testing.T, uri string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	coll := client.Database("devtools").Collection("probe")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: int64(1)}}); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var got struct{ N int64 }
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Decode(&got); err != nil || got.N != 1 {
		t.Fatalf("find: %+v, %v", got, err)
	}
}

func TestStartServesAndCloseCleansUp(t *testing.T) {
	srv, err := ferretdb.Start(context.Background(), ferretdb.Options{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if !strings.HasPrefix(srv.URI(), "mongodb://127.0.0.1:") || strings.HasSuffix(srv.URI(), ":0/") {
		t.Fatalf("URI() = %q, want mongodb://127.0.0.1:<free port>/", srv.URI())
	}
	roundTrip(t, srv.URI())
	dir := srv.Dir()
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary data directory %s still exists after Close (stat: %v)", dir, err)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(srv.URI(), "mongodb://"), "/")
	if conn, err := net.Dial("tcp", addr); err == nil {
		_ = conn.Close()
		t.Errorf("%s still accepts connections after Close", addr)
	}
}

func TestStartKeepsGivenDir(t *testing.T) {
	dir := t.TempDir() + "/data dir"
	srv, err := ferretdb.Start(context.Background(), ferretdb.Options{Dir: dir})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	roundTrip(t, srv.URI())
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("data directory %q after Close: %d entries, %v; want the SQLite files kept", dir, len(entries), err)
	}
}

func TestStartOnBusyAddressFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer l.Close()
	srv, err := ferretdb.Start(context.Background(), ferretdb.Options{Addr: l.Addr().String()})
	if err == nil {
		_ = srv.Close()
		t.Fatalf("Start on busy %s succeeded", l.Addr())
	}
	if !strings.Contains(err.Error(), l.Addr().String()) {
		t.Errorf("error %q does not name the address", err)
	}
}

func TestStartWithCancelledContextFails(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if srv, err := ferretdb.Start(ctx, ferretdb.Options{}); err == nil {
		_ = srv.Close()
		t.Fatal("Start with a cancelled context succeeded")
	}
}
