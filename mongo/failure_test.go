package mongo_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	mongodriver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/atomicsession/atomicsession/mongo"
	"github.com/atomicsession/atomicsession/session"
)

// closedPort returns a loopback address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return addr
}

func TestStoreDownIsUnavailable(t *testing.T) {
	opts := options.Client().ApplyURI("mongodb://" + closedPort(t) + "/").
		SetServerSelectionTimeout(300 * time.Millisecond).SetConnectTimeout(300 * time.Millisecond)
	client, err := mongodriver.Connect(opts)
	if err != nil {
		t.Fatalf("Connect (lazy, should not fail): %v", err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	store := mongo.NewStore(client.Database("down").Collection("sessions"))
	defer store.Close()
	ctx := context.Background()
	m := session.Meta{ID: "id", Expires: time.Now().Add(time.Hour), MaxAge: time.Hour, Created: time.Now()}
	calls := map[string]func() error{
		"Load": func() error { _, err := store.Load(ctx, "id", nil); return err },
		"Create": func() error {
			_, err := store.Create(ctx, m, session.Update{Commands: []session.Command{set("a", int64(1))}})
			return err
		},
		"Apply": func() error {
			_, err := store.Apply(ctx, "id", upd(m.Expires, set("a", int64(1))))
			return err
		},
		"Delete": func() error { return store.Delete(ctx, "id") },
		"Sweep":  func() error { _, err := store.Sweep(ctx); return err },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, session.ErrUnavailable) {
			t.Errorf("%s with the server down: err = %v, want ErrUnavailable", name, err)
		}
		if errors.Is(err, session.ErrNotFound) {
			t.Errorf("%s with the server down says not found, which would start a new session: %v", name, err)
		}
	}
}

func TestContextCancelled(t *testing.T) {
	f := newFixture(t)
	m, _ := f.create(t, set("k", "v"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := map[string]func() error{
		"Load":   func() error { _, err := f.store.Load(ctx, m.ID, nil); return err },
		"Create": func() error { _, err := f.store.Create(ctx, f.meta(), session.Update{}); return err },
		"Apply": func() error {
			_, err := f.store.Apply(ctx, m.ID, upd(m.Expires, set("k", "w")))
			return err
		},
		"Delete": func() error { return f.store.Delete(ctx, m.ID) },
		"Sweep":  func() error { _, err := f.store.Sweep(ctx); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: err = %v, want context.Canceled", name, err)
		}
	}
	doc, err := f.store.Load(context.Background(), m.ID, nil)
	if err != nil || doc["k"] != "v" {
		t.Fatalf("session after cancelled calls: %v, %v; want it unchanged", doc, err)
	}
}

func TestDeadlineExceeded(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := f.store.Load(ctx, "id", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Load past its deadline: err = %v, want context.DeadlineExceeded", err)
	}
}
