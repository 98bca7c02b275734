package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/postgres"
	"github.com/atomicsession/atomicsession/session"
)

// newPool returns a pool of at most maxConns connections to the test
// server, closed at the end of the test. Options configure the pool
// further (a tracer, for example).
func newPool(t testing.TB, maxConns int32, opts ...func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = maxConns
	for _, o := range opts {
		o(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// testSchema returns a schema name that no other test uses, dropped with
// everything in it at the end of the test.
func testSchema(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "t_" + hex.EncodeToString(b[:])
	url := testenv.PostgresURL(t)
	t.Cleanup(func() { // after the test's stores and pools, registered later
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop test schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", name, err)
		}
	})
	return name
}

// newStore returns a Store in a schema of its own, with its schema ensured,
// closed at the end of the test.
func newStore(t testing.TB, pool *pgxpool.Pool, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	if pool == nil {
		pool = newPool(t, 8)
	}
	st := postgres.NewStore(pool, append([]postgres.Option{postgres.WithSchema(testSchema(t))}, opts...)...)
	t.Cleanup(func() { _ = st.Close() })
	if err := st.EnsureSchema(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// newMeta returns the reserved fields of a new session that lives for d.
func newMeta(t testing.TB, d time.Duration) session.Meta {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	return session.Meta{ID: hex.EncodeToString(b[:]), Expires: now.Add(d), MaxAge: d, Created: now}
}

func cmds(cs ...session.Command) session.Update {
	out := make([]session.Command, len(cs))
	for i, c := range cs {
		p, err := session.PrepareCommand(c)
		if err != nil {
			panic(err)
		}
		out[i] = p
	}
	return session.Update{Commands: out, Expires: time.Now().Add(time.Hour)}
}

func set(k string, v any) session.Command {
	return session.Command{Op: session.OpSet, Path: k, Value: v}
}
func inc(k string, v any) session.Command {
	return session.Command{Op: session.OpInc, Path: k, Value: v}
}
