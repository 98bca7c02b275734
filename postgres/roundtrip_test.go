package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atomicsession/atomicsession/session"
)

// queryCounter is a pgx QueryTracer that counts the queries and the
// statement preparations of a pool, and those of a named statement.
type queryCounter struct{ queries, prepares, named atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.queries.Add(1)
	return ctx
}

func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *queryCounter) TracePrepareStart(ctx context.Context, _ *pgx.Conn, d pgx.TracePrepareStartData) context.Context {
	c.prepares.Add(1)
	if d.Name != "" {
		c.named.Add(1)
	}
	return ctx
}

func (c *queryCounter) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// wireCounter counts round trips on the wire: every write that follows a
// read (or comes first) starts one.
type wireCounter struct {
	trips, bytes atomic.Int64
}

type countingConn struct {
	net.Conn
	c       *wireCounter
	mu      sync.Mutex
	readYet bool // a read happened since the last write
	wrote   bool
}

func (cc *countingConn) Write(p []byte) (int, error) {
	cc.mu.Lock()
	if !cc.wrote || cc.readYet {
		cc.c.trips.Add(1)
	}
	cc.wrote, cc.readYet = true, false
	cc.mu.Unlock()
	cc.c.bytes.Add(int64(len(p)))
	return cc.Conn.Write(p)
}

func (cc *countingConn) Read(p []byte) (int, error) {
	n, err := cc.Conn.Read(p)
	cc.c.bytes.Add(int64(n))
	cc.mu.Lock()
	cc.readYet = true
	cc.mu.Unlock()
	return n, err
}

// TestRoundTrips counts, per store call, the queries a pgx QueryTracer
// sees and the round trips on the wire: one each for Load, Create with its
// first batch, Apply (any operators, dotted paths, arrays, Fetch), Take,
// Delete and the user index calls. The first call of each statement on a
// connection also prepares it (one more round trip, once per connection),
// so the counts start after one warm-up call of each.
func TestRoundTrips(t *testing.T) {
	qc := &queryCounter{}
	wc := &wireCounter{}
	pool := newPool(t, 1, func(cfg *pgxpool.Config) {
		cfg.ConnConfig.Tracer = qc
		cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
		dialer := &net.Dialer{}
		cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: conn, c: wc}, nil
		}
	})
	st := newStore(t, pool)
	ctx := context.Background()
	batch := func() session.Update {
		u := cmds(set("a.b.c", int64(1)), inc("n", 1), session.Command{Op: session.OpPush, Path: "l", Values: []any{int64(1), []any{}}, Slice: 3},
			session.Command{Op: session.OpAddToSet, Path: "s", Values: []any{"x"}})
		u.Fetch = []string{"other"}
		return u
	}
	calls := []struct {
		name string
		fn   func(id string) error
	}{
		{"Create with a batch", func(id string) error {
			m := newMeta(t, time.Hour)
			m.ID, m.UserID = id, "u"
			_, err := st.Create(ctx, m, batch())
			return err
		}},
		{"Load", func(id string) error { _, err := st.Load(ctx, id, nil); return err }},
		{"Load keys", func(id string) error { _, err := st.Load(ctx, id, []string{"n"}); return err }},
		{"Apply", func(id string) error { _, err := st.Apply(ctx, id, batch()); return err }},
		{"Apply $set + Fetch", func(id string) error { // the fast path
			u := cmds(set("seen", int64(1)), session.Command{Op: session.OpUnset, Path: "gone"})
			u.Fetch = []string{"n"}
			_, err := st.Apply(ctx, id, u)
			return err
		}},
		{"Take", func(id string) error {
			_, err := st.Apply(ctx, id, cmds(session.Command{Op: session.OpTake, Path: "n"}))
			return err
		}},
		{"UserSessions", func(string) error { _, err := st.UserSessions(ctx, "u"); return err }},
		{"Delete", func(id string) error { return st.Delete(ctx, id) }},
		{"DeleteUserSessions", func(string) error { _, err := st.DeleteUserSessions(ctx, "u"); return err }},
	}
	for round := range 2 {
		id := fmt.Sprintf("roundtrips-%d", round)
		for _, c := range calls {
			q0, p0, w0 := qc.queries.Load(), qc.prepares.Load(), wc.trips.Load()
			require.NoError(t, c.fn(id), c.name)
			q, p, w := qc.queries.Load()-q0, qc.prepares.Load()-p0, wc.trips.Load()-w0
			if round == 0 {
				continue // warm-up: statements get prepared
			}
			t.Logf("%-20s queries %d, prepares %d, round trips on the wire %d", c.name, q, p, w)
			assert.EqualValues(t, 1, q, "%s: queries", c.name)
			assert.EqualValues(t, 0, p, "%s: prepares", c.name)
			assert.EqualValues(t, 1, w, "%s: round trips", c.name)
		}
	}
}

// randomText returns n bytes of incompressible text (base64 of random
// bytes).
func randomText(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)[:n]
}

