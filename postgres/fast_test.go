package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atomicsession/atomicsession/postgres"
	"github.com/atomicsession/atomicsession/session"
)

// sqlRecorder is a pgx QueryTracer that keeps the SQL of every query.
type sqlRecorder struct {
	mu  sync.Mutex
	sql []string
}

func (r *sqlRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	r.sql = append(r.sql, d.SQL)
	r.mu.Unlock()
	return ctx
}

func (r *sqlRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// take returns the SQL recorded since the last take.
func (r *sqlRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sql
	r.sql = nil
	return out
}

func callsFunction(sql []string) bool {
	for _, q := range sql {
		if strings.Contains(q, `_apply"(`) {
			return true
		}
	}
	return false
}

// A batch of top-level $set and $unset with keys to fetch is one plain
// statement, not a call of the plpgsql apply function; any other operator
// or a dotted path goes to the function.
func TestFastPathIsOnePlainStatement(t *testing.T) {
	rec := &sqlRecorder{}
	st := newStore(t, newPool(t, 2, func(cfg *pgxpool.Config) { cfg.ConnConfig.Tracer = rec }))
	m := newMeta(t, time.Hour)
	m.UserID, m.Label = "u1", "phone"
	_, err := st.Create(bg, m, cmds(set("user", "alice"), set("gone", int64(1)), set("other", 1.5)))
	require.NoError(t, err)
	rec.take()

	u := cmds(set("seen", int64(7)), session.Command{Op: session.OpUnset, Path: "gone"}, set("x", "a"), set("x", "b"))
	u.Fetch = []string{"user", "gone", "nothere"}
	got, err := st.Apply(bg, m.ID, u)
	require.NoError(t, err)
	sql := rec.take()
	assert.Len(t, sql, 1)
	assert.False(t, callsFunction(sql), "the fast path calls no function: %q", sql)
	assert.Equal(t, session.Doc{"seen": int64(7), "x": "b", "user": "alice"}, got.User())
	meta, err := session.MetaOf(got)
	require.NoError(t, err)
	assert.Equal(t, "u1", meta.UserID)
	assert.Equal(t, "phone", meta.Label)
	assert.Equal(t, m.MaxAge, meta.MaxAge)
	assert.WithinDuration(t, u.Expires, meta.Expires, time.Millisecond)

	all := cmds(set("seen", int64(8)))
	all.FetchAll = true
	got, err = st.Apply(bg, m.ID, all)
	require.NoError(t, err)
	assert.Equal(t, session.Doc{"seen": int64(8), "x": "b", "user": "alice", "other": 1.5}, got.User())
	assert.False(t, callsFunction(rec.take()))

	for _, c := range []session.Command{inc("n", 1), set("a.b", int64(1)), {Op: session.OpTake, Path: "x"}} {
		_, err := st.Apply(bg, m.ID, cmds(c))
		require.NoError(t, err)
		assert.True(t, callsFunction(rec.take()), "%s goes to the function", c)
	}
}

// waitForLockWaiter waits until some backend waits for a lock.
func waitForLockWaiter(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	for i := 0; ; i++ {
		var n int
		err := pool.QueryRow(bg, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&n)
		require.NoError(t, err)
		if n > 0 {
			return
		}
		if i > 2000 {
			t.Fatal("no statement waits for the session's lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lockedChange begins a transaction on pool that changes session id as a
// batch of the store would (its row first, then its keys: "user" is
// replaced, "fresh" is a new key), and returns it uncommitted, holding the
// session's row lock.
func lockedChange(t *testing.T, st *postgres.Store, pool *pgxpool.Pool, id string) pgx.Tx {
	t.Helper()
	tx, err := pool.Begin(bg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(bg) })
	_, err = tx.Exec(bg, `UPDATE `+st.TableName("sessions")+` SET expires = expires WHERE id = $1`, id)
	require.NoError(t, err)
	_, err = tx.Exec(bg, `INSERT INTO `+st.TableName("keys")+` (session_id, key, value) VALUES ($1, 'user', '"bob"'), ($1, 'fresh', '1')
		ON CONFLICT (session_id, key) DO UPDATE SET value = excluded.value`, id)
	require.NoError(t, err)
	return tx
}

// A fast batch that waits for the session's lock while another batch
// changes the session sees that batch's result: its fetch reads the value
// the other batch wrote, and its $unset removes the key the other batch
// added. (The statement's snapshot predates the other batch's commit; it
// must not apply on it.)
func TestFastPathAfterLockWait(t *testing.T) {
	for _, multi := range []bool{false, true} {
		t.Run(fmt.Sprintf("multi=%v", multi), func(t *testing.T) {
			pool := newPool(t, 8)
			st := newStore(t, pool)
			m := newMeta(t, time.Hour)
			_, err := st.Create(bg, m, cmds(set("user", "alice")))
			require.NoError(t, err)
			other := newMeta(t, time.Hour)
			_, err = st.Create(bg, other, cmds(set("user", "carol")))
			require.NoError(t, err)
			tx := lockedChange(t, st, pool, m.ID)

			u := cmds(set("seen", int64(1)), session.Command{Op: session.OpUnset, Path: "fresh"})
			u.Fetch = []string{"user"}
			type result struct {
				doc session.Doc
				err error
			}
			done := make(chan result, 1)
			go func() {
				if !multi {
					doc, err := st.Apply(bg, m.ID, u)
					done <- result{doc, err}
					return
				}
				ou := cmds(set("seen", int64(2)))
				ou.Fetch = []string{"user"}
				res := st.ApplyMulti(bg, []session.ApplyOp{{ID: other.ID, Update: ou}, {ID: m.ID, Update: u}})
				if res[0].Err == nil && res[0].Doc["user"] != "carol" {
					res[0].Err = fmt.Errorf("the other session's op gives %v", res[0].Doc)
				}
				done <- result{res[1].Doc, errors.Join(res[0].Err, res[1].Err)}
			}()
			waitForLockWaiter(t, pool)
			require.NoError(t, tx.Commit(bg))
			r := <-done
			require.NoError(t, r.err)
			assert.Equal(t, session.Doc{"user": "bob", "seen": int64(1)}, r.doc.User())
			loaded, err := st.Load(bg, m.ID, nil)
			require.NoError(t, err)
			assert.Equal(t, session.Doc{"user": "bob", "seen": int64(1)}, loaded.User(), "the key added while the batch waited is unset")
		})
	}
}

// A fast batch on a session deleted while it waited, or expired, fails
// with session.ErrNotFound and creates nothing.
func TestFastPathNeverRevives(t *testing.T) {
	pool := newPool(t, 4)
	now := time.Now()
	clock := func() time.Time { return now }
	st := newStore(t, pool, postgres.WithClock(func() time.Time { return clock() }))
	m := newMeta(t, time.Minute)
	_, err := st.Create(bg, m, cmds(set("user", "alice")))
	require.NoError(t, err)

	tx, err := pool.Begin(bg)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(bg) }()
	_, err = tx.Exec(bg, `DELETE FROM `+st.TableName("sessions")+` WHERE id = $1`, m.ID)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := st.Apply(bg, m.ID, cmds(set("seen", int64(1))))
		done <- err
	}()
	waitForLockWaiter(t, pool)
	require.NoError(t, tx.Commit(bg))
	assert.ErrorIs(t, <-done, session.ErrNotFound)
	var n int
	require.NoError(t, pool.QueryRow(bg, `SELECT count(*) FROM `+st.TableName("keys")+` WHERE session_id = $1`, m.ID).Scan(&n))
	assert.Zero(t, n)

	m2 := newMeta(t, time.Minute)
	_, err = st.Create(bg, m2, cmds(set("user", "alice")))
	require.NoError(t, err)
	now = now.Add(2 * time.Minute)
	u := cmds(set("user", "mallory"))
	u.Expires = now.Add(time.Hour)
	_, err = st.Apply(bg, m2.ID, u)
	assert.ErrorIs(t, err, session.ErrNotFound)
	now = now.Add(-2 * time.Minute)
	loaded, err := st.Load(bg, m2.ID, nil)
	require.NoError(t, err, "the expired session is left as it was")
	assert.Equal(t, "alice", loaded["user"])
}

// fastValues are the values TestDifferentialFastPath sets: every JSON kind,
// numbers at the int64 and float64 edges, times, NUL and quotes in text,
// nested documents and arrays.
var fastValues = []any{nil, true, false, "", "héllo ✓", "nul\x00byte", "quote\"\\\n", int64(0), int64(-3),
	int64(1<<53 + 1), int64(math.MaxInt64), int64(math.MinInt64), 0.1, 1.0, 1e21, 5e-324, math.MaxFloat64,
	time.Date(2020, 1, 2, 3, 4, 5, 6_000_000, time.UTC), []any{}, []any{int64(1), "x", []any{1.5}},
	map[string]any{}, map[string]any{"x": map[string]any{"y": []any{nil}}, "0": int64(2)}}

// TestDifferentialFastPath compares the fast path's batches (top-level
// $set and $unset only, with keys to fetch, repeated keys included) with
// session.ApplyCommands, through Apply and ApplyMulti; the conformance
// suite's Differential subtest covers every operator.
func TestDifferentialFastPath(t *testing.T) {
	st := newStore(t, nil)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(uint64(seed), 7))
	keys := []string{"a", "b", "n", "l", "s"}
	batch := func() session.Update {
		u := session.Update{Expires: time.Now().Add(time.Hour)}
		for range 1 + r.IntN(4) {
			c := session.Command{Op: session.OpUnset, Path: keys[r.IntN(len(keys))]}
			if r.IntN(3) > 0 {
				c = set(c.Path, fastValues[r.IntN(len(fastValues))])
			}
			p, err := session.PrepareCommand(c)
			require.NoError(t, err)
			u.Commands = append(u.Commands, p)
		}
		switch r.IntN(4) {
		case 0:
			u.FetchAll = true
		case 1:
			u.Fetch = []string{append(keys, "missing")[r.IntN(len(keys)+1)]}
		}
		return u
	}
	steps := 300
	if testing.Short() {
		steps = 80
	}
	m := newMeta(t, time.Hour)
	_, err := st.Create(bg, m, session.Update{})
	require.NoError(t, err)
	model := m.Doc()
	for step := range steps {
		u := batch()
		ref, refErr := session.ApplyCommands(model, u.Commands)
		var got session.Doc
		if step%2 == 0 {
			got, err = st.Apply(bg, m.ID, u)
		} else { // with an op on another session, so that it is a pipeline
			res := st.ApplyMulti(bg, []session.ApplyOp{{ID: m.ID, Update: u}, {ID: "missing-" + m.ID, Update: u}})
			got, err = res[0].Doc, res[0].Err
			assert.ErrorIs(t, res[1].Err, session.ErrNotFound)
		}
		compare(t, fmt.Sprintf("seed %d, step %d", seed, step), "Apply", u, model, ref, refErr, got, err)
		model = ref
		if step%10 == 0 {
			loaded, err := st.Load(bg, m.ID, nil)
			if err != nil || !session.Equal(map[string]any(loaded.User()), map[string]any(model.User())) {
				t.Fatalf("seed %d, step %d: Load gives %v, err %v; the reference has %v", seed, step, loaded.User(), err, model.User())
			}
		}
	}
}

// An invalid command of a fast batch fails with the same
// *session.CommandError as through the function, and changes nothing.
func TestFastPathInvalidCommand(t *testing.T) {
	st := newStore(t, nil)
	m := newMeta(t, time.Hour)
	_, err := st.Create(bg, m, cmds(set("user", "alice")))
	require.NoError(t, err)
	u := cmds(set("a", int64(1)), set("b", int64(2)), set("a", int64(3)))
	u.Commands[1].Value = struct{}{}
	_, err = st.Apply(bg, m.ID, u)
	var ce *session.CommandError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 1, ce.Index)
	assert.ErrorIs(t, err, session.ErrInvalidValue)
	u = cmds(set("a", int64(1)), set("a", int64(2)))
	u.Commands[0].Value = struct{}{} // overwritten, but invalid all the same
	_, err = st.Apply(bg, m.ID, u)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 0, ce.Index)
	loaded, err := st.Load(bg, m.ID, nil)
	require.NoError(t, err)
	assert.Equal(t, session.Doc{"user": "alice"}, loaded.User())
}

