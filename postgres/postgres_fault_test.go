package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/postgres"
	"github.com/atomicsession/atomicsession/session"
)

// faultKeys sign the cookies of every app of the fault tests, so that two
// app instances accept each other's cookies.
var faultKeys = [][]byte{[]byte(strings.Repeat("fault-test-key!", 3))}

// faultApp is the app of the fault tests (see testenv.SessionErrorHeader
// for its routes): a session counter behind the middleware with opts (its
// Keys, ErrorHandler and Logger set here), that answers each failure
// through the middleware's default ErrorHandler and names the error in a
// header.
func faultApp(t testing.TB, store session.Store, opts middleware.Options) http.Handler {
	t.Helper()
	fail := func(w http.ResponseWriter, r *http.Request, err error) {
		w.Header().Set(testenv.SessionErrorHeader, err.Error())
		middleware.DefaultErrorHandler(w, r, err)
	}
	opts.Keys, opts.ErrorHandler = faultKeys, fail
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := middleware.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /inc", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			fail(w, r, err)
			return
		}
		inc := sess.Inc("n", 1)
		if r.URL.Query().Get("queue") == "1" {
			_, _ = io.WriteString(w, "queued") // the middleware sends it first
			return
		}
		doc, err := inc.Await(r.Context())
		if err != nil {
			fail(w, r, err)
			return
		}
		fmt.Fprint(w, doc["n"])
	})
	mux.HandleFunc("GET /n", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			fail(w, r, err)
			return
		}
		n, _ := sess.GetInt("n")
		fmt.Fprint(w, n)
	})
	return m.Handler(mux)
}

// TestOutagePostgresImmediateShutdown stops PostgreSQL with SIGQUIT (an
// immediate shutdown: crash recovery on restart) under load from 8
// clients and starts it again on the same port and data directory: 503
// while it is down, served again after, nothing acknowledged lost
// (testenv.Outage checks it all).
func TestOutagePostgresImmediateShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("an outage under load takes seconds")
	}
	srv := testenv.RestartablePostgres(t)
	cfg, err := pgxpool.ParseConfig(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := postgres.NewStore(pool)
	t.Cleanup(func() { _ = store.Close() })
	if err := store.EnsureSchema(context.Background()); err != nil {
		t.Fatal(err)
	}
	const timeout, slack = time.Second, 500 * time.Millisecond
	testenv.Outage(t, faultApp(t, store, middleware.Options{Timeout: timeout}), testenv.OutageOptions{
		Timeout:     timeout,
		Slack:       slack,
		Down:        4 * time.Second,
		StartOutage: func() error { return srv.Stop(syscall.SIGQUIT) },
		EndOutage:   srv.Start,
	})
	if out := srv.Output(); !strings.Contains(out, "automatic recovery in progress") {
		t.Errorf("PostgreSQL ran no crash recovery after the immediate shutdown; its output:\n%s", out)
	}
}
