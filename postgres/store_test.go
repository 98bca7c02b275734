package postgres_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atomicsession/atomicsession/postgres"
	"github.com/atomicsession/atomicsession/session"
)

var bg = context.Background()

func TestValuesRoundTrip(t *testing.T) {
	st := newStore(t, nil)
	when := time.Date(2024, 2, 29, 23, 59, 59, 123_456_789, time.FixedZone("x", 3600))
	values := map[string]any{
		"int":      int64(1),
		"intMax":   int64(math.MaxInt64),
		"intMin":   int64(math.MinInt64),
		"big":      int64(1<<53 + 1),
		"one":      1.0,
		"tenth":    0.1,
		"huge":     1e300,
		"tiny":     5e-324,
		"maxf":     math.MaxFloat64,
		"time":     when,
		"year0":    time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		"empty":    []any{},
		"emptyMap": map[string]any{},
		"nil":      nil,
		"true":     true,
		"str":      "héllo \"✓\"\n\t\\ \u2028",
		"nul":      "a\x00b",
		"nested":   map[string]any{"a": map[string]any{"b": []any{int64(1), 2.0, []any{}, map[string]any{"$": nil}}}, "0": "digits"},
	}
	values["nested"].(map[string]any)["a"].(map[string]any)["b"].([]any)[3] = map[string]any{"c": time.UnixMilli(1).UTC()}
	var cs []session.Command
	for k, v := range values {
		cs = append(cs, set(k, v))
	}
	m := newMeta(t, time.Hour)
	got, err := st.Create(bg, m, cmds(cs...))
	require.NoError(t, err)
	loaded, err := st.Load(bg, m.ID, nil)
	require.NoError(t, err)
	for _, doc := range []session.Doc{got, loaded} {
		for k, v := range values {
			want, err := session.Normalize(v)
			require.NoError(t, err)
			assert.Equal(t, want, doc[k], "key %s", k) // exact types: int64 stays int64, 1.0 float64
		}
		assert.Len(t, doc.User(), len(values))
	}
}

func TestResultHoldsOnlyTouchedKeys(t *testing.T) {
	st := newStore(t, nil)
	m := newMeta(t, time.Hour)
	m.UserID, m.Label = "u1", "phone"
	_, err := st.Create(bg, m, cmds(set("big", strings.Repeat("x", 1000)), set("a", int64(1)), set("b", int64(2))))
	require.NoError(t, err)
	u := cmds(inc("a", 1), set("c.d", "x"))
	u.Fetch = []string{"b", "nothere"}
	got, err := st.Apply(bg, m.ID, u)
	require.NoError(t, err)
	assert.Equal(t, session.Doc{"a": int64(2), "b": int64(2), "c": map[string]any{"d": "x"}}, got.User())
	meta, err := session.MetaOf(got)
	require.NoError(t, err)
	assert.Equal(t, "u1", meta.UserID)
	assert.Equal(t, "phone", meta.Label)
	assert.Equal(t, u.Expires.UnixMilli(), meta.Expires.UnixMilli())

	// Load by keys, and Touch.
	got, err = st.Load(bg, m.ID, []string{"a", "nothere"})
	require.NoError(t, err)
	assert.Equal(t, session.Doc{"a": int64(2)}, got.User())
	got, err = st.Load(bg, m.ID, []string{})
	require.NoError(t, err)
	assert.Empty(t, got.User())
	u = session.Update{Expires: time.Now().Add(2 * time.Hour), MaxAge: 2 * time.Hour, Label: "laptop"}
	got, err = st.Apply(bg, m.ID, u)
	require.NoError(t, err)
	assert.Empty(t, got.User())
	meta, _ = session.MetaOf(got)
	assert.Equal(t, 2*time.Hour, meta.MaxAge)
	assert.Equal(t, "laptop", meta.Label)
	u = session.Update{Expires: time.Now().Add(time.Hour), FetchAll: true}
	got, err = st.Apply(bg, m.ID, u)
	require.NoError(t, err)
	assert.Len(t, got.User(), 4)
}

