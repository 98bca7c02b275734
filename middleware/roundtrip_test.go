package middleware_test

import (
	"net/http"
	"testing"

	"github.com/atomicsession/atomicsession/future"
	"github.com/atomicsession/atomicsession/middleware"
)

// TestRoundTripBudget checks DESIGN.md's table of store calls per request.
func TestRoundTripBudget(t *testing.T) {
	st := &countingStore{Store: newMemory(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /untouched", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		if _, err := middleware.Session(r).Await(r.Context()); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("POST /write", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err == nil {
			_, err = sess.Set("k", "v").Await(r.Context())
		}
		if err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("POST /four", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err == nil {
			_, err = future.All(sess.Set("a", 1), sess.Inc("b", 1), sess.Push("c", "x"), sess.Unset("d")).Await(r.Context())
		}
		if err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("POST /together", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Attach(r)
		if err != nil {
			t.Error(err)
			return
		}
		read := sess.Fetch("a", "b")
		sess.Set("e", 1)
		sess.Inc("f", 1)
		doc, err := read.Await(r.Context())
		if err != nil || doc["a"] != int64(1) || doc["f"] == nil {
			t.Errorf("fetch with commands: %v, %v", doc, err)
		}
	})
	mux.HandleFunc("GET /partial", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r, "a").Await(r.Context())
		if err != nil || !sess.Loaded("a") || sess.Loaded("c") {
			t.Errorf("partial load: %v", err)
		}
		if _, err := middleware.Session(r, "a").Await(r.Context()); err != nil { // loaded: no call
			t.Error(err)
		}
		if _, err := middleware.Session(r, "a", "c").Await(r.Context()); err != nil || !sess.Loaded("c") { // c only
			t.Errorf("second partial load: %v", err)
		}
	})
	c := newClient(t, newManager(t, st, middleware.Options{}).Handler(mux))
	steps := []struct {
		name, method, path string
		want               int64
	}{
		{"new visitor, one write", "POST", "/write", 1},
		{"untouched, with a cookie", "GET", "/untouched", 0},
		{"reads an existing session", "GET", "/read", 1},
		{"reads, then four commands together", "POST", "/four", 2},
		{"fetches two keys and writes two together", "POST", "/together", 1},
		{"loads a key, then one more", "GET", "/partial", 2},
	}
	for _, s := range steps {
		st.n.Store(0)
		resp, _ := c.do(s.method, s.path, nil)
		if got := st.n.Load(); got != s.want || resp.StatusCode != 200 {
			t.Errorf("%s: %d store calls (status %d), want %d", s.name, got, resp.StatusCode, s.want)
		}
	}
	if c.cookie() == "" {
		t.Fatal("no session cookie")
	}
	fresh := newClient(t, c.srv.Config.Handler)
	st.n.Store(0)
	fresh.do("GET", "/read", nil)
	if got := st.n.Load(); got != 0 {
		t.Errorf("new visitor who only reads: %d store calls, want 0", got)
	}
}
