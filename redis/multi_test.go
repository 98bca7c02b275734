package redis

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/internal/faultapp"
	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/session"
)

func prepared(t testing.TB, cs ...session.Command) []session.Command {
	t.Helper()
	out := make([]session.Command, len(cs))
	for i, c := range cs {
		p, err := session.PrepareCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = p
	}
	return out
}

// Each op of ApplyMulti gets its own result and error: a missing session,
// an empty id and a type mismatch fail their own op only, and the native,
// Go-path (cached and not), Take and fallback ops around them apply as
// Apply would.
func TestApplyMultiEachOpItsOwnResult(t *testing.T) {
	s, w := countingStore(t)
	other := NewStore(s.client, WithPrefix(s.prefix)) // its sessions are not in s's cache
	exp := time.Now().Add(time.Hour)
	with := func(st *Store, cs ...session.Command) string {
		t.Helper()
		m := newMeta(t)
		if _, err := st.Create(ctx, m, session.Update{Commands: prepared(t, cs...)}); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	ids := []string{
		with(s),                                 // 0
		"missing",                               // 1
		with(s, set("s", "str")),                // 2
		with(s, set("list", []any{int64(1)})),   // 3
		with(s, set("t", "taken")),              // 4
		"",                                      // 5
		with(s),                                 // 6
		with(s, set("s", "str")),                // 7
		with(other, set("d", map[string]any{})), // 8
	}
	updates := []session.Update{
		upd(exp, prepared(t, inc("n", int64(1)))), // 0 native
		upd(exp, prepared(t, inc("n", int64(1)))), // 1 not found
		upd(exp, prepared(t, inc("s", int64(1)))), // 2 mismatch (the script falls back to Go)
		upd(exp, prepared(t, session.Command{Op: session.OpPush, Path: "list", Values: []any{int64(2)}, Slice: 1})), // 3 Go path, cached
		upd(exp, prepared(t, session.Command{Op: session.OpTake, Path: "t"})),                                       // 4 Take
		upd(exp, nil), // 5 empty id
		upd(exp, prepared(t, set("d.x", int64(7)))), // 6 Go path, dotted, cached
		{Expires: exp, Fetch: []string{"s"}},        // 7 Touch + Fetch
		upd(exp, prepared(t, set("d.y", int64(8)))), // 8 Go path, not cached: read first
	}
	ops := make([]session.ApplyOp, len(ids))
	for i := range ids {
		ops[i] = session.ApplyOp{ID: ids[i], Update: updates[i]}
	}
	stats := s.Stats()
	res := s.ApplyMulti(ctx, ops)
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
	if !errors.Is(res[1].Err, session.ErrNotFound) || !errors.Is(res[5].Err, session.ErrNotFound) {
		t.Errorf("ops 1, 5: %v, %v; want ErrNotFound", res[1].Err, res[5].Err)
	}
	var ce *session.CommandError
	if !errors.Is(res[2].Err, session.ErrTypeMismatch) || !errors.As(res[2].Err, &ce) || ce.Index != 0 {
		t.Errorf("op 2: %v, want a CommandError for ErrTypeMismatch", res[2].Err)
	}
	if d := ok(3); fmt.Sprint(d["list"]) != "[2]" {
		t.Errorf("op 3: %v", d)
	}
	if d := ok(4); d["t"] != "taken" {
		t.Errorf("op 4: %v", d)
	}
	if d := ok(6); fmt.Sprint(d["d"]) != "map[x:7]" {
		t.Errorf("op 6: %v", d)
	}
	if d := ok(7); d["s"] != "str" || len(d) != 5 {
		t.Errorf("op 7: %v", d)
	}
	if d := ok(8); fmt.Sprint(d["d"]) != "map[y:8]" {
		t.Errorf("op 8: %v", d)
	}
	if got := s.Stats(); got.Reads-stats.Reads != 1 || got.Fallbacks-stats.Fallbacks != 1 {
		t.Errorf("%d reads, %d fallbacks; want 1 read (op 8) and 1 fallback (op 2)", got.Reads-stats.Reads, got.Fallbacks-stats.Fallbacks)
	}
	for i, want := range map[int]string{0: "map[n:1]", 2: "map[s:str]", 3: "map[list:[2]]", 4: "map[]", 6: "map[d:map[x:7]]", 8: "map[d:map[y:8]]"} {
		d, err := s.Load(ctx, ids[i], nil)
		for _, f := range session.ReservedFields() {
			delete(d, f)
		}
		if err != nil || fmt.Sprint(d) != want {
			t.Errorf("session of op %d after: %v, %v; want %s", i, d, err, want)
		}
	}

	// Native ops on many sessions: one round trip in all.
	var many []session.ApplyOp
	for range 20 {
		many = append(many, session.ApplyOp{ID: create(t, s).ID, Update: upd(exp, prepared(t, inc("n", int64(3))))})
	}
	var out []session.ApplyResult
	_, _, trips := w.measure(func() { out = s.ApplyMulti(ctx, many) })
	for i, r := range out {
		if r.Err != nil || r.Doc["n"] != int64(3) {
			t.Fatalf("op %d of 20: %v, %v", i, r.Doc, r.Err)
		}
	}
	if trips != 1 {
		t.Errorf("20 native ops: %d round trips, want 1", trips)
	}
}

// Two ops on one session in one call apply in order, also on the Go path
// where the second was prepared from values the first changed.
func TestApplyMultiSameSessionInOrder(t *testing.T) {
	s, _ := newStore(t)
	exp := time.Now().Add(time.Hour)
	m := create(t, s)
	push := func(v int64) session.ApplyOp {
		return session.ApplyOp{ID: m.ID, Update: upd(exp, prepared(t, session.Command{Op: session.OpPush, Path: "l", Values: []any{v}, Slice: 3}))}
	}
	res := s.ApplyMulti(ctx, []session.ApplyOp{push(1), push(2), push(3), push(4)})
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("op %d: %v", i, r.Err)
		}
	}
	if got := fmt.Sprint(res[3].Doc["l"]); got != "[2 3 4]" {
		t.Fatalf("last push: %s, want [2 3 4]", got)
	}
}