func TestTakeReturnsTheValueBefore(t *testing.T) {
	st := newStore(t, nil)
	m := newMeta(t, time.Hour)
	_, err := st.Create(bg, m, cmds(set("flash", "hi"), set("d", map[string]any{"x": int64(1), "y": int64(2)})))
	require.NoError(t, err)
	got, err := st.Apply(bg, m.ID, cmds(session.Command{Op: session.OpTake, Path: "flash"}))
	require.NoError(t, err)
	assert.Equal(t, session.Doc{"flash": "hi"}, got.User())
	got, err = st.Apply(bg, m.ID, cmds(session.Command{Op: session.OpTake, Path: "flash"}))
	require.NoError(t, err)
	assert.Empty(t, got.User())
	got, err = st.Apply(bg, m.ID, cmds(session.Command{Op: session.OpTake, Path: "d.x"}))
	require.NoError(t, err)
	assert.Equal(t, session.Doc{"d": map[string]any{"x": int64(1), "y": int64(2)}}, got.User())
	got, err = st.Load(bg, m.ID, nil)
	require.NoError(t, err)
	assert.Equal(t, session.Doc{"d": map[string]any{"y": int64(2)}}, got.User())
}

// TestConcurrentIncrementsTwoInstances: two stores on two pools of 8
// connections, 32 goroutines × 50 increments on one session, end exact.
func TestConcurrentIncrementsTwoInstances(t *testing.T) {
	schema := testSchema(t)
	a := newStore(t, newPool(t, 8), postgres.WithSchema(schema))
	b := newStore(t, newPool(t, 8), postgres.WithSchema(schema))
	m := newMeta(t, time.Hour)
	_, err := a.Create(bg, m, cmds(set("n", int64(0))))
	require.NoError(t, err)
	const goroutines, increments = 32, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		st := a
		if g%2 == 1 {
			st = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range increments {
				u := cmds(inc("n", 1), inc("per."+string(rune('a'+g%26)), 1))
				if i%2 == 0 {
					u = cmds(inc("n", 1))
				}
				if _, err := st.Apply(bg, m.ID, u); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	doc, err := b.Load(bg, m.ID, []string{"n"})
	require.NoError(t, err)
	assert.Equal(t, int64(goroutines*increments), doc["n"])
}

// TestDifferentSessionsDoNotContend: a transaction holding one session's
// row lock does not delay a batch on another session, and delays one on
// the same session until it ends.
func TestDifferentSessionsDoNotContend(t *testing.T) {
	schema := testSchema(t)
	pool := newPool(t, 8)
	st := newStore(t, pool, postgres.WithSchema(schema))
	m1, m2 := newMeta(t, time.Hour), newMeta(t, time.Hour)
	_, err := st.Create(bg, m1, cmds(set("n", int64(0))))
	require.NoError(t, err)
	_, err = st.Create(bg, m2, cmds(set("n", int64(0))))
	require.NoError(t, err)
	tx, err := pool.Begin(bg)
	require.NoError(t, err)
	defer tx.Rollback(bg)
	_, err = tx.Exec(bg, `SELECT 1 FROM `+st.TableName("sessions")+` WHERE id = $1 FOR UPDATE`, m1.ID)
	require.NoError(t, err)

	// Another session goes through at once.
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	_, err = st.Apply(ctx, m2.ID, cmds(inc("n", 1)))
	require.NoError(t, err)

	// The locked one waits until the lock goes.
	done := make(chan error, 1)
	go func() {
		_, err := st.Apply(ctx, m1.ID, cmds(inc("n", 1)))
		done <- err
	}()
	waitForLockWaiter(t, pool) // the batch is waiting for the row lock
	select {
	case err := <-done:
		t.Fatalf("a batch on the locked session returned (%v) while another transaction held its row", err)
	default:
	}
	require.NoError(t, tx.Rollback(bg))
	require.NoError(t, <-done)
	doc, err := st.Load(bg, m1.ID, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(1), doc["n"])
}

func TestLifecycle(t *testing.T) {
	now := time.Now()
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	st := newStore(t, nil, postgres.WithClock(func() time.Time { return *clock.Load() }))
	m := newMeta(t, time.Minute)
	m.Created, m.Expires = now, now.Add(time.Minute)

	_, err := st.Apply(bg, m.ID, cmds(set("a", int64(1))))
	assert.ErrorIs(t, err, session.ErrNotFound, "Apply never creates")
	_, err = st.Load(bg, m.ID, nil)
	assert.ErrorIs(t, err, session.ErrNotFound)

	_, err = st.Create(bg, m, cmds(set("a", int64(1))))
	require.NoError(t, err)
	_, err = st.Create(bg, m, cmds(set("a", int64(2))))
	assert.ErrorIs(t, err, session.ErrConflict)

	// A failing command stores nothing, Create included.
	m2 := newMeta(t, time.Minute)
	_, err = st.Create(bg, m2, cmds(set("x", "s"), inc("x", 1)))
	var ce *session.CommandError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 1, ce.Index)
	assert.ErrorIs(t, err, session.ErrTypeMismatch)
	_, err = st.Load(bg, m2.ID, nil)
	assert.ErrorIs(t, err, session.ErrNotFound)
	_, err = st.Apply(bg, m.ID, cmds(set("b", int64(1)), inc("a.x", 1)))
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 1, ce.Index)
	doc, err := st.Load(bg, m.ID, nil)
	require.NoError(t, err)
	assert.Equal(t, session.Doc{"a": int64(1)}, doc.User(), "nothing of the failed batch landed")
	assert.Equal(t, m.Expires.UnixMilli(), doc[session.FieldExpires].(time.Time).UnixMilli(), "nor its expiry")

	// Expired: not loaded, not changed, not resurrected; replaced by Create.
	later := now.Add(2 * time.Minute)
	clock.Store(&later)
	_, err = st.Load(bg, m.ID, nil)
	assert.ErrorIs(t, err, session.ErrNotFound)
	_, err = st.Apply(bg, m.ID, session.Update{Expires: later.Add(time.Hour), Commands: cmds(set("z", int64(1))).Commands})
	assert.ErrorIs(t, err, session.ErrNotFound)
	m3 := m
	m3.Created, m3.Expires = later, later.Add(time.Minute)
	_, err = st.Create(bg, m3, cmds(set("fresh", true)))
	require.NoError(t, err)
	doc, err = st.Load(bg, m.ID, nil)
	require.NoError(t, err)
	assert.Equal(t, session.Doc{"fresh": true}, doc.User(), "the expired session's keys went with it")

	// Delete removes; deleting again is a no-op; Apply then fails.
	require.NoError(t, st.Delete(bg, m.ID))
	require.NoError(t, st.Delete(bg, m.ID))
	_, err = st.Apply(bg, m.ID, cmds(set("a", int64(1))))
	assert.ErrorIs(t, err, session.ErrNotFound)
}

