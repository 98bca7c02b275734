package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atomicsession/atomicsession/internal/faultapp"
	"github.com/atomicsession/atomicsession/postgres"
	"github.com/atomicsession/atomicsession/session"
)

// countedPool returns a pool of at most maxConns connections whose round
// trips on the wire wc counts.
func countedPool(t *testing.T, maxConns int32, wc *wireCounter) *pgxpool.Pool {
	t.Helper()
	return newPool(t, maxConns, func(cfg *pgxpool.Config) {
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
}

func createSession(t *testing.T, st *postgres.Store) string {
	t.Helper()
	m := newMeta(t, time.Hour)
	if _, err := st.Create(context.Background(), m, session.Update{}); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// Each op of ApplyMulti gets its own result and error: a missing session,
// a type mismatch and an invalid command fail their own op only, and
// neither undo the ops before them nor stop the ops after them.
func TestApplyMultiEachOpItsOwnResult(t *testing.T) {
	wc := &wireCounter{}
	st := newStore(t, countedPool(t, 1, wc))
	ctx := context.Background()
	a, b := createSession(t, st), createSession(t, st)
	bad := cmds(set("x", int64(1)))
	bad.Commands[0].Path = "$bad"
	touch := cmds()
	touch.Fetch = []string{"s"}
	ops := []session.ApplyOp{
		{ID: a, Update: cmds(inc("n", int64(1)))},         // 0
		{ID: "missing", Update: cmds(inc("n", int64(1)))}, // 1 not found
		{ID: b, Update: cmds(set("s", "str"))},            // 2
		{ID: b, Update: cmds(inc("s", int64(1)))},         // 3 type mismatch
		{ID: a, Update: cmds(set("d.x", int64(7)))},       // 4
		{ID: b, Update: bad},                              // 5 invalid, never sent
		{ID: b, Update: touch},                            // 6 Touch + Fetch
		{ID: a, Update: cmds(inc("n", int64(2)))},         // 7 same session again, in order
	}
	res := st.ApplyMulti(ctx, ops)
	if len(res) != len(ops) {
		t.Fatalf("%d results for %d ops", len(res), len(ops))
	}
	ok := func(i int) session.Doc {
		t.Helper()
		if res[i].Err != nil {
			t.Fatalf("op %d: %v", i, res[i].Err)
		}
		return res[i].Doc
	}
	if d := ok(0); d["n"] != int64(1) {
		t.Errorf("op 0: %v", d)
	}
	if !errors.Is(res[1].Err, session.ErrNotFound) {
		t.Errorf("op 1: %v, want ErrNotFound", res[1].Err)
	}
	if d := ok(2); d["s"] != "str" {
		t.Errorf("op 2: %v", d)
	}
	var ce *session.CommandError
	if !errors.Is(res[3].Err, session.ErrTypeMismatch) || !errors.As(res[3].Err, &ce) || ce.Index != 0 {
		t.Errorf("op 3: %v, want a CommandError for ErrTypeMismatch", res[3].Err)
	}
	if d := ok(4); fmt.Sprint(d["d"]) != "map[x:7]" {
		t.Errorf("op 4: %v", d)
	}
	if !errors.As(res[5].Err, &ce) || ce.Index != 0 {
		t.Errorf("op 5: %v, want a CommandError", res[5].Err)
	}
	if d := ok(6); d["s"] != "str" || d["n"] != nil {
		t.Errorf("op 6: %v", d)
	}
	if d := ok(7); d["n"] != int64(3) {
		t.Errorf("op 7: %v", d)
	}
	da, err := st.Load(ctx, a, nil)
	if err != nil || da["n"] != int64(3) || fmt.Sprint(da["d"]) != "map[x:7]" {
		t.Errorf("a after: %v, %v", da, err)
	}
	db, err := st.Load(ctx, b, nil)
	if err != nil || db["s"] != "str" {
		t.Errorf("b after: %v, %v", db, err)
	}

	// 20 ops on 20 sessions: one round trip once the statement is prepared
	// on the connection (the pool has one: one pipeline).
	var many []session.ApplyOp
	for range 20 {
		many = append(many, session.ApplyOp{ID: createSession(t, st), Update: cmds(inc("n", int64(3)))})
	}
	before := wc.trips.Load()
	out := st.ApplyMulti(ctx, many)
	trips := wc.trips.Load() - before
	for i, r := range out {
		if r.Err != nil || r.Doc["n"] != int64(3) {
			t.Fatalf("op %d of 20: %v, %v", i, r.Doc, r.Err)
		}
	}
	if trips != 1 {
		t.Errorf("20 ops: %d round trips, want 1", trips)
	}
}

// Fast ops (a $set with a Fetch) on sessions that are missing or expired
// answer ErrNotFound from the statement itself: 16 of them next to a live
// one cost one round trip, and create nothing. Fast ops whose session
// changed while they waited for its lock go through the apply function
// together, in one more pipelined round: two round trips, not one per miss.
func TestApplyMultiFastMisses(t *testing.T) {
	wc := &wireCounter{}
	st := newStore(t, countedPool(t, 1, wc))
	ctx := context.Background()
	fast := func(v string) session.Update {
		u := cmds(set("seen", v))
		u.Fetch = []string{"user"}
		return u
	}
	live := createSession(t, st)
	ops := []session.ApplyOp{{ID: live, Update: fast("live")}}
	for i := range 16 {
		ops = append(ops, session.ApplyOp{ID: fmt.Sprintf("missing-%d-%s", i, live), Update: fast("x")})
	}
	st.ApplyMulti(ctx, ops) // prepares the statements on the connection
	before := wc.trips.Load()
	out := st.ApplyMulti(ctx, ops)
	trips := wc.trips.Load() - before
	if out[0].Err != nil || out[0].Doc["seen"] != "live" {
		t.Fatalf("live op: %v, %v", out[0].Doc, out[0].Err)
	}
	for i, r := range out[1:] {
		if !errors.Is(r.Err, session.ErrNotFound) {
			t.Fatalf("op %d on a missing session: %v, want ErrNotFound", i+1, r.Err)
		}
	}
	if trips != 1 {
		t.Errorf("16 fast ops on missing sessions: %d round trips, want 1", trips)
	}
	for i := range 16 {
		if _, err := st.Load(ctx, ops[i+1].ID, nil); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("missing session %d was created: %v", i, err)
		}
	}

	// Four sessions changed by transactions the ops wait for. (The apply
	// function's statement is prepared on the connection first.)
	st.ApplyMulti(ctx, []session.ApplyOp{{ID: live, Update: cmds(inc("n", int64(1)))}, {ID: "missing", Update: cmds(inc("n", int64(1)))}})
	other := newPool(t, 4)
	ops = ops[:0]
	var txs []pgx.Tx
	for range 4 {
		id := createSession(t, st)
		txs = append(txs, lockedChange(t, st, other, id))
		ops = append(ops, session.ApplyOp{ID: id, Update: fast("after")})
	}
	before = wc.trips.Load()
	done := make(chan []session.ApplyResult)
	go func() { done <- st.ApplyMulti(ctx, ops) }()
	waitForLockWaiter(t, newPool(t, 1)) // other's connections are all in the transactions
	for _, tx := range txs {
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	out = <-done
	trips = wc.trips.Load() - before
	for i, r := range out {
		if r.Err != nil || r.Doc["user"] != "bob" || r.Doc["seen"] != "after" {
			t.Fatalf("op %d after the lock wait: %v, %v; want the other batch's user and its own write", i, r.Doc, r.Err)
		}
	}
	if trips != 2 {
		t.Errorf("4 fast ops that missed: %d round trips, want 2 (the pipeline, then the retries together)", trips)
	}
}

// On a pool whose exec mode is not pgx's default (the simple protocol,
// Exec, DescribeExec, CacheDescribe: for poolers that drop named prepared
// statements), ApplyMulti applies each op by itself, with the same results,
// and prepares no named statement.
func TestApplyMultiWithoutPreparedStatements(t *testing.T) {
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec,
		pgx.QueryExecModeDescribeExec, pgx.QueryExecModeCacheDescribe} {
		t.Run(mode.String(), func(t *testing.T) {
			qc := &queryCounter{}
			pool := newPool(t, 2, func(cfg *pgxpool.Config) {
				cfg.ConnConfig.DefaultQueryExecMode = mode
				cfg.ConnConfig.Tracer = qc
			})
			st := newStore(t, pool)
			a := createSession(t, st)
			fast := cmds(set("seen", "x"))
			fast.Fetch = []string{"n"}
			res := st.ApplyMulti(context.Background(), []session.ApplyOp{
				{ID: a, Update: cmds(inc("n", int64(1)))},
				{ID: "missing", Update: cmds(inc("n", int64(1)))},
				{ID: createSession(t, st), Update: fast},
			})
			if res[0].Err != nil || res[0].Doc["n"] != int64(1) || !errors.Is(res[1].Err, session.ErrNotFound) || res[2].Err != nil {
				t.Fatalf("%+v", res)
			}
			if n := qc.named.Load(); n != 0 {
				t.Errorf("%d named statements prepared on a pool in %v", n, mode)
			}
		})
	}
}

// A cancelled context fails every op, and the pool stays usable.
func TestApplyMultiCancelled(t *testing.T) {
	st := newStore(t, newPool(t, 1))
	a := createSession(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i, r := range st.ApplyMulti(ctx, []session.ApplyOp{{ID: a, Update: cmds(inc("n", int64(1)))}, {ID: a, Update: cmds(inc("n", int64(1)))}}) {
		if !errors.Is(r.Err, context.Canceled) {
			t.Errorf("op %d: %v, want context.Canceled", i, r.Err)
		}
	}
	res := st.ApplyMulti(context.Background(), []session.ApplyOp{{ID: a, Update: cmds(inc("n", int64(1)))}})
	if res[0].Err != nil || res[0].Doc["n"] != int64(1) {
		t.Fatalf("after cancel: %+v", res)
	}
}

// TestHTTPBatchingAcrossRequests: 32 clients, each on its own session, send
// 40 read-and-increment requests each at once through the middleware. Every
// increment counts, and concurrent requests share pipelines: fewer round
// trips than requests.
func TestHTTPBatchingAcrossRequests(t *testing.T) {
	const clients, each = 32, 40
	wc := &wireCounter{}
	st := newStore(t, countedPool(t, 16, wc))
	run := faultapp.LoadClients(t, st, false, clients)
	before := wc.trips.Load()
	sent := run(each, 0)
	trips := wc.trips.Load() - before
	if sent != clients*each {
		t.Fatalf("%d requests sent, want %d", sent, clients*each)
	}
	// Every session holds exactly its client's increments (+1: the request
	// that created it).
	var sessions, exact int
	err := st.Pool().QueryRow(context.Background(),
		`SELECT count(*), count(*) FILTER (WHERE value = $1::jsonb) FROM `+st.TableName("keys")+` WHERE key = 'n'`,
		fmt.Sprint(each+1)).Scan(&sessions, &exact)
	if err != nil {
		t.Fatal(err)
	}
	if sessions != clients || exact != clients {
		t.Fatalf("%d sessions hold n, %d of them %d; want %d", sessions, exact, each+1, clients)
	}
	t.Logf("%d requests, %d PostgreSQL round trips: %.2f round trips per request", sent, trips, float64(trips)/float64(sent))
	if trips >= sent {
		t.Errorf("%d round trips for %d requests: batching saved none", trips, sent)
	}
}

// BenchmarkBatching measures requests per second of 16 clients, each on
// its own session, reading and incrementing one key, with batching across
// requests on and off, in interleaved rounds of one run: with a pool of 16
// and of 4 connections on loopback, and with round trips made slower on
// the connection (a database across a network): a pool of 16 with 1 ms
// more per round trip, and a pool of 2 (fewer connections than clients, as
// under a production load) with 2 ms more. Each sub-benchmark is one run
// of several seconds, whatever b.N:
//
//	go test -run '^$' -bench Batching ./postgres/
func BenchmarkBatching(b *testing.B) {
	const clients, rounds = 16, 12
	for _, sc := range []struct {
		conns int32
		rtt   time.Duration
	}{{16, 0}, {4, 0}, {16, time.Millisecond}, {2, 2 * time.Millisecond}} {
		b.Run(fmt.Sprintf("pool=%d/rtt=%v", sc.conns, sc.rtt), func(b *testing.B) {
			r := faultapp.BatchingOnOff(b, func() session.Store {
				pool := newPool(b, sc.conns, func(cfg *pgxpool.Config) {
					if sc.rtt == 0 {
						return
					}
					dialer := &net.Dialer{}
					cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
						conn, err := dialer.DialContext(ctx, network, addr)
						if err != nil {
							return nil, err
						}
						return &slowConn{Conn: conn, rtt: sc.rtt}, nil
					}
				})
				return newStore(b, pool)
			}, clients, rounds, 500*time.Millisecond)
			b.Logf("PostgreSQL, pool %d, +%v per round trip, %d clients, read+inc: %v", sc.conns, sc.rtt, clients, r)
			b.ReportMetric(r.On, "req/s-on")
			b.ReportMetric(r.Off, "req/s-off")
			b.ReportMetric(r.Median(), "on/off")
		})
	}
}

// slowConn adds rtt to every round trip: the first read after a write
// waits rtt first.
type slowConn struct {
	net.Conn
	rtt     time.Duration
	mu      sync.Mutex
	pending bool
}

func (c *slowConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.pending = true
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *slowConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	wait := c.pending
	c.pending = false
	c.mu.Unlock()
	if wait {
		time.Sleep(c.rtt)
	}
	return c.Conn.Read(p)
}

// Spread over several connections, ops on one session still apply in
// their order, and every op counts.
func TestApplyMultiSpreadKeepsOrderPerSession(t *testing.T) {
	st := newStore(t, newPool(t, 8))
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = createSession(t, st)
	}
	var ops []session.ApplyOp
	for range 4 {
		for _, id := range ids {
			ops = append(ops, session.ApplyOp{ID: id, Update: cmds(inc("n", int64(1)))})
		}
	}
	res := st.ApplyMulti(context.Background(), ops)
	for i, r := range res {
		if want := int64(i/len(ids) + 1); r.Err != nil || r.Doc["n"] != want {
			t.Fatalf("op %d on %s: %v, %v; want n = %d", i, ops[i].ID, r.Doc, r.Err, want)
		}
	}
}

// A context that ends while the pipeline is on the wire fails the ops not
// yet answered with its error (so the middleware answers 503), and the
// pool stays usable.
func TestApplyMultiDeadlineMidPipeline(t *testing.T) {
	st := newStore(t, newPool(t, 1))
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = 'a' + byte(i%26)
	}
	var ops []session.ApplyOp
	for range 40 {
		ops = append(ops, session.ApplyOp{ID: createSession(t, st), Update: cmds(set("blob", string(big)))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Millisecond)
	defer cancel()
	var applied, cut int
	for i, r := range st.ApplyMulti(ctx, ops) {
		switch {
		case r.Err == nil:
			applied++
		case errors.Is(r.Err, context.DeadlineExceeded):
			cut++
		default:
			t.Errorf("op %d: %v, want success or context.DeadlineExceeded", i, r.Err)
		}
	}
	t.Logf("3 ms for 40 ops of 64 KB: %d applied, %d cut short", applied, cut)
	res := st.ApplyMulti(context.Background(), ops[:2])
	if res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("after the deadline: %v, %v", res[0].Err, res[1].Err)
	}
}
