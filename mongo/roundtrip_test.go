package mongo_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atomicsession/atomicsession/future"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/session"
)

// app is an HTTP server on the MongoDB store whose client records the
// commands it sends, so that a test counts the store round trips of one
// request.
type app struct {
	f      *fixture
	server *httptest.Server
	client *http.Client
}

func newApp(t *testing.T) *app {
	t.Helper()
	f := newFixture(t)
	m, err := middleware.New(f.store, middleware.Options{
		Keys:   [][]byte{[]byte(strings.Repeat("k", 32))},
		Secure: middleware.SecureNever,
	})
	if err != nil {
		t.Fatalf("middleware.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/none", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "no session here")
	})
	mux.HandleFunc("/open", withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) error {
		_, err := io.WriteString(w, s.ID())
		return err
	}))
	mux.HandleFunc("/read", withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) error {
		v, _ := s.Get("msg")
		_, err := fmt.Fprint(w, v)
		return err
	}))
	mux.HandleFunc("/write", withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) error {
		_, err := s.Set("msg", r.URL.Query().Get("v")).Then(s.Update).Await(r.Context())
		return err
	}))
	mux.HandleFunc("/four", withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) error {
		_, err := future.All(s.Set("a", "x"), s.Inc("n", 1), s.Push("list", "item"), s.AddToSet("tags", "t")).Await(r.Context())
		return err
	}))
	mux.HandleFunc("/fill", withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) error {
		chunk := strings.Repeat("x", 1024)
		fs := make([]*future.Future[session.Doc], 64)
		for i := range fs {
			fs[i] = s.Set(fmt.Sprintf("big%02d", i), chunk)
		}
		_, err := future.All(fs...).Await(r.Context())
		return err
	}))
	srv := httptest.NewServer(m.Handler(mux))
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar}
	t.Cleanup(client.CloseIdleConnections)
	return &app{f: f, server: srv, client: client}
}

func withSession(h func(http.ResponseWriter, *http.Request, *session.Session) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := middleware.Session(r).Await(r.Context())
		if err == nil {
			err = h(w, r, s)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}
}

// get requests path and returns the body and the store commands the
// request sent.
func (a *app) get(t *testing.T, path string) (string, []recorded) {
	t.Helper()
	a.f.rec.reset()
	resp, err := a.client.Get(a.server.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	return string(body), a.f.rec.take()
}

// expectTrips fails t unless cmds are want store round trips.
func expectTrips(t *testing.T, what string, cmds []recorded, want int) {
	t.Helper()
	t.Logf("%s: %d store round trip(s) %v", what, len(cmds), cmds)
	if len(cmds) != want {
		t.Fatalf("%s sent %d store commands %v, want %d", what, len(cmds), cmds, want)
	}
}

func TestRoundTripsPerRequest(t *testing.T) {
	a := newApp(t)
	_, cmds := a.get(t, "/none")
	expectTrips(t, "a request that never awaits the session", cmds, 0)

	_, cmds = a.get(t, "/write?v=hi")
	expectTrips(t, "a new visitor writing one key", cmds, 1)

	body, cmds := a.get(t, "/read")
	expectTrips(t, "a read-only request", cmds, 1)
	if body != "hi" {
		t.Fatalf("read %q, want the value written by the first request", body)
	}

	_, cmds = a.get(t, "/four")
	expectTrips(t, "a read, then four non-overlapping commands issued together", cmds, 2)
	doc, err := a.f.store.Load(t.Context(), a.sessionID(t), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if doc["a"] != "x" || doc["n"] != int64(1) || len(doc["list"].([]any)) != 1 || len(doc["tags"].([]any)) != 1 || doc["msg"] != "hi" {
		t.Fatalf("after /four the session is %v", doc.User())
	}
}

// TestNewVisitorWhoOnlyReadsCostsNothing: a new session that no command
// touches is never stored (DESIGN.md's round-trip table: 0).
func TestNewVisitorWhoOnlyReadsCostsNothing(t *testing.T) {
	a := newApp(t)
	_, cmds := a.get(t, "/open")
	expectTrips(t, "a new visitor who only reads", cmds, 0)
	if n := a.f.count(t); n != 0 {
		t.Fatalf("a new visitor who only reads stored %d sessions, want 0", n)
	}
}

func TestOneKeyCommandOn64KBSessionOverHTTP(t *testing.T) {
	a := newApp(t)
	a.get(t, "/fill")
	_, cmds := a.get(t, "/write?v=hi")
	expectTrips(t, "a one-key command on a 64 KB session", cmds, 2)
	update := cmds[1]
	t.Logf("one-key command on a 64 KB session over HTTP: %s of %d command bytes", update.name, update.bytes)
	if update.name != "findAndModify" || update.bytes >= 4096 {
		t.Fatalf("the update was %s of %d bytes, want findAndModify under 4096", update.name, update.bytes)
	}
}

// sessionID returns the id of the app's one session, read from the store.
func (a *app) sessionID(t *testing.T) string {
	t.Helper()
	var out []string
	err := a.f.coll.Distinct(t.Context(), "_id", map[string]any{}).Decode(&out)
	if err != nil || len(out) != 1 {
		t.Fatalf("want one session, have %v (%v)", out, err)
	}
	return out[0]
}
