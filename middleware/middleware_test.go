package middleware_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/session"
)

var testKeys = [][]byte{[]byte("0123456789abcdef0123456789abcdef")}

// countingStore wraps a real store and counts the calls that reach it.
// With fail set, its Create and Apply fail with errStoreDown instead of
// reaching the store.
type countingStore struct {
	session.Store
	n     atomic.Int64 // every call
	loads atomic.Int64 // Load calls
	fail  atomic.Bool
	// failDelete makes Delete fail with errStoreDown.
	failDelete atomic.Bool

	mu       sync.Mutex
	loadKeys [][]string // the keys of each Load
}

var errStoreDown = errors.New("test store: down")

func (c *countingStore) Load(ctx context.Context, id string, keys []string) (session.Doc, error) {
	c.n.Add(1)
	c.loads.Add(1)
	c.mu.Lock()
	c.loadKeys = append(c.loadKeys, append([]string(nil), keys...))
	c.mu.Unlock()
	return c.Store.Load(ctx, id, keys)
}

func (c *countingStore) Create(ctx context.Context, m session.Meta, u session.Update) (session.Doc, error) {
	c.n.Add(1)
	if c.fail.Load() {
		return nil, errStoreDown
	}
	return c.Store.Create(ctx, m, u)
}

func (c *countingStore) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	c.n.Add(1)
	if c.fail.Load() {
		return nil, errStoreDown
	}
	return c.Store.Apply(ctx, id, u)
}

func (c *countingStore) Delete(ctx context.Context, id string) error {
	c.n.Add(1)
	if c.failDelete.Load() {
		return errStoreDown
	}
	return c.Store.Delete(ctx, id)
}

func newMemory(t *testing.T) *memory.Store {
	t.Helper()
	st := memory.NewStore()
	t.Cleanup(func() { st.Close() })
	return st
}