// ApplyMulti after Redis forgot its scripts (SCRIPT FLUSH) loads them
// again.
func TestApplyMultiNoScript(t *testing.T) {
	s, c := newStore(t)
	exp := time.Now().Add(time.Hour)
	a, b := create(t, s), create(t, s)
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	res := s.ApplyMulti(ctx, []session.ApplyOp{
		{ID: a.ID, Update: upd(exp, prepared(t, inc("n", int64(1))))},
		{ID: b.ID, Update: upd(exp, prepared(t, inc("n", int64(2))))},
	})
	if res[0].Err != nil || res[1].Err != nil || res[0].Doc["n"] != int64(1) || res[1].Doc["n"] != int64(2) {
		t.Fatalf("after SCRIPT FLUSH: %+v", res)
	}
}

// TestHTTPBatchingAcrossRequests: 32 clients, each on its own session, send
// 40 read-and-increment requests each at once through the middleware. Every
// increment counts, and concurrent requests share pipelines: fewer round
// trips than requests.
func TestHTTPBatchingAcrossRequests(t *testing.T) {
	const clients, each = 32, 40
	s, w := countingStore(t)
	run := faultapp.LoadClients(t, s, false, clients)
	var sent int64
	_, _, trips := w.measure(func() { sent = run(each, 0) })
	if sent != clients*each {
		t.Fatalf("%d requests sent, want %d", sent, clients*each)
	}
	// Every session holds exactly its client's increments (+1: the request
	// that created it).
	keys, err := s.client.Keys(ctx, s.prefix+"{*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != clients {
		t.Fatalf("%d sessions, want %d", len(keys), clients)
	}
	for _, k := range keys {
		n, err := s.client.HGet(ctx, k, "n").Result()
		if err != nil || n != strconv.Itoa(each+1) {
			t.Fatalf("session %s: n = %q, %v; want %d", k, n, err, each+1)
		}
	}
	t.Logf("%d requests, %d Redis round trips: %.2f round trips per request", sent, trips, float64(trips)/float64(sent))
	if trips >= sent {
		t.Errorf("%d round trips for %d requests: batching saved none", trips, sent)
	}
}

// BenchmarkBatching measures requests per second of 16 clients, each on
// its own session, reading and incrementing one key, with batching across
// requests on and off, in interleaved rounds of one run, and reports both
// and their ratio (one run of several seconds, whatever b.N):
//
//	go test -run '^$' -bench Batching ./redis/
func BenchmarkBatching(b *testing.B) {
	const clients, rounds = 16, 12
	r := faultapp.BatchingOnOff(b, func() session.Store {
		s, _ := newStore(b)
		return s
	}, clients, rounds, 500*time.Millisecond)
	b.Logf("Redis, %d clients, read+inc: %v", clients, r)
	b.ReportMetric(r.On, "req/s-on")
	b.ReportMetric(r.Off, "req/s-off")
	b.ReportMetric(r.Median(), "on/off")
}

// In a Cluster, go-redis splits ApplyMulti's pipeline by node: every op
// still gets its own result.
func TestApplyMultiCluster(t *testing.T) {
	c := goredis.NewClusterClient(&goredis.ClusterOptions{
		Addrs:                 []string{testenv.RedisClusterAddr(t)},
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { _ = c.Close() })
	s := NewStore(c, WithPrefix(testenv.RedisPrefix(t)))
	exp := time.Now().Add(time.Hour)
	var ops []session.ApplyOp
	for i := range 30 {
		m := create(t, s)
		t.Cleanup(func() { _ = s.Delete(ctx, m.ID) })
		ops = append(ops, session.ApplyOp{ID: m.ID, Update: upd(exp, prepared(t, inc("n", int64(i))))})
	}
	ops = append(ops, session.ApplyOp{ID: "missing", Update: upd(exp, prepared(t, inc("n", int64(1))))})
	res := s.ApplyMulti(ctx, ops)
	for i, r := range res[:30] {
		if r.Err != nil || r.Doc["n"] != int64(i) {
			t.Fatalf("op %d: %v, %v", i, r.Doc, r.Err)
		}
	}
	if !errors.Is(res[30].Err, session.ErrNotFound) {
		t.Fatalf("missing: %v", res[30].Err)
	}
}
