package postgres_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atomicsession/atomicsession/postgres"
	"github.com/atomicsession/atomicsession/session"
)

// rawFixture is the benchmark's request on the store and on the raw
// table: read key "user" and set "seen", on a session of about 1 KB.
type rawFixture struct {
	st     *postgres.Store
	pool   *pgxpool.Pool
	id     string
	u      session.Update
	rawSQL string
	seen   int64 // the value of the next write: each one changes the session
}

// newRawFixture makes a session {user, n, blob (size bytes)} in the store
// and the same session as one row of a table with a column per key, the
// raw store of the bench command's throughput table.
func newRawFixture(b *testing.B, size int) *rawFixture {
	pool := newPool(b, 8)
	st := newStore(b, pool)
	m := newMeta(b, time.Hour)
	filler := randomText(b, size)
	if _, err := st.Create(bg, m, cmds(set("user", "alice"), set("n", int64(0)), set("blob", filler))); err != nil {
		b.Fatal(err)
	}
	schema := testSchema(b)
	table := pgx.Identifier{schema, "raw_sessions"}.Sanitize()
	if _, err := pool.Exec(bg, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(bg, `CREATE TABLE `+table+` (id text PRIMARY KEY, expires timestamptz NOT NULL,
		"user" text, n bigint, seen bigint, blob text)`); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(bg, `INSERT INTO `+table+` (id, expires, "user", n, blob) VALUES ($1, $2, 'alice', 0, $3)`,
		m.ID, m.Expires, filler); err != nil {
		b.Fatal(err)
	}
	u := cmds(set("seen", int64(1)))
	u.Fetch = []string{"user"}
	return &rawFixture{st: st, pool: pool, id: m.ID, u: u,
		rawSQL: `UPDATE ` + table + ` SET seen = $3, expires = $2 WHERE id = $1 AND expires > now() RETURNING "user"`}
}

func (f *rawFixture) apply() error {
	f.seen++
	f.u.Commands[0].Value = f.seen
	doc, err := f.st.Apply(bg, f.id, f.u)
	if err != nil {
		return err
	}
	if doc["user"] != "alice" {
		return fmt.Errorf("user = %#v", doc["user"])
	}
	return nil
}

func (f *rawFixture) raw() error {
	var user string
	f.seen++
	if err := f.pool.QueryRow(bg, f.rawSQL, f.id, f.u.Expires, f.seen).Scan(&user); err != nil {
		return err
	}
	if user != "alice" {
		return fmt.Errorf("user = %q", user)
	}
	return nil
}

func reportRatio(b *testing.B, store, raw time.Duration, n int) {
	b.ReportMetric(float64(store.Nanoseconds())/float64(n), "store-ns/op")
	b.ReportMetric(float64(raw.Nanoseconds())/float64(n), "raw-ns/op")
	b.ReportMetric(float64(store)/float64(raw), "store/raw")
}

// BenchmarkFetchSetVsRaw compares Apply(Fetch "user", Set "seen") on a
// 1 KB session with the least work a database can do for the same
// request: one UPDATE … RETURNING on a row per session, a column per key.
// "store" and "raw" measure each alone (ns/op, allocs/op); "interleaved"
// alternates them in one loop, so that both see the same machine, and
// reports store-ns/op, raw-ns/op and their ratio store/raw; "parallel"
// runs b.N of each from 8 goroutines on 8 sessions, where the server's
// work rather than the round trip decides, and reports the ratio of the
// wall times (the inverse ratio of the throughputs).
func BenchmarkFetchSetVsRaw(b *testing.B) {
	f := newRawFixture(b, 1024)
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(f.apply()) // the statements are prepared before timing starts
	must(f.raw())
	b.Run("store", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			must(f.apply())
		}
	})
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			must(f.raw())
		}
	})
	b.Run("interleaved", func(b *testing.B) {
		var store, raw time.Duration
		for b.Loop() {
			t0 := time.Now()
			must(f.apply())
			t1 := time.Now()
			must(f.raw())
			raw += time.Since(t1)
			store += t1.Sub(t0)
		}
		reportRatio(b, store, raw, b.N)
	})
	const workers = 8
	fs := make([]*rawFixture, workers)
	for i := range fs {
		fs[i] = newRawFixture(b, 1024)
		must(fs[i].apply())
		must(fs[i].raw())
	}
	b.Run("parallel", func(b *testing.B) {
		// b.N requests of each kind from 8 goroutines, store first, then
		// raw: the ratio of the wall times is that of the throughputs.
		run := func(req func(*rawFixture) error) time.Duration {
			var left atomic.Int64
			left.Store(int64(b.N))
			errs := make([]error, workers)
			var wg sync.WaitGroup
			start := time.Now()
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for left.Add(-1) >= 0 {
						if errs[w] = req(fs[w]); errs[w] != nil {
							return
						}
					}
				}()
			}
			wg.Wait()
			for _, err := range errs {
				must(err)
			}
			return time.Since(start)
		}
		b.ResetTimer()
		store := run((*rawFixture).apply)
		raw := run((*rawFixture).raw)
		reportRatio(b, store, raw, b.N)
	})
}