func TestSweep(t *testing.T) {
	now := time.Now()
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	pool := newPool(t, 4)
	st := newStore(t, pool, postgres.WithClock(func() time.Time { return *clock.Load() }))
	for i := range 1500 {
		m := newMeta(t, time.Minute)
		if i < 5 {
			m.Expires = now.Add(time.Hour)
		}
		_, err := st.Create(bg, m, cmds(set("k", int64(i))))
		require.NoError(t, err)
	}
	n, err := st.Sweep(bg)
	require.NoError(t, err)
	assert.Zero(t, n)
	later := now.Add(2 * time.Minute)
	clock.Store(&later)
	n, err = st.Sweep(bg)
	require.NoError(t, err)
	assert.EqualValues(t, 1495, n)
	var sessions, keys int
	require.NoError(t, pool.QueryRow(bg, `SELECT (SELECT count(*) FROM `+st.TableName("sessions")+`), (SELECT count(*) FROM `+st.TableName("keys")+`)`).Scan(&sessions, &keys))
	assert.Equal(t, 5, sessions)
	assert.Equal(t, 5, keys, "the keys went with their sessions")
}

func TestBackgroundSweeper(t *testing.T) {
	schema := testSchema(t)
	pool := newPool(t, 4)
	st := newStore(t, pool, postgres.WithSchema(schema))
	m := newMeta(t, 50*time.Millisecond)
	_, err := st.Create(bg, m, cmds(set("a", int64(1))))
	require.NoError(t, err)
	sweeper := postgres.NewStore(pool, postgres.WithSchema(schema), postgres.WithSweepInterval(20*time.Millisecond))
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		require.NoError(t, pool.QueryRow(bg, `SELECT count(*) FROM `+st.TableName("sessions")).Scan(&n))
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background sweeper did not delete the expired session")
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, sweeper.Close())
	require.NoError(t, sweeper.Close())
}