// TestFastPathStoreBuffering is the store-buffering litmus test of the
// fast statement's snapshot check: batch 1 sets x and fetches y, batch 2
// sets y (or, every other round, increments it through the function) and
// fetches x, both at once on one session. In any serial order one of them
// sees the other's write; without the xmin check both can miss it. Run
// with the planner's generic plan too, where the check is an InitPlan.
func TestFastPathStoreBuffering(t *testing.T) {
	for _, generic := range []bool{false, true} {
		t.Run(fmt.Sprint("generic=", generic), func(t *testing.T) {
			pool := newPool(t, 8, func(c *pgxpool.Config) {
				if generic {
					c.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
				}
			})
			st := newStore(t, pool)
			for round := range 200 {
				m := newMeta(t, time.Hour)
				if _, err := st.Create(bg, m, cmds(set("z", int64(0)))); err != nil {
					t.Fatal(err)
				}
				u1 := cmds(set("x", int64(1)))
				u1.Fetch = []string{"y"}
				u2 := cmds(set("y", int64(1)))
				if round%2 == 1 {
					u2 = cmds(inc("y", int64(1)))
				}
				u2.Fetch = []string{"x"}
				var d1, d2 session.Doc
				var e1, e2 error
				var wg sync.WaitGroup
				start := make(chan struct{})
				wg.Add(2)
				go func() { defer wg.Done(); <-start; d1, e1 = st.Apply(bg, m.ID, u1) }()
				go func() { defer wg.Done(); <-start; d2, e2 = st.Apply(bg, m.ID, u2) }()
				close(start)
				wg.Wait()
				if e1 != nil || e2 != nil {
					t.Fatalf("round %d: %v, %v", round, e1, e2)
				}
				_, sawY := d1["y"]
				_, sawX := d2["x"]
				if !sawY && !sawX {
					t.Fatalf("round %d: neither batch saw the other's write: %v, %v", round, d1.User(), d2.User())
				}
			}
		})
	}
}

// compare fails the test unless the store's error (class and failing
// command) and result agree with the reference's.
func compare(t *testing.T, where, call string, u session.Update, before, ref session.Doc, refErr error, got session.Doc, err error) {
	t.Helper()
	if class(err) != class(refErr) || index(err) != index(refErr) {
		t.Fatalf("%s: %s(%v) on %v:\n store error %v\n reference error %v", where, call, u.Commands, before.User(), err, refErr)
	}
	if err != nil {
		return
	}
	want := u.Result(before, ref).User()
	if !session.Equal(map[string]any(got.User()), map[string]any(want)) {
		t.Fatalf("%s: %s(%v, fetch %v all %v) on %v:\n store gives %v\n reference gives %v", where, call, u.Commands,
			u.Fetch, u.FetchAll, before.User(), got.User(), want)
	}
}

func class(err error) string {
	for _, e := range []error{session.ErrTypeMismatch, session.ErrConflict, session.ErrInvalidValue, session.ErrInvalidKey, session.ErrNotFound} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

func index(err error) int {
	var ce *session.CommandError
	if errors.As(err, &ce) {
		return ce.Index
	}
	return -1
}
