package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/session"
)

// testKey signs the cookies of the handler tests.
var testKey = []byte("koa-style-handler-tests-signing-key-0123456789")

// countingStore passes every call to a real store and counts them. It
// forwards the user index too, so that the app lists users' sessions.
type countingStore struct {
	session.Store
	loads, creates, applies, deletes, userCalls atomic.Int64

	mu       sync.Mutex
	loadKeys [][]string // the keys of each Load since the last reset

	// latency, if set, is waited before each Load and Apply: a database's
	// round trip, which widens the window a read-then-act race needs.
	latency atomic.Int64 // nanoseconds
}

func (s *countingStore) wait() {
	if d := time.Duration(s.latency.Load()); d > 0 {
		time.Sleep(d)
	}
}

func (s *countingStore) Load(ctx context.Context, id string, keys []string) (session.Doc, error) {
	s.loads.Add(1)
	s.mu.Lock()
	s.loadKeys = append(s.loadKeys, slices.Clone(keys))
	s.mu.Unlock()
	s.wait()
	return s.Store.Load(ctx, id, keys)
}

// loaded returns the keys of each Load since the last reset.
func (s *countingStore) loaded() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.loadKeys)
}

func (s *countingStore) Create(ctx context.Context, m session.Meta, u session.Update) (session.Doc, error) {
	s.creates.Add(1)
	return s.Store.Create(ctx, m, u)
}

func (s *countingStore) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	s.applies.Add(1)
	s.wait()
	return s.Store.Apply(ctx, id, u)
}

func (s *countingStore) Delete(ctx context.Context, id string) error {
	s.deletes.Add(1)
	return s.Store.Delete(ctx, id)
}

func (s *countingStore) UserSessions(ctx context.Context, userID string) ([]session.Meta, error) {
	s.userCalls.Add(1)
	return s.Store.(session.UserIndex).UserSessions(ctx, userID)
}

func (s *countingStore) DeleteUserSessions(ctx context.Context, userID string, keep ...string) (int, error) {
	s.userCalls.Add(1)
	return s.Store.(session.UserIndex).DeleteUserSessions(ctx, userID, keep...)
}

func (s *countingStore) reset() {
	s.loads.Store(0)
	s.creates.Store(0)
	s.applies.Store(0)
	s.deletes.Store(0)
	s.userCalls.Store(0)
	s.mu.Lock()
	s.loadKeys = nil
	s.mu.Unlock()
}

// roundTrips returns the calls since the last reset.
func (s *countingStore) roundTrips() (loads, creates, applies, deletes int64) {
	return s.loads.Load(), s.creates.Load(), s.applies.Load(), s.deletes.Load()
}

// plainStore hides everything of a store but session.Store.
type plainStore struct{ session.Store }

// testApp is the app on a memory store behind a real HTTP server.
type testApp struct {
	srv   *httptest.Server
	store *countingStore
	mem   *memory.Store
}

func newTestApp(t *testing.T) *testApp {
	t.Helper()
	mem := memory.NewStore()
	return newTestAppOn(t, mem, mem)
}

// newTestAppOn serves the app on store; mem, if not nil, is the memory
// store underneath, closed at the end of the test.
func newTestAppOn(t *testing.T, store session.Store, mem *memory.Store) *testApp {
	t.Helper()
	cs := &countingStore{Store: store}
	var wrapped session.Store = cs
	if _, ok := store.(session.UserIndex); !ok {
		wrapped = plainStore{cs} // hides the forwarding UserIndex methods
	}
	h, err := newHandler(wrapped, middleware.Options{Keys: [][]byte{testKey}, Logger: discardLogger()}, "memory (test)")
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		if mem != nil {
			_ = mem.Close()
		}
	})
	return &testApp{srv: srv, store: cs, mem: mem}
}

// visitor is one browser: a client with its own cookie jar that does not
// follow redirects, so that tests see the 303s.
type visitor struct {
	t      *testing.T
	base   string
	client *http.Client
	page   string // the body of the last GET /
	ua     string // the User-Agent it sends, if not empty
}

func (a *testApp) visitor(t *testing.T) *visitor {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &visitor{t: t, base: a.srv.URL, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends req and returns the response with its body read.
func (v *visitor) do(req *http.Request) (*http.Response, string) {
	v.t.Helper()
	if v.ua != "" {
		req.Header.Set("User-Agent", v.ua)
	}
	res, err := v.client.Do(req)
	if err != nil {
		v.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		v.t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return res, string(b)
}

func (v *visitor) get(path string) (*http.Response, string) {
	v.t.Helper()
	req, err := http.NewRequest(http.MethodGet, v.base+path, nil)
	if err != nil {
		v.t.Fatal(err)
	}
	return v.do(req)
}

// home GETs / and expects 200.
func (v *visitor) home() string {
	v.t.Helper()
	res, body := v.get("/")
	if res.StatusCode != http.StatusOK {
		v.t.Fatalf("GET / = %d, want 200: %s", res.StatusCode, body)
	}
	v.page = body
	return body
}

func (v *visitor) post(path string, form url.Values) (*http.Response, string) {
	v.t.Helper()
	req, err := http.NewRequest(http.MethodPost, v.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		v.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return v.do(req)
}

// submit posts form to path with the CSRF token of the last page seen
// and expects 303 See Other to /.
func (v *visitor) submit(path string, form url.Values) {
	v.t.Helper()
	form.Set("_csrf", v.token())
	res, body := v.post(path, form)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		v.t.Fatalf("POST %s = %d (Location %q), want 303 to /: %s", path, res.StatusCode, res.Header.Get("Location"), body)
	}
}

var csrfField = regexp.MustCompile(`<input type="hidden" name="_csrf" value="([^"]+)">`)

// token returns the CSRF token of the last page seen, loading / first if
// there is none.
func (v *visitor) token() string {
	v.t.Helper()
	if v.page == "" {
		v.home()
	}
	m := csrfField.FindStringSubmatch(v.page)
	if m == nil {
		v.t.Fatalf("no _csrf field in the page:\n%s", v.page)
	}
	return m[1]
}

// cookie returns the value of the session cookie, or "".
func (v *visitor) cookie() string {
	v.t.Helper()
	u, _ := url.Parse(v.base)
	for _, c := range v.client.Jar.Cookies(u) {
		if c.Name == middleware.DefaultCookieName {
			return c.Value
		}
	}
	return ""
}

// text returns the text of the element with the id in the last page, or
// fails if it is not there.
func (v *visitor) text(id string) string {
	v.t.Helper()
	re := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>(.*?)</`)
	m := re.FindStringSubmatch(v.page)
	if m == nil {
		v.t.Fatalf("no element #%s in the page:\n%s", id, v.page)
	}
	return m[1]
}