func TestUserIndex(t *testing.T) {
	now := time.Now()
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	st := newStore(t, nil, postgres.WithClock(func() time.Time { return *clock.Load() }))
	var ids []string
	for i := range 3 {
		m := newMeta(t, time.Hour)
		m.UserID = "alice"
		if i == 2 {
			m.Expires = now.Add(time.Minute)
			m.Label = "old phone"
		}
		_, err := st.Create(bg, m, cmds(set("a", int64(i))))
		require.NoError(t, err)
		ids = append(ids, m.ID)
	}
	other := newMeta(t, time.Hour)
	other.UserID = "bob"
	_, err := st.Create(bg, other, session.Update{})
	require.NoError(t, err)
	anon := newMeta(t, time.Hour)
	_, err = st.Create(bg, anon, session.Update{})
	require.NoError(t, err)

	list, err := st.UserSessions(bg, "alice")
	require.NoError(t, err)
	assert.Len(t, list, 3)
	for _, m := range list {
		assert.Equal(t, "alice", m.UserID)
		assert.Contains(t, ids, m.ID)
	}
	list, err = st.UserSessions(bg, "nobody")
	require.NoError(t, err)
	assert.NotNil(t, list)
	assert.Empty(t, list)
	list, err = st.UserSessions(bg, "")
	require.NoError(t, err)
	assert.Empty(t, list, "sessions bound to no user are no user's")

	// Expired sessions are not listed.
	later := now.Add(2 * time.Minute)
	clock.Store(&later)
	list, err = st.UserSessions(bg, "alice")
	require.NoError(t, err)
	assert.Len(t, list, 2)

	n, err := st.DeleteUserSessions(bg, "alice", ids[0])
	require.NoError(t, err)
	assert.Equal(t, 1, n, "one live session deleted, the expired one not counted")
	list, err = st.UserSessions(bg, "alice")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, ids[0], list[0].ID)
	_, err = st.Apply(bg, ids[1], cmds(set("a", int64(9))))
	assert.ErrorIs(t, err, session.ErrNotFound, "a revoked session is not brought back")
	_, err = st.Load(bg, other.ID, nil)
	assert.NoError(t, err, "bob's session stays")

	n, err = st.DeleteUserSessions(bg, "alice")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	list, err = st.UserSessions(bg, "alice")
	require.NoError(t, err)
	assert.Empty(t, list)

	// The index does not grow as sessions expire: Sweep removes them.
	for range 3 {
		m := newMeta(t, time.Minute)
		m.UserID = "carol"
		m.Created, m.Expires = later, later.Add(time.Minute)
		_, err := st.Create(bg, m, session.Update{})
		require.NoError(t, err)
	}
	evenLater := later.Add(time.Hour + time.Minute)
	clock.Store(&evenLater)
	_, err = st.Sweep(bg)
	require.NoError(t, err)
	var rows int
	require.NoError(t, st.Pool().QueryRow(bg, `SELECT count(*) FROM `+st.TableName("sessions")+` WHERE user_id IS NOT NULL`).Scan(&rows))
	assert.Zero(t, rows, "no user's expired session stays in the index after Sweep")
}

