package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atomicsession/atomicsession/memory"
)

// skipOrFail skips the test because a server binary is missing, or fails
// it under CI=true, where every server must be there.
func skipOrFail(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %v", err)
	}
	t.Skip(err)
}

// startTestPostgres starts a PostgreSQL server for one test and its admin
// pool.
func startTestPostgres(t *testing.T) (*pgServer, *pgxpool.Pool) {
	t.Helper()
	ps, err := startPostgres(context.Background())
	if errors.Is(err, errNoPostgres) {
		skipOrFail(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ps.Close)
	admin, err := pgxpool.New(context.Background(), ps.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	return ps, admin
}

// TestRawStores checks every raw store on its real server: a created
// session answers the key read and counts its writes, a missing one is
// not found, and a read + write is one round trip.
func TestRawStores(t *testing.T) {
	ctx := context.Background()
	var backends []backend
	if rs, err := startRedis(); errors.Is(err, errNoRedis) {
		t.Log(err)
	} else if err != nil {
		t.Fatal(err)
	} else {
		t.Cleanup(rs.Close)
		backends = append(backends, redisBackend(rs.Addr, "Redis"))
	}
	if _, err := os.Stat(pgBin("postgres")); err == nil {
		ps, admin := startTestPostgres(t)
		backends = append(backends, pgBackend(admin, ps.URL(), "PostgreSQL"))
	}
	fs, err := startFerret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fs.Close() })
	backends = append(backends, mongoBackend(fs.URI(), "FerretDB"))
	for _, b := range backends {
		t.Run(b.Key, func(t *testing.T) {
			conn, err := b.connect(ctx, newNamespace())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			st := conn.raw
			if err := st.Create(ctx, "s1", 1000); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				before := conn.snapshot()
				v, found, err := st.ReadWrite(ctx, "s1", "user")
				if err != nil || !found || v != "alice" {
					t.Fatalf("read user: got %v, %v, %v; want alice, true, nil", v, found, err)
				}
				if d := conn.snapshot().minus(before); i > 0 && d.Trips != 1 {
					t.Errorf("read + write: %d round trips, want 1", d.Trips)
				}
			}
			v, found, err := st.ReadWrite(ctx, "s1", "blob")
			if s, _ := v.(string); err != nil || !found || s != blob(1000) {
				t.Fatalf("read blob: got %d bytes, %v, %v; want the 1000-byte blob", len(s), found, err)
			}
			vals, err := st.Values(ctx, "s1")
			if err != nil {
				t.Fatal(err)
			}
			if n, ok := vals["seen"].(int64); !ok || n != 4 {
				t.Errorf("seen = %#v, want int64 4", vals["seen"])
			}
			if _, found, err := st.ReadWrite(ctx, "missing", "user"); err != nil || found {
				t.Errorf("missing session: found %v, err %v; want not found and no error", found, err)
			}
			if _, _, err := st.ReadWrite(ctx, "s1", "nope"); err == nil {
				t.Error("unknown key: no error")
			}
		})
	}
}

// TestPostgresWALAndSCS checks the PostgreSQL set-up the benchmark relies
// on: SCS's pgxstore commits and finds in its namespace's table, a find is
// one round trip, and its 64 KB commit moves the WAL position by at least
// the session's size (the server compresses nothing of the blob away).
func TestPostgresWALAndSCS(t *testing.T) {
	ctx := context.Background()
	ps, admin := startTestPostgres(t)
	if !strings.HasPrefix(ps.Version, "15") {
		t.Errorf("server version %q, want 15.x", ps.Version)
	}
	conn, err := pgBackend(admin, ps.URL(), "PostgreSQL").connect(ctx, newNamespace())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	data := []byte(blob(64 << 10))
	if err := conn.scs.Commit("tok", data, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	w0, err := conn.wal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.scs.Commit("tok", data, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	w1, err := conn.wal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w1-w0 < 40<<10 {
		t.Errorf("a 64 KB commit wrote %d bytes of WAL, want at least 40 KB", w1-w0)
	}
	if _, _, err := conn.scs.Find("tok"); err != nil { // pgx prepares the statement on first use
		t.Fatal(err)
	}
	before := conn.snapshot()
	got, found, err := conn.scs.Find("tok")
	if err != nil || !found || len(got) != len(data) {
		t.Fatalf("find: %d bytes, %v, %v", len(got), found, err)
	}
	if d := conn.snapshot().minus(before); d.Trips != 1 || d.Cmds != 1 || d.Recv < int64(len(data)) {
		t.Errorf("find: %+v, want 1 round trip, 1 command, at least %d bytes received", d, len(data))
	}
}

// TestSoakVisitors runs the soak's visitors on the memory store for a
// moment: no request may fail, and the visitor's session holds what its
// routes wrote.
func TestSoakVisitors(t *testing.T) {
	st := memory.NewStore(memory.WithSweepInterval(0))
	defer st.Close()
	h, err := soakApp(st)
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, h)
	client := newHTTPClient()
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	stats := &soakStats{}
	soakVisitor(ctx, client, srv.URL, 7, stats)
	lat, errs, first := stats.take()
	if errs != 0 || len(lat) < 10 {
		t.Fatalf("%d requests ok, %d failed (first: %s); want at least 10 ok and none failed", len(lat), errs, first)
	}
	box := &cookieBox{name: "sid"}
	for _, p := range []string{"/login?u=bob", "/", "/cart?i=a", "/cart?i=b"} {
		if _, err := get(context.Background(), client, srv.URL, p, box); err != nil {
			t.Fatal(err)
		}
	}
	r, err := get(context.Background(), client, srv.URL, "/api/session", box)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := soakValues(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if vals["user"] != "bob" || vals["views"] != float64(1) || vals["cartCount"] != float64(2) || vals["lastItem"] != "b" {
		t.Errorf("session %v, want user bob, views 1, cartCount 2, lastItem b", vals)
	}
}

// newTestServer serves h until the test ends.
func newTestServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// TestPageKeepsSoak writes benchmarks.md from made-up results, writes a
// soak section into it, and writes the page again: the soak section must
// survive the benchmark's rewrite, and the page must hold the run.
func TestPageKeepsSoak(t *testing.T) {
	dir := t.TempDir()
	env := newEnvironment()
	env.Mode = "test"
	h := &harness{cfg: quickConfig()}
	h.res.Tput = []tputResult{{Scenario: "a", Library: libAtomic, Backend: "Redis", Requests: 10, Window: time.Second}}
	h.tables = append(h.tables, tputTables(h.res.Tput, h.cfg)...)
	if err := writePage(dir, env, h); err != nil {
		t.Fatal(err)
	}
	if err := writeSoakSection(pagePath(dir), "| soak | figures |"); err != nil {
		t.Fatal(err)
	}
	if err := writePage(dir, env, h); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(pagePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	page := string(data)
	for _, want := range []string{"| soak | figures |", soakBegin, soakEnd, readingBegin, readingEnd, "## Targets", "(a) Throughput and latency", "- mode: test"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Count(page, soakBegin) != 1 {
		t.Errorf("page has %d soak sections, want 1", strings.Count(page, soakBegin))
	}
	if err := writeSoakSection(filepath.Join(dir, "missing.md"), "x"); err == nil {
		t.Error("soak section into a missing page: no error")
	}
}
