package mongo_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/mongo"
)

// TestLateBindingOverHTTP is the original's "Collection not set!": a store
// made before the collection answers 503 through the middleware, and works
// once SetCollection is called.
func TestLateBindingOverHTTP(t *testing.T) {
	client := connect(t, testServer(t), nil, 1)
	store := mongo.NewStore(nil)
	t.Cleanup(func() { _ = store.Close() })
	m, err := middleware.New(store, middleware.Options{
		Keys:   [][]byte{[]byte(strings.Repeat("k", 32))},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			http.Error(w, "load: "+err.Error(), middleware.StatusOf(err))
			return
		}
		sess.Set("msg", "stored") // sent when the response starts
		_, _ = io.WriteString(w, "ok")
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func() (int, string) {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	if code, body := get(); code != http.StatusServiceUnavailable || strings.Contains(body, "ok") {
		t.Fatalf("before SetCollection: %d %q, want 503", code, body)
	}
	coll := newCollection(t, client)
	store.SetCollection(coll)
	if code, body := get(); code != http.StatusOK || body != "ok" {
		t.Fatalf("after SetCollection: %d %q, want 200", code, body)
	}
	if n, err := coll.CountDocuments(t.Context(), map[string]any{"msg": "stored"}); err != nil || n != 1 {
		t.Fatalf("stored sessions with msg: %d, %v; want 1", n, err)
	}
}