// TestUserIndexUsesTheIndex: listing and revoking a user's sessions read
// the index on user_id, not the table (EXPLAIN on 3,000 other sessions).
func TestUserIndexUsesTheIndex(t *testing.T) {
	pool := newPool(t, 4)
	st := newStore(t, pool)
	_, err := pool.Exec(bg, `INSERT INTO `+st.TableName("sessions")+` (id, expires, max_age, created, user_id)
		SELECT 's' || i, now() + interval '1 hour', 3600000, now(), 'user' || (i % 1000) FROM generate_series(1, 3000) i`)
	require.NoError(t, err)
	_, err = pool.Exec(bg, `ANALYZE `+st.TableName("sessions"))
	require.NoError(t, err)
	for _, q := range []string{
		`SELECT id FROM ` + st.TableName("sessions") + ` WHERE user_id = 'user7' AND expires > now()`,
		`DELETE FROM ` + st.TableName("sessions") + ` WHERE user_id = 'user7' AND NOT (id = ANY ('{}'))`,
	} {
		var plan strings.Builder
		rows, err := pool.Query(bg, "EXPLAIN "+q)
		require.NoError(t, err)
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			plan.WriteString(line + "\n")
		}
		require.NoError(t, rows.Err())
		assert.Contains(t, plan.String(), "atomicsession_sessions_user", plan.String())
		assert.NotContains(t, plan.String(), "Seq Scan", plan.String())
	}
	list, err := st.UserSessions(bg, "user7")
	require.NoError(t, err)
	assert.Len(t, list, 3)
}

func TestEnsureSchemaConcurrentAndIdempotent(t *testing.T) {
	schema := testSchema(t)
	pool := newPool(t, 8)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = postgres.NewStore(pool, postgres.WithSchema(schema)).EnsureSchema(bg)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	st := postgres.NewStore(pool, postgres.WithSchema(schema))
	require.NoError(t, st.EnsureSchema(bg))
	var version int
	require.NoError(t, pool.QueryRow(bg, `SELECT version FROM `+st.TableName("schema_version")).Scan(&version))
	assert.Equal(t, postgres.SchemaVersion, version)

	// A newer version in the database is refused.
	_, err := pool.Exec(bg, `UPDATE `+st.TableName("schema_version")+` SET version = version + 1`)
	require.NoError(t, err)
	err = st.EnsureSchema(bg)
	assert.ErrorContains(t, err, "newer")

	// Another prefix in the same schema is another store.
	other := postgres.NewStore(pool, postgres.WithSchema(schema), postgres.WithTablePrefix("other_"))
	require.NoError(t, other.EnsureSchema(bg))
	m := newMeta(t, time.Hour)
	_, err = other.Create(bg, m, cmds(set("a", int64(1))))
	require.NoError(t, err)
	_, err = st.Load(bg, m.ID, nil)
	assert.ErrorIs(t, err, session.ErrNotFound)
}

func TestBadConfiguration(t *testing.T) {
	pool := newPool(t, 2)
	for _, st := range []*postgres.Store{
		postgres.NewStore(nil),
		postgres.NewStore(pool, postgres.WithTablePrefix("bad prefix; DROP")),
	} {
		assert.Error(t, st.EnsureSchema(bg))
		_, err := st.Load(bg, "x", nil)
		assert.Error(t, err)
		_, err = st.Create(bg, newMeta(t, time.Hour), session.Update{})
		assert.Error(t, err)
		_, err = st.Apply(bg, "x", session.Update{})
		assert.Error(t, err)
		assert.Error(t, st.Delete(bg, "x"))
		_, err = st.UserSessions(bg, "u")
		assert.Error(t, err)
		_, err = st.DeleteUserSessions(bg, "u")
		assert.Error(t, err)
		_, err = st.Sweep(bg)
		assert.Error(t, err)
		assert.NoError(t, st.Close())
	}
}

