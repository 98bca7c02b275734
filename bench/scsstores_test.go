package main

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestSCSMongoStoreFindsByIDAlone checks the SCS MongoDB stand-in on the
// embedded FerretDB: a live session is found, an expired or deleted one is
// not, deleting a missing one is a no-op, and every find filters on _id
// alone (the filter atomicsession's Load uses), so that neither library gets
// a query plan the other does not.
func TestSCSMongoStoreFindsByIDAlone(t *testing.T) {
	ctx := context.Background()
	fs, err := startFerret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := fs.Close(); err != nil {
			t.Error(err)
		}
	}()
	var mu sync.Mutex
	var filters []bson.Raw
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "find" {
			mu.Lock()
			filters = append(filters, e.Command.Lookup("filter").Document())
			mu.Unlock()
		}
	}}
	client, err := driver.Connect(options.Client().ApplyURI(fs.URI()).SetMaxPoolSize(1).SetMonitor(mon))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := client.Disconnect(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	s := &scsMongoStore{coll: client.Database("atomicsession_bench_test").Collection(newNamespace() + "_scs")}

	if err := s.CommitCtx(ctx, "live", []byte("data"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitCtx(ctx, "expired", []byte("old"), time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	b, found, err := s.FindCtx(ctx, "live")
	if err != nil || !found || !bytes.Equal(b, []byte("data")) {
		t.Fatalf("find live: got %q, found %v, err %v; want \"data\", true, nil", b, found, err)
	}
	if b, found, err := s.FindCtx(ctx, "expired"); err != nil || found || b != nil {
		t.Fatalf("find expired: got %q, found %v, err %v; want nil, false, nil", b, found, err)
	}
	if err := s.DeleteCtx(ctx, "live"); err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.FindCtx(ctx, "live"); err != nil || found {
		t.Fatalf("find deleted: found %v, err %v; want false, nil", found, err)
	}
	if err := s.DeleteCtx(ctx, "missing"); err != nil {
		t.Fatalf("delete missing: %v, want nil", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(filters) != 3 {
		t.Fatalf("saw %d find commands, want 3", len(filters))
	}
	for _, f := range filters {
		elems, err := f.Elements()
		if err != nil {
			t.Fatal(err)
		}
		if len(elems) != 1 || elems[0].Key() != "_id" {
			t.Errorf("find filter %s, want {_id: token} alone", f)
		}
	}
}
