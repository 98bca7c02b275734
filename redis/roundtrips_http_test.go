package redis

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atomicsession/atomicsession/middleware"
)

// TestHTTPRoundTripTable checks DESIGN's round-trip table on Redis, through
// the middleware, counting on the wire each request's round trips (and
// bytes for the 64 KB rows).
func TestHTTPRoundTripTable(t *testing.T) {
	s, w := countingStore(t)
	m, err := middleware.New(s, middleware.Options{Keys: [][]byte{[]byte("0123456789abcdef0123456789abcdef-key")}})
	if err != nil {
		t.Fatal(err)
	}
	fail := func(w http.ResponseWriter, err error) { http.Error(w, err.Error(), http.StatusInternalServerError) }
	mux := http.NewServeMux()
	mux.HandleFunc("GET /none", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		sess.Get("small")
	})
	mux.HandleFunc("POST /init", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Attach(r)
		if err != nil {
			fail(w, err)
			return
		}
		sess.Set("blob", strings.Repeat("x", 64<<10))
		sess.Set("small", "s")
		sess.Set("cart", map[string]any{"items": []any{"a"}})
		sess.Set("tags", []any{"x", "y"})
		sess.Set("old", int64(1))
	})
	mux.HandleFunc("POST /rmw", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		sess.Set("cart.note", "n")
		sess.Pull("tags", "x")
		sess.AddToSet("labels", "l")
		sess.Rename("old", "renamed")
		if _, err := sess.Inc("f", 0.5).Await(r.Context()); err != nil {
			fail(w, err)
		}
	})
	mux.HandleFunc("POST /fetchwrite", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Attach(r)
		if err != nil {
			fail(w, err)
			return
		}
		f := sess.Fetch("small", "tags")
		sess.Inc("n", 1)
		sess.Set("cart.seen", true)
		if _, err := f.Await(r.Context()); err != nil {
			fail(w, err)
		}
	})
	mux.HandleFunc("POST /small", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r, "small").Await(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		sess.Set("small", "t")
	})
	srv := httptest.NewServer(m.Handler(mux))
	t.Cleanup(srv.Close)
	hc := srv.Client()

	var cookie *http.Cookie
	do := func(method, path string, withCookie bool) (sent, recv, trips int64) {
		t.Helper()
		return w.measure(func() {
			req, _ := http.NewRequest(method, srv.URL+path, nil)
			if withCookie && cookie != nil {
				req.AddCookie(cookie)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s %s: %s %s", method, path, resp.Status, body)
			}
			for _, c := range resp.Cookies() {
				if c.Name == "sid" && c.Value != "" {
					cookie = c
				}
			}
		})
	}
	check := func(what string, got, want int64) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %d round trips, want %d", what, got, want)
		}
	}
	_, _, trips := do("GET", "/none", false)
	check("does not touch the session", trips, 0)
	_, _, trips = do("GET", "/read", false)
	check("new visitor who only reads", trips, 0)
	if cookie != nil {
		t.Fatal("a reading new visitor got a cookie")
	}
	_, _, trips = do("POST", "/init", false)
	check("new visitor, writes", trips, 1)
	_, recv, trips := do("GET", "/read", true)
	check("reads an existing session", trips, 1)
	t.Logf("reads an existing 64 KB session: received %d B", recv)
	_, recv, trips = do("POST", "/rmw", true)
	check("reads, then 5 Go-path commands together", trips, 2)
	if recv > 64<<10+8<<10 {
		t.Errorf("reads all + 5 commands: received %d B, want at most 64 KB + 8 KB", recv)
	}
	_, _, trips = do("POST", "/fetchwrite", true)
	check("fetches 2 keys and issues 2 commands, without a load", trips, 1)
	sent, recv, trips := do("POST", "/small", true)
	check(`Session(r, "small") + one write`, trips, 2)
	t.Logf(`Session(r, "small") + one write on a 64 KB session: sent %d B, received %d B`, sent, recv)
	if sent+recv >= 4<<10 {
		t.Errorf(`Session(r, "small") + one write moved %d B, want less than 4 KB`, sent+recv)
	}
}