func TestInvalidCommands(t *testing.T) {
	st := newStore(t, nil)
	m := newMeta(t, time.Hour)
	_, err := st.Create(bg, m, session.Update{})
	require.NoError(t, err)
	for _, c := range []session.Command{
		{Op: session.OpSet, Path: "_id", Value: int64(1)},
		{Op: session.OpSet, Path: "a..b", Value: int64(1)},
		{Op: session.OpSet, Path: "a", Value: struct{}{}},
		{Op: session.OpSet, Path: "a", Value: math.NaN()},
		{Op: session.OpSet, Path: "a", Value: map[string]any{"$t": int64(1)}},
		{Op: session.OpInc, Path: "a", Value: "1"},
		{Op: session.OpPop, Path: "a", Value: int64(2)},
		{Op: session.OpRename, Path: "a", To: "a.b"},
		{Op: session.OpPush, Path: "a", Slice: -1},
		{Op: 99, Path: "a"},
	} {
		_, err := st.Apply(bg, m.ID, session.Update{Commands: []session.Command{c}, Expires: time.Now().Add(time.Hour)})
		var ce *session.CommandError
		assert.ErrorAs(t, err, &ce, "%v", c)
	}
}

func TestOperatorEdges(t *testing.T) {
	st := newStore(t, nil)
	m := newMeta(t, time.Hour)
	_, err := st.Create(bg, m, cmds(set("i", int64(math.MaxInt64-1)), set("f", math.MaxFloat64), set("t", time.Now()), set("one", 0.5)))
	require.NoError(t, err)
	_, err = st.Apply(bg, m.ID, cmds(inc("i", 1)))
	require.NoError(t, err)
	_, err = st.Apply(bg, m.ID, cmds(inc("i", 1)))
	assert.ErrorIs(t, err, session.ErrTypeMismatch, "int64 overflow")
	_, err = st.Apply(bg, m.ID, cmds(inc("f", math.MaxFloat64)))
	assert.ErrorIs(t, err, session.ErrTypeMismatch, "float overflow")
	_, err = st.Apply(bg, m.ID, cmds(inc("t", 1)))
	assert.ErrorIs(t, err, session.ErrTypeMismatch, "a time is no number")
	_, err = st.Apply(bg, m.ID, cmds(set("t.x", 1)))
	assert.ErrorIs(t, err, session.ErrTypeMismatch, "a time is no document")
	doc, err := st.Apply(bg, m.ID, cmds(inc("one", 0.5)))
	require.NoError(t, err)
	assert.Equal(t, 1.0, doc["one"], "1.0 stays a float")
	doc, err = st.Apply(bg, m.ID, cmds(inc("i", -1)))
	require.NoError(t, err)
	assert.Equal(t, int64(math.MaxInt64-1), doc["i"])
}

func TestUnreachableAndCancelled(t *testing.T) {
	cfg, err := pgxpool.ParseConfig("postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	require.NoError(t, err)
	pool, err := pgxpool.NewWithConfig(bg, cfg)
	require.NoError(t, err)
	defer pool.Close()
	st := postgres.NewStore(pool)
	assert.Error(t, st.EnsureSchema(bg))
	_, err = st.Load(bg, "x", nil)
	assert.Error(t, err)
	_, err = st.Create(bg, newMeta(t, time.Hour), cmds(set("a", int64(1))))
	assert.Error(t, err)
	_, err = st.Apply(bg, "x", cmds(set("a", int64(1))))
	assert.Error(t, err)
	assert.Error(t, st.Delete(bg, "x"))
	_, err = st.UserSessions(bg, "u")
	assert.Error(t, err)
	_, err = st.DeleteUserSessions(bg, "u")
	assert.Error(t, err)

	live := newStore(t, nil)
	m := newMeta(t, time.Hour)
	_, err = live.Create(bg, m, cmds(set("a", int64(1))))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	_, err = live.Load(ctx, m.ID, nil)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = live.Apply(ctx, m.ID, cmds(set("a", int64(2))))
	assert.ErrorIs(t, err, context.Canceled)
	_, err = live.Create(ctx, newMeta(t, time.Hour), session.Update{})
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, live.Delete(ctx, m.ID), context.Canceled)
	assert.True(t, errors.Is(live.EnsureSchema(ctx), context.Canceled))
	doc, err := live.Load(bg, m.ID, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(1), doc["a"])
}

