package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// BenchmarkRequest measures what one request of the throughput scenarios
// costs in the app process, library and store client together: each
// library's handler is called directly (ServeHTTP on a recorder, no
// network between client and app), one request after the other on one
// session, against the same real redis-server and PostgreSQL. ns/op,
// B/op and allocs/op are per request; trips/op are store round trips and
// srvcmds/op the commands the Redis server ran (INFO commandstats).
//
//	cd bench && go test -run '^$' -bench Request -benchmem
//	cd bench && go test -run '^$' -bench 'Request/redis/a/' -benchmem -cpuprofile cpu.out -memprofile mem.out
//
// Sub-benchmarks are named store/scenario/library: scenario a is a 1 KB
// session (read one key + write one), b a 64 KB session (read a small key
// + write one), c a 64 KB session (read the 64 KB key + write a small one);
// library is scs (SCS v2.9.0 on its own store), plain (atomicsession:
// Session(r, keys...), then the write), attach (Attach + Fetch with the
// write: one round trip) and raw (no session library).
func BenchmarkRequest(b *testing.B) {
	libs := []struct {
		name string
		lib  library
	}{{"scs", scsLib}, {"plain", atomicLib}, {"attach", atomicFast}, {"raw", rawLib}}
	for _, be := range requestBackends(b) {
		for _, sc := range tputScenarios {
			for _, l := range libs {
				b.Run(be.Key+"/"+sc.Key+"/"+l.name, func(b *testing.B) {
					benchRequest(b, be, l.lib, sc)
				})
			}
		}
	}
}

// requestBackends starts a redis-server and a PostgreSQL for the
// benchmark, skipping (failing under CI=true) where one is missing.
func requestBackends(b *testing.B) []backend {
	b.Helper()
	ctx := context.Background()
	var out []backend
	rs, err := startRedis()
	switch {
	case errors.Is(err, errNoRedis):
		skipOrFailB(b, err)
	case err != nil:
		b.Fatal(err)
	default:
		b.Cleanup(rs.Close)
		out = append(out, redisBackend(rs.Addr, "Redis "+rs.Version))
	}
	ps, err := startPostgres(ctx)
	switch {
	case errors.Is(err, errNoPostgres):
		skipOrFailB(b, err)
	case err != nil:
		b.Fatal(err)
	default:
		b.Cleanup(ps.Close)
		admin, err := pgxpool.New(ctx, ps.URL())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(admin.Close)
		out = append(out, pgBackend(admin, ps.URL(), "PostgreSQL"))
	}
	return out
}

// skipOrFailB is skipOrFail for a benchmark.
func skipOrFailB(b *testing.B, err error) {
	b.Helper()
	if os.Getenv("CI") == "true" {
		b.Fatalf("CI=true and %v", err)
	}
	b.Log(err)
}

func benchRequest(b *testing.B, be backend, lib library, sc scenario) {
	ctx := context.Background()
	conn, err := be.connect(ctx, newNamespace())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	h, err := lib.newApp(conn)
	if err != nil {
		b.Fatal(err)
	}
	c := &recorderClient{h: h, cookie: lib.Cookie}
	if err := c.get(routeFill + "?bytes=" + strconv.Itoa(sc.Size)); err != nil {
		b.Fatal(err)
	}
	// One request first, not counted: it loads scripts and warms pools.
	if err := c.get(sc.Route + "?v=1"); err != nil {
		b.Fatal(err)
	}
	cmds0, err := conn.serverCommands(ctx)
	if err != nil {
		b.Fatal(err)
	}
	t0 := conn.snapshot()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := c.get(sc.Route + "?v=" + strconv.Itoa(i+2)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(conn.snapshot().minus(t0).Trips)/n, "trips/op")
	if cmds0 != nil {
		cmds1, err := conn.serverCommands(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(cmds1.minus(cmds0).total())/n, "srvcmds/op")
	}
}

// recorderClient sends requests straight to a handler, keeping its
// session cookie as a browser would.
type recorderClient struct {
	h      http.Handler
	cookie string // the cookie's name
	value  string
}

func (c *recorderClient) get(path string) error {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if c.value != "" {
		req.AddCookie(&http.Cookie{Name: c.cookie, Value: c.value})
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("GET %s: %d: %s", path, rec.Code, rec.Body.String())
	}
	for _, ck := range (&http.Response{Header: rec.Header()}).Cookies() {
		if ck.Name == c.cookie {
			c.value = ck.Value
		}
	}
	return nil
}