func newManager(t *testing.T, st session.Store, opts middleware.Options) *middleware.Manager {
	t.Helper()
	if opts.Keys == nil {
		opts.Keys = testKeys
	}
	m, err := middleware.New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// app is the original README's usage, ported.
func app() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /none", func(w http.ResponseWriter, r *http.Request) {
		_ = middleware.Session(r) // taken, never awaited: no store call
		fmt.Fprint(w, "untouched")
	})
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		json.NewEncoder(w).Encode(sess.Values())
	})
	mux.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err == nil {
			_, err = sess.Set(r.FormValue("k"), r.FormValue("v")).Then(sess.Update).Await(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		v, _ := sess.Get(r.FormValue("k"))
		fmt.Fprint(w, v)
	})
	mux.HandleFunc("POST /fire", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		sess.Set(r.FormValue("k"), r.FormValue("v")) // nobody awaits it
		fmt.Fprint(w, "fired")
	})
	mux.HandleFunc("POST /inc", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err == nil {
			_, err = sess.Inc("n", 1).Await(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("POST /unset", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err == nil {
			_, err = sess.Unset(r.FormValue("k")).Then(sess.Update).Await(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("POST /regenerate", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err == nil {
			_, err = sess.Regenerate().Await(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
		fmt.Fprint(w, sess.ID())
	})
	mux.HandleFunc("POST /destroy", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err == nil {
			_, err = sess.Destroy().Await(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("GET /csrf", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, sess.CreateCSRF())
	})
	mux.HandleFunc("POST /guarded", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "passed")
	})
	return mux
}

type client struct {
	t   *testing.T
	srv *httptest.Server
	c   *http.Client
}

func newClient(t *testing.T, h http.Handler) *client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return &client{t: t, srv: srv, c: &http.Client{Jar: jar}}
}

func (c *client) do(method, path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (c *client) cookie() string {
	u, _ := url.Parse(c.srv.URL)
	for _, ck := range c.c.Jar.Cookies(u) {
		if ck.Name == middleware.DefaultCookieName {
			return ck.Value
		}
	}
	return ""
}

func (c *client) setCookie(v string) {
	u, _ := url.Parse(c.srv.URL)
	c.c.Jar.SetCookies(u, []*http.Cookie{{Name: middleware.DefaultCookieName, Value: v, Path: "/"}})
}

func TestUntouchedRequestCostsNothing(t *testing.T) {
	st := &countingStore{Store: newMemory(t)}
	c := newClient(t, newManager(t, st, middleware.Options{}).Handler(app()))
	resp, body := c.do("GET", "/none", nil)
	if body != "untouched" || len(resp.Cookies()) != 0 || st.n.Load() != 0 {
		t.Fatalf("untouched request: body %q, cookies %v, store calls %d", body, resp.Cookies(), st.n.Load())
	}
	// Also with a valid cookie.
	c.do("POST", "/set", url.Values{"k": {"a"}, "v": {"1"}})
	st.n.Store(0)
	resp, _ = c.do("GET", "/none", nil)
	if len(resp.Cookies()) != 0 || st.n.Load() != 0 {
		t.Fatalf("untouched request with a cookie: cookies %v, store calls %d", resp.Cookies(), st.n.Load())
	}
}

func TestReadmeFlows(t *testing.T) {
	st := &countingStore{Store: newMemory(t)}
	c := newClient(t, newManager(t, st, middleware.Options{}).Handler(app()))

	// A new visitor who only reads costs nothing and gets no cookie.
	resp, body := c.do("GET", "/get", nil)
	if body != "{}\n" || st.n.Load() != 0 || len(resp.Cookies()) != 0 {
		t.Fatalf("new visitor who reads: body %q, store calls %d, cookies %v", body, st.n.Load(), resp.Cookies())
	}
	// One who writes: one store call (the create with the command), a cookie.
	resp, _ = c.do("POST", "/set", url.Values{"k": {"first"}, "v": {"x"}})
	if st.n.Load() != 1 || len(resp.Cookies()) != 1 {
		t.Fatalf("new visitor who writes: store calls %d, cookies %v", st.n.Load(), resp.Cookies())
	}
	ck := resp.Cookies()[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure || ck.MaxAge != 86400 {
		t.Fatalf("cookie attributes: %+v", ck)
	}

	// set(...).then(session.update)
	if _, body := c.do("POST", "/set", url.Values{"k": {"msg"}, "v": {"hello"}}); body != "hello" {
		t.Fatalf("set then update: local view says %q", body)
	}
	// Found again from the cookie, with one store call.
	st.n.Store(0)
	if resp, body := c.do("GET", "/get", nil); body != `{"first":"x","msg":"hello"}`+"\n" || st.n.Load() != 1 || len(resp.Cookies()) != 0 {
		t.Fatalf("read back: %q, store calls %d, cookies %v", body, st.n.Load(), resp.Cookies())
	}
	// unset
	c.do("POST", "/unset", url.Values{"k": {"msg"}})
	if _, body := c.do("GET", "/get", nil); body != `{"first":"x"}`+"\n" {
		t.Fatalf("after unset: %q", body)
	}
	// regenerate with nothing written after it: the old session is dead
	// and its cookie cleared; the new one is stored by its first write.
	c.do("POST", "/set", url.Values{"k": {"user"}, "v": {"ann"}})
	before := c.cookie()
	c.do("POST", "/regenerate", nil)
	if after := c.cookie(); after != "" {
		t.Fatal("regenerate with no write after it did not clear the cookie")
	}
	if _, body := c.do("GET", "/get", nil); body != "{}\n" {
		t.Fatalf("after regenerate: %q", body)
	}
	c.setCookie(before)
	if _, body := c.do("GET", "/get", nil); body != "{}\n" {
		t.Fatalf("the pre-regenerate cookie still opens the old session: %q", body)
	}
	// destroy clears the cookie
	resp, _ = c.do("POST", "/destroy", nil)
	if len(resp.Cookies()) != 1 || resp.Cookies()[0].MaxAge >= 0 {
		t.Fatalf("destroy: cookies %v, want one clearing cookie", resp.Cookies())
	}
}

func TestCSRFGuard(t *testing.T) {
	m := newManager(t, newMemory(t), middleware.Options{})
	c := newClient(t, m.Handler(m.CSRF(app())))
	_, token := c.do("GET", "/csrf", nil)
	_, token2 := c.do("GET", "/csrf", nil)
	if token == token2 {
		t.Fatal("two CSRF tokens are equal")
	}
	if resp, _ := c.do("POST", "/guarded", url.Values{"_csrf": {token}}); resp.StatusCode != 200 {
		t.Fatalf("form token refused: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", c.srv.URL+"/guarded", nil)
	req.Header.Set(middleware.CSRFHeader, token2)
	resp, err := c.c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("header token refused: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	for _, bad := range []url.Values{nil, {"_csrf": {"forged.token"}}, {"_csrf": {token + "x"}}} {
		if resp, body := c.do("POST", "/guarded", bad); resp.StatusCode != http.StatusForbidden || strings.Contains(body, "passed") {
			t.Fatalf("token %v: status %d body %q, want 403", bad, resp.StatusCode, body)
		}
	}
	// A token of another visitor's session is refused.
	other := &client{t: t, srv: c.srv, c: &http.Client{Jar: mustJar()}}
	if resp, _ := other.do("POST", "/guarded", url.Values{"_csrf": {token}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("another session's token: %d, want 403", resp.StatusCode)
	}
}

func mustJar() http.CookieJar {
	jar, _ := cookiejar.New(nil)
	return jar
}

func TestBadCookiesGiveAFreshSessionWithoutALookup(t *testing.T) {
	st := &countingStore{Store: newMemory(t)}
	c := newClient(t, newManager(t, st, middleware.Options{}).Handler(app()))
	c.do("POST", "/set", url.Values{"k": {"secret"}, "v": {"mine"}})
	good := c.cookie()
	tampered := []byte(good)
	tampered[5] ^= 1
	otherKeys, _ := session.NewKeyring([]byte("another key another key another k"))
	tok, _ := session.NewToken()
	bad := map[string]string{
		"empty":        "",
		"tampered":     string(tampered),
		"garbage":      "%%%not-a-cookie%%%",
		"oversize":     strings.Repeat("A", 3000),
		"unsigned":     good[:strings.IndexByte(good, '.')],
		"foreign key":  otherKeys.Sign(tok),
		"bare dot":     ".",
		"two dots":     good + ".x",
		"unicode junk": "é" + good[2:],
	}
	for name, v := range bad {
		st.n.Store(0)
		c.setCookie(v)
		resp, body := c.do("GET", "/get", nil)
		if resp.StatusCode != 200 || body != "{}\n" {
			t.Errorf("%s cookie: status %d body %q, want a fresh empty session", name, resp.StatusCode, body)
		}
		if n := st.n.Load(); n != 0 { // a fresh session that only reads: no Load, no create
			t.Errorf("%s cookie: %d store calls, want 0 (no lookup, nothing stored)", name, n)
		}
		if len(resp.Cookies()) != 0 {
			t.Errorf("%s cookie: a reader got cookies %v", name, resp.Cookies())
		}
	}
}

func TestExpiredSessionIsNeverServed(t *testing.T) {
	st := newMemory(t)
	c := newClient(t, newManager(t, st, middleware.Options{MaxAge: 100 * time.Millisecond}).Handler(app()))
	c.do("POST", "/set", url.Values{"k": {"a"}, "v": {"1"}})
	old := c.cookie()
	time.Sleep(150 * time.Millisecond)
	c.setCookie(old) // the browser would have dropped it; an attacker would not
	if _, body := c.do("GET", "/get", nil); body != "{}\n" {
		t.Fatalf("expired session served: %q", body)
	}
}

func TestUnawaitedCommandIsStored(t *testing.T) {
	st := newMemory(t)
	c := newClient(t, newManager(t, st, middleware.Options{}).Handler(app()))
	if _, body := c.do("POST", "/fire", url.Values{"k": {"a"}, "v": {"kept"}}); body != "fired" {
		t.Fatal(body)
	}
	if _, body := c.do("GET", "/get", nil); body != `{"a":"kept"}`+"\n" {
		t.Fatalf("unawaited command lost: %q", body)
	}
}

func TestFailureBeforeHeadersAnswers500AndIsLogged(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	st := newMemory(t)
	m := newManager(t, st, middleware.Options{Logger: logger})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := sess.Set("word", "text").Await(r.Context()); err != nil {
			t.Error(err)
		}
		sess.Inc("word", 1) // fails in the store; nobody awaits it
		fmt.Fprint(w, "handler's body")
	}))
	c := newClient(t, h)
	resp, body := c.do("GET", "/", nil)
	if resp.StatusCode != 500 || strings.Contains(body, "handler's body") {
		t.Fatalf("status %d body %q, want 500 without the handler's body", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "sending session commands failed") {
		t.Fatalf("failure not logged: %q", logs.String())
	}
}

func TestTwoManagersOneStoreLoseNoIncrement(t *testing.T) {
	st := newMemory(t)
	h := app()
	a := httptest.NewServer(newManager(t, st, middleware.Options{}).Handler(h))
	b := httptest.NewServer(newManager(t, st, middleware.Options{}).Handler(h))
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	first := &client{t: t, srv: a, c: &http.Client{Jar: mustJar()}}
	first.do("POST", "/inc", nil)
	cookie := first.cookie()

	const clients, each = 32, 50
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				srv := a
				if (i+j)%2 == 1 {
					srv = b
				}
				req, _ := http.NewRequest("POST", srv.URL+"/inc", nil)
				req.AddCookie(&http.Cookie{Name: "sid", Value: cookie})
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	_, body := first.do("GET", "/get", nil)
	if body != fmt.Sprintf(`{"n":%d}`, clients*each+1)+"\n" {
		t.Fatalf("after %d increments (+1): %s", clients*each, body)
	}
}

func TestWriterKeepsFlusherHijackerAndController(t *testing.T) {
	m := newManager(t, newMemory(t), middleware.Options{})
	mux := http.NewServeMux()
	mux.HandleFunc("/flush", func(w http.ResponseWriter, r *http.Request) {
		sess, _ := middleware.Session(r).Await(r.Context())
		sess.Set("streamed", "yes")
		if _, ok := w.(http.Flusher); !ok {
			t.Error("writer lost http.Flusher")
		}
		fmt.Fprint(w, "part1")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("ResponseController.Flush: %v", err)
		}
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("ResponseController.SetWriteDeadline: %v", err)
		}
		fmt.Fprint(w, "part2")
	})
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		sess, _ := middleware.Session(r).Await(r.Context())
		sess.Set("hijacked", "yes")
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		buf.Flush()
	})
	mux.Handle("/get", app())
	c := newClient(t, m.Handler(mux))
	resp, body := c.do("GET", "/flush", nil)
	if body != "part1part2" || len(resp.Cookies()) != 1 {
		t.Fatalf("flush: body %q cookies %v: the cookie must go out with the first flush", body, resp.Cookies())
	}
	if _, body := c.do("GET", "/get", nil); !strings.Contains(body, `"streamed":"yes"`) {
		t.Fatalf("command before a flush lost: %q", body)
	}
	// Hijack with the raw connection, sending the cookie by hand.
	conn, err := net.Dial("tcp", c.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /hijack HTTP/1.1\r\nHost: x\r\nCookie: sid=%s\r\n\r\n", c.cookie())
	hresp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	hbody, _ := io.ReadAll(hresp.Body)
	if string(hbody) != "ok" {
		t.Fatalf("hijacked body %q", hbody)
	}
	if _, body := c.do("GET", "/get", nil); !strings.Contains(body, `"hijacked":"yes"`) {
		t.Fatalf("command before a hijack lost: %q", body)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	st := newMemory(t)
	cases := map[string]middleware.Options{
		"no keys":          {},
		"short key":        {Keys: [][]byte{[]byte("short")}},
		"negative maxage":  {Keys: testKeys, MaxAge: -time.Second},
		"bad cookie name":  {Keys: testKeys, CookieName: "a b"},
		"negative timeout": {Keys: testKeys, Timeout: -1},
	}
	for name, o := range cases {
		if m, err := middleware.New(st, o); err == nil || m != nil {
			t.Errorf("%s: New = %v, %v; want an error", name, m, err)
		}
	}
	if _, err := middleware.New(nil, middleware.Options{Keys: testKeys}); err == nil {
		t.Error("nil store accepted")
	}
}

func TestSessionOutsideHandlerFails(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	if _, err := middleware.Session(r).Await(context.Background()); err == nil {
		t.Fatal("Session without Handler did not fail")
	}
}

func TestStatusOf(t *testing.T) {
	cases := map[error]int{
		fmt.Errorf("x: %w", session.ErrInvalidCSRF): 403,
		fmt.Errorf("x: %w", session.ErrUnavailable): 503,
		errors.New("boom"):                          500,
	}
	for err, want := range cases {
		if got := middleware.StatusOf(err); got != want {
			t.Errorf("StatusOf(%v) = %d, want %d", err, got, want)
		}
	}
}

func TestCommandAfterTheResponseStartedIsStored(t *testing.T) {
	var logs bytes.Buffer
	m := newManager(t, newMemory(t), middleware.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	mux := http.NewServeMux()
	mux.HandleFunc("/late", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			t.Error(err)
			return
		}
		sess.Set("early", "yes")
		fmt.Fprint(w, "body first")
		sess.Set("late", "yes") // queued after the header went out, never awaited
		sess.Inc("late", 1)     // a batch of its own (same path); fails: logged
	})
	mux.Handle("/get", app())
	c := newClient(t, m.Handler(mux))
	if _, body := c.do("GET", "/late", nil); body != "body first" {
		t.Fatal(body)
	}
	if _, body := c.do("GET", "/get", nil); body != `{"early":"yes","late":"yes"}`+"\n" {
		t.Fatalf("after a late command: %q", body)
	}
	if !strings.Contains(logs.String(), "after the response started failed") {
		t.Fatalf("late failure not logged: %q", logs.String())
	}
}

func TestCommandsGoOutWhenTheHandlerPanics(t *testing.T) {
	m := newManager(t, newMemory(t), middleware.Options{})
	mux := http.NewServeMux()
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		sess, _ := middleware.Session(r).Await(r.Context())
		fmt.Fprint(w, "partial")
		sess.Set("before", "panic") // queued after the header, then the panic
		panic(http.ErrAbortHandler) // net/http's quiet panic
	})
	mux.Handle("/get", app())
	mux.Handle("/set", app())
	c := newClient(t, m.Handler(mux))
	c.do("POST", "/set", url.Values{"k": {"first"}, "v": {"x"}}) // the cookie; the panicking response never arrives
	req, _ := http.NewRequest("GET", c.srv.URL+"/panic", nil)
	if resp, err := c.c.Do(req); err == nil {
		resp.Body.Close()
	}
	if _, body := c.do("GET", "/get", nil); body != `{"before":"panic","first":"x"}`+"\n" {
		t.Fatalf("command before a panic: %q", body)
	}
}

func TestCSRFRefusesCookielessPostWithoutCreatingASession(t *testing.T) {
	st := &countingStore{Store: newMemory(t)}
	m := newManager(t, st, middleware.Options{})
	c := newClient(t, m.Handler(m.CSRF(app())))
	resp, body := c.do("POST", "/guarded", url.Values{"_csrf": {"a.b"}})
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "passed") {
		t.Fatalf("cookieless POST: %d %q, want 403", resp.StatusCode, body)
	}
	if n := st.n.Load(); n != 0 || len(resp.Cookies()) != 0 {
		t.Fatalf("cookieless refused POST: %d store calls, cookies %v; want none", n, resp.Cookies())
	}
}