// TestQueryExecModes: the store works in every pgx query mode, including
// the simple protocol and the modes that PgBouncer's transaction pooling
// needs, with exact values.
func TestQueryExecModes(t *testing.T) {
	schema := testSchema(t)
	newStore(t, nil, postgres.WithSchema(schema))
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec,
		pgx.QueryExecModeDescribeExec, pgx.QueryExecModeCacheDescribe, pgx.QueryExecModeCacheStatement} {
		t.Run(mode.String(), func(t *testing.T) {
			pool := newPool(t, 2, func(cfg *pgxpool.Config) { cfg.ConnConfig.DefaultQueryExecMode = mode })
			st := postgres.NewStore(pool, postgres.WithSchema(schema))
			m := newMeta(t, time.Hour)
			m.UserID = "mode-user"
			values := session.Doc{"i": int64(math.MaxInt64), "f": 1.0, "s": "it's \"q\" \\ \x00", "t": time.UnixMilli(1234).UTC(),
				"l": []any{}, "m": map[string]any{"x": []any{int64(1)}}}
			var cs []session.Command
			for k, v := range values {
				cs = append(cs, set(k, v))
			}
			_, err := st.Create(bg, m, cmds(cs...))
			require.NoError(t, err)
			doc, err := st.Apply(bg, m.ID, cmds(inc("f", 0.5)))
			require.NoError(t, err)
			assert.Equal(t, 1.5, doc["f"])
			doc, err = st.Load(bg, m.ID, []string{"i", "s", "t", "l", "m"})
			require.NoError(t, err)
			for _, k := range []string{"i", "s", "t", "l", "m"} {
				assert.Equal(t, values[k], doc[k], k)
			}
			doc, err = st.Apply(bg, m.ID, cmds(session.Command{Op: session.OpTake, Path: "s"}))
			require.NoError(t, err)
			assert.Equal(t, values["s"], doc["s"])
			list, err := st.UserSessions(bg, "mode-user")
			require.NoError(t, err)
			assert.Len(t, list, 1)
			n, err := st.DeleteUserSessions(bg, "mode-user")
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			_, err = st.Sweep(bg)
			require.NoError(t, err)
			require.NoError(t, st.Delete(bg, m.ID))
		})
	}
}

// TestConnectionsKilled: when the server ends every connection of the
// pool (a restart, a failover), calls fail with errors, never panics, and
// a later call works again on new connections.
func TestConnectionsKilled(t *testing.T) {
	app := testSchema(t) // a unique name: only this pool's connections die
	pool := newPool(t, 4, func(cfg *pgxpool.Config) { cfg.ConnConfig.RuntimeParams["application_name"] = app })
	st := newStore(t, pool)
	m := newMeta(t, time.Hour)
	_, err := st.Create(bg, m, cmds(set("n", int64(0))))
	require.NoError(t, err)
	killer := newPool(t, 1)
	var killed int
	require.NoError(t, killer.QueryRow(bg, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, app).Scan(&killed))
	require.Positive(t, killed)
	ok := false
	for range 6 {
		if _, err := st.Apply(bg, m.ID, cmds(inc("n", 1))); err == nil {
			ok = true
			break
		}
	}
	require.True(t, ok, "no call succeeded after the connections were killed")
	doc, err := st.Load(bg, m.ID, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(1), doc["n"])
}
