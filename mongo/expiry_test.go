package mongo_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodriver "go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/mongo"
	"github.com/atomicsession/atomicsession/session"
)

func TestEnsureIndexCreatesTTLIndex(t *testing.T) {
	f := newFixture(t)
	testenv.SkipIfFerret(t, f.srv.ferret, "createIndexes with expireAfterSeconds answers NotImplemented (no TTL indexes)")
	for i := range 2 { // the second call finds the index in place
		if err := f.store.EnsureIndex(context.Background()); err != nil {
			t.Fatalf("EnsureIndex call %d: %v", i+1, err)
		}
	}
	ix, ok := expiresIndex(t, f.coll)
	if !ok {
		t.Fatal("no index on {expires: 1} after EnsureIndex")
	}
	if ix.ExpireAfterSeconds == nil || *ix.ExpireAfterSeconds != 0 {
		t.Fatalf("index %s has expireAfterSeconds %v, want 0", ix.Name, ix.ExpireAfterSeconds)
	}
}

type indexSpec struct {
	Name               string `bson:"name"`
	Key                bson.D `bson:"key"`
	ExpireAfterSeconds *int64 `bson:"expireAfterSeconds"`
}

// expiresIndex returns the index on {expires: 1} of coll, if any.
func expiresIndex(t *testing.T, coll *mongodriver.Collection) (indexSpec, bool) {
	t.Helper()
	cur, err := coll.Indexes().List(context.Background())
	if err != nil {
		t.Fatalf("list indexes: %v", err)
	}
	var indexes []indexSpec
	if err := cur.All(context.Background(), &indexes); err != nil {
		t.Fatalf("read indexes: %v", err)
	}
	for _, ix := range indexes {
		if len(ix.Key) == 1 && ix.Key[0].Key == "expires" {
			return ix, true
		}
	}
	return indexSpec{}, false
}

func TestEnsureIndexWithoutTTLSupportSaysSweep(t *testing.T) {
	f := newFixture(t)
	if !f.srv.ferret {
		t.Skip("the server supports TTL indexes; this case is for FerretDB 1.x")
	}
	err := f.store.EnsureIndex(context.Background())
	if !errors.Is(err, mongo.ErrNoTTLIndex) {
		t.Fatalf("EnsureIndex on FerretDB: err = %v, want ErrNoTTLIndex", err)
	}
	for _, word := range []string{"TTL", "Sweep"} {
		if !strings.Contains(err.Error(), word) {
			t.Errorf("EnsureIndex error %q does not mention %s", err, word)
		}
	}
}

func TestSweepDeletesOnlyExpired(t *testing.T) {
	f := newFixture(t)
	short := f.meta()
	short.Expires = f.clock.Now().Add(time.Minute)
	for range 2 {
		m := f.meta()
		m.Expires = short.Expires
		if _, err := f.store.Create(context.Background(), m, session.Update{}); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	live, _ := f.create(t) // expires in an hour
	if n, err := f.store.Sweep(context.Background()); err != nil || n != 0 {
		t.Fatalf("Sweep before expiry = %d, %v; want 0, nil", n, err)
	}
	f.clock.Advance(time.Minute)
	n, err := f.store.Sweep(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("Sweep after expiry = %d, %v; want 2, nil", n, err)
	}
	if c := f.count(t); c != 1 {
		t.Fatalf("%d documents left, want 1", c)
	}
	if _, err := f.store.Load(context.Background(), live.ID, nil); err != nil {
		t.Fatalf("Load of the live session after Sweep: %v", err)
	}
}

func TestBackgroundSweeperRunsUntilClose(t *testing.T) {
	srv := testServer(t)
	client := connect(t, srv, nil, 0)
	coll := newCollection(t, client)
	clk := newClock()
	store := mongo.NewStore(coll, mongo.WithClock(clk.Now), mongo.WithSweepInterval(5*time.Millisecond))
	m := (&fixture{clock: clk}).meta()
	if _, err := store.Create(context.Background(), m, session.Update{}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	clk.Advance(2 * time.Hour)
	waitFor(t, "the background sweeper to delete the expired session", func() bool {
		n, err := coll.CountDocuments(context.Background(), bson.D{})
		return err == nil && n == 0
	})
	if err := store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := store.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// After Close the sweeper is gone (goleak in TestMain checks) and the
	// store still serves requests.
	m2 := m
	m2.ID = m.ID + "-2"
	m2.Expires = clk.Now().Add(time.Hour)
	if _, err := store.Create(context.Background(), m2, session.Update{}); err != nil {
		t.Fatalf("Create after Close: %v", err)
	}
}

func TestBackgroundSweeperWaitsForCollection(t *testing.T) {
	store := mongo.NewStore(nil, mongo.WithSweepInterval(time.Millisecond))
	time.Sleep(20 * time.Millisecond) // let it skip a few turns without a collection
	if err := store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// waitFor polls cond until it holds, failing t after a generous bound. The
// bound guards against a hang; it is not a measurement.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
