package postgres_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atomicsession/atomicsession/future"
	"github.com/atomicsession/atomicsession/internal/faultapp"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/postgres"
)

var testKeys = [][]byte{[]byte("0123456789abcdef0123456789abcdef")}

// app is one application instance: a Manager on its own store and pool.
func app(t *testing.T, pool *pgxpool.Pool, schema string) *httptest.Server {
	t.Helper()
	st := newStore(t, pool, postgres.WithSchema(schema))
	m, err := middleware.New(st, middleware.Options{Keys: testKeys})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /untouched", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		v, _ := sess.Get("n")
		fmt.Fprint(w, v)
	})
	mux.HandleFunc("POST /inc", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err == nil {
			_, err = sess.Inc("n", 1).Await(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /four", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err == nil {
			_, err = future.All(sess.Set("a", 1), sess.Inc("b", 1), sess.Push("c", "x"), sess.Unset("d")).Await(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	srv := httptest.NewServer(m.Handler(mux))
	t.Cleanup(srv.Close)
	return srv
}

// request sends one request with cookie (if any) and returns the
// response's status, body and session cookie (if it set one).
func request(t *testing.T, c *http.Client, method, url, cookie string) (int, string, string) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Error(err)
		return 0, "", ""
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Error(err)
		return 0, "", ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	set := ""
	for _, ck := range resp.Cookies() {
		if ck.Value != "" {
			set = ck.Name + "=" + ck.Value
		}
	}
	return resp.StatusCode, strings.TrimSpace(string(body)), set
}

// TestHTTPTwoInstancesNoLostUpdate: 32 clients × 50 increments on one
// cookie, alternating between two application instances, each on its own
// store and pool of 8 connections, end exact.
func TestHTTPTwoInstancesNoLostUpdate(t *testing.T) {
	schema := testSchema(t)
	workers, each := 32, 50
	if testing.Short() {
		workers, each = 8, 25
	}
	faultapp.IncrementTwoInstances(t, [2]http.Handler{
		faultapp.App(t, newStore(t, newPool(t, 8), postgres.WithSchema(schema)), middleware.Options{}),
		faultapp.App(t, newStore(t, newPool(t, 8), postgres.WithSchema(schema)), middleware.Options{}),
	}, workers, each)
}

// TestHTTPRoundTrips counts the queries per HTTP request with a pgx
// QueryTracer: untouched 0, read 1, new visitor writing 1, read + four
// commands 2.
func TestHTTPRoundTrips(t *testing.T) {
	qc := &queryCounter{}
	pool := newPool(t, 4, func(cfg *pgxpool.Config) { cfg.ConnConfig.Tracer = qc })
	srv := app(t, pool, testSchema(t))
	c := &http.Client{}
	var cookie string
	steps := []struct {
		name, method, path string
		want               int64
	}{
		{"new visitor, one write", "POST", "/inc", 1},
		{"untouched, with a cookie", "GET", "/untouched", 0},
		{"reads an existing session", "GET", "/read", 1},
		{"reads, then four commands together", "POST", "/four", 2},
		{"reads again", "GET", "/read", 1},
	}
	for _, s := range steps {
		q0 := qc.queries.Load()
		status, body, set := request(t, c, s.method, srv.URL+s.path, cookie)
		require.Equal(t, http.StatusOK, status, "%s: %s", s.name, body)
		if set != "" {
			cookie = set
		}
		got := qc.queries.Load() - q0
		t.Logf("%-36s %d queries", s.name, got)
		assert.Equal(t, s.want, got, s.name)
	}
	q0 := qc.queries.Load()
	status, _, _ := request(t, c, "GET", srv.URL+"/read", "")
	assert.Equal(t, http.StatusOK, status)
	assert.Zero(t, qc.queries.Load()-q0, "a new visitor who only reads costs no query")
}