// walBytes returns the WAL bytes that fn writes, the least of several
// runs (a run right after a checkpoint also writes full-page images, and
// autovacuum may write meanwhile), and the most.
func walBytes(t testing.TB, pool *pgxpool.Pool, runs int, fn func(i int)) (least, most int64) {
	t.Helper()
	least = -1
	for i := range runs {
		var before, after string
		require.NoError(t, pool.QueryRow(bg, "SELECT pg_current_wal_insert_lsn()::text").Scan(&before))
		fn(i)
		require.NoError(t, pool.QueryRow(bg, "SELECT pg_current_wal_insert_lsn()::text").Scan(&after))
		var n int64
		require.NoError(t, pool.QueryRow(bg, "SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::bigint", after, before).Scan(&n))
		if least < 0 || n < least {
			least = n
		}
		most = max(most, n)
	}
	return least, most
}

// TestWALBytes measures the WAL that a one-key write on a 64 KB session
// (16 keys of 4 KB of incompressible text) writes, in this store's layout
// (one row per top-level key) and, for comparison, in a single jsonb
// column rewritten per update. The store's must stay under 2 KiB; the
// figures go to docs/postgres.md:
//
//	go test -run TestWALBytes -v ./postgres/
func TestWALBytes(t *testing.T) {
	pool := newPool(t, 2)
	st := newStore(t, pool)
	var cs []session.Command
	doc := map[string]any{}
	for i := range 16 {
		k := fmt.Sprintf("k%02d", i)
		v := randomText(t, 4096)
		cs = append(cs, set(k, v))
		doc[k] = v
	}
	m := newMeta(t, time.Hour)
	_, err := st.Create(bg, m, cmds(cs...))
	require.NoError(t, err)
	const runs = 6
	ours, oursMost := walBytes(t, pool, runs, func(i int) {
		_, err := st.Apply(bg, m.ID, cmds(set("counter", int64(i))))
		require.NoError(t, err)
	})
	oursInc, _ := walBytes(t, pool, runs, func(int) {
		_, err := st.Apply(bg, m.ID, cmds(inc("n", 1)))
		require.NoError(t, err)
	})

	// The single-column layout: the whole session in one jsonb value.
	single := pgx.Identifier{testSchema(t)}.Sanitize()
	_, err = pool.Exec(bg, "CREATE SCHEMA "+single+"; CREATE TABLE "+single+".sessions (id text PRIMARY KEY, expires timestamptz NOT NULL, doc jsonb NOT NULL)")
	require.NoError(t, err)
	_, err = pool.Exec(bg, "INSERT INTO "+single+".sessions VALUES ($1, now() + interval '1 hour', $2)", m.ID, doc)
	require.NoError(t, err)
	whole, wholeMost := walBytes(t, pool, runs, func(i int) {
		_, err := pool.Exec(bg, "UPDATE "+single+".sessions SET doc = jsonb_set(doc, '{counter}', to_jsonb($2::bigint)), expires = now() + interval '1 hour' WHERE id = $1", m.ID, i)
		require.NoError(t, err)
	})
	var pgVersion string
	require.NoError(t, pool.QueryRow(bg, "SHOW server_version").Scan(&pgVersion))
	t.Logf("PostgreSQL %s, one-key write on a 64 KB session (16 keys × 4 KB incompressible), WAL bytes, least (most) of %d runs:", pgVersion, runs)
	t.Logf("  one row per top-level key (this store), $set of a new small key: %d (%d)", ours, oursMost)
	t.Logf("  one row per top-level key (this store), $inc:                    %d", oursInc)
	t.Logf("  one jsonb column for the whole session, jsonb_set:               %d (%d)", whole, wholeMost)
	// The least of the runs leaves out checkpoints' full-page images: a
	// one-key write is a few hundred bytes, far from the session's 64 KB.
	assert.Less(t, ours, int64(2<<10), "a one-key write must write less than 2 KiB of WAL")
	assert.Less(t, oursInc, int64(2<<10))
	assert.Greater(t, whole, ours, "the single-column layout rewrites the session")

}

// TestWireBytes: a one-key command on a 64 KB session, and a Load of one
// small key of it, move about the size of the change, not the session.
func TestWireBytes(t *testing.T) {
	wc := &wireCounter{}
	pool := newPool(t, 1, func(cfg *pgxpool.Config) {
		cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
		dialer := &net.Dialer{}
		cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: conn, c: wc}, nil
		}
	})
	st := newStore(t, pool)
	var cs []session.Command
	for i := range 16 {
		cs = append(cs, set(fmt.Sprintf("k%02d", i), randomText(t, 4096)))
	}
	m := newMeta(t, time.Hour)
	_, err := st.Create(bg, m, cmds(append(cs, set("small", "x"))...))
	require.NoError(t, err)
	for round := range 2 { // the first round prepares the statements
		b0 := wc.bytes.Load()
		_, err = st.Apply(bg, m.ID, cmds(inc("n", 1)))
		require.NoError(t, err)
		b1 := wc.bytes.Load()
		doc, err := st.Load(bg, m.ID, []string{"small"})
		require.NoError(t, err)
		require.Equal(t, "x", doc["small"])
		b2 := wc.bytes.Load()
		if round == 1 {
			t.Logf("on a 64 KB session: $inc sends and receives %d bytes; Load of one small key %d bytes", b1-b0, b2-b1)
			assert.Less(t, b1-b0, int64(2048))
			assert.Less(t, b2-b1, int64(2048))
		}
	}
}