// TestKeyRotationResignsOldCookies rotates the signing keys: a cookie
// signed by the retiring key still opens its session, and the next write
// sends it back signed by the new first key, so that the old key can be
// dropped; a cookie the first key signed comes back unchanged.
func TestKeyRotationResignsOldCookies(t *testing.T) {
	st := newMemory(t)
	oldKey := []byte("an old 32-byte key, to be retired")
	newKey := []byte("the new 32-byte signing key!!!!!!")
	before := newClient(t, newManager(t, st, middleware.Options{Keys: [][]byte{oldKey}}).Handler(app()))
	before.do("POST", "/set", url.Values{"k": {"user"}, "v": {"alice"}})
	signedOld := before.cookie()
	if signedOld == "" {
		t.Fatal("no cookie")
	}

	after := newClient(t, newManager(t, st, middleware.Options{Keys: [][]byte{newKey, oldKey}}).Handler(app()))
	after.setCookie(signedOld)
	if _, body := after.do("POST", "/set", url.Values{"k": {"n"}, "v": {"1"}}); body != "1" {
		t.Fatalf("write with the old key's cookie: %q", body)
	}
	signedNew := after.cookie()
	token, ok := mustKeyring(t, newKey).Verify(signedNew)
	if !ok || signedNew == signedOld {
		t.Fatalf("after a write the cookie is %q: not signed by the new key", signedNew)
	}
	if oldToken, _ := mustKeyring(t, oldKey).Verify(signedOld); oldToken != token {
		t.Fatal("re-signing changed the session token")
	}
	resp, _ := after.do("POST", "/set", url.Values{"k": {"n"}, "v": {"2"}})
	for _, c := range resp.Cookies() {
		if c.Name == middleware.DefaultCookieName && c.Value != signedNew {
			t.Errorf("a cookie the first key signed came back changed: %q, want %q", c.Value, signedNew)
		}
	}

	onlyNew := newClient(t, newManager(t, st, middleware.Options{Keys: [][]byte{newKey}}).Handler(app()))
	onlyNew.setCookie(signedNew)
	if _, body := onlyNew.do("GET", "/get", nil); !strings.Contains(body, `"user":"alice"`) {
		t.Errorf("with the old key retired, the re-signed cookie reads %s", body)
	}
}

func mustKeyring(t *testing.T, keys ...[]byte) *session.Keyring {
	t.Helper()
	kr, err := session.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}
