// Package faultapp holds the applications that the fault and batching tests
// of every store run under load: a session counter behind the middleware,
// a one-request client for it, and a read-and-increment app with a load of
// concurrent clients. It lives apart from internal/testenv, which the store
// packages' tests import and which must not import the middleware.
package faultapp

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/session"
)

// Keys sign the cookies of every app of the fault tests, so that two
// app instances accept each other's cookies.
var Keys = [][]byte{[]byte(strings.Repeat("fault-test-key!", 3))}

// App is the app of the fault tests (see testenv.SessionErrorHeader
// for its routes): a session counter behind the middleware with opts (its
// Keys, ErrorHandler and Logger set here), that answers each failure
// through the middleware's default ErrorHandler and names the error in a
// header.
func App(t testing.TB, store session.Store, opts middleware.Options) http.Handler {
	t.Helper()
	fail := func(w http.ResponseWriter, r *http.Request, err error) {
		w.Header().Set(testenv.SessionErrorHeader, err.Error())
		middleware.DefaultErrorHandler(w, r, err)
	}
	opts.Keys, opts.ErrorHandler = Keys, fail
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

// Do sends one request to h with cookie (may be empty) and returns
// the status, the body and the session cookie h set, if any.
func Do(h http.Handler, method, path, cookie string) (code int, body, setCookie, errText string) {
	req := httptest.NewRequest(method, path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	for _, c := range w.Result().Cookies() {
		if c.Name == middleware.DefaultCookieName {
			setCookie = c.Name + "=" + c.Value
		}
	}
	return w.Code, strings.TrimSpace(w.Body.String()), setCookie, w.Header().Get(testenv.SessionErrorHeader)
}

// BatchApp is the handler of the batching tests: read "name", increment
// "n", in one round trip (Attach, Fetch with the command).
func BatchApp() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Attach(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		f := sess.Fetch("name")
		sess.Inc("n", 1)
		if _, err := f.Await(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}

// batchKey signs the cookies of the batching tests.
var batchKey = [][]byte{[]byte("0123456789abcdef0123456789abcdef-batch")}

// LoadClients starts a server for st with batching on or off, makes one
// session per client, and returns a function that sends, from every client
// at once, requests until each has sent n (n > 0) or until d has passed
// (n == 0), and returns how many were sent.
func LoadClients(t testing.TB, st session.Store, noBatching bool, clients int) func(n int, d time.Duration) int64 {
	t.Helper()
	m, err := middleware.New(st, middleware.Options{Keys: batchKey, NoBatching: noBatching})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler(BatchApp()))
	t.Cleanup(srv.Close)
	transport := &http.Transport{MaxIdleConnsPerHost: clients}
	t.Cleanup(transport.CloseIdleConnections)
	hc := &http.Client{Transport: transport}
	send := func(cookie *http.Cookie) (*http.Cookie, error) {
		req, _ := http.NewRequest("POST", srv.URL+"/", nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: %s", resp.Status, body)
		}
		if cs := resp.Cookies(); len(cs) == 1 {
			return cs[0], nil
		}
		return cookie, nil
	}
	cookies := make([]*http.Cookie, clients)
	for i := range cookies {
		c, err := send(nil)
		if err != nil || c == nil {
			t.Fatalf("new session: %v, %v", c, err)
		}
		cookies[i] = c
	}
	return func(n int, d time.Duration) int64 {
		var total atomic.Int64
		var wg sync.WaitGroup
		end := time.Now().Add(d)
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; n == 0 && time.Now().Before(end) || j < n; j++ {
					if _, err := send(cookies[i]); err != nil {
						t.Error(err)
						return
					}
					total.Add(1)
				}
			}()
		}
		wg.Wait()
		return total.Load()
	}
}

// OnOff is what BatchingOnOff measured: requests per second with batching
// on and off, and the on/off ratio of each pair of rounds.
type OnOff struct {
	On, Off float64   // req/s over every round
	Ratios  []float64 // on/off of each pair of rounds, sorted
}

// Median returns the median of the per-round ratios.
func (o OnOff) Median() float64 {
	n := len(o.Ratios)
	return (o.Ratios[(n-1)/2] + o.Ratios[n/2]) / 2
}

// String formats the figures as a sentence for a log.
func (o OnOff) String() string {
	return fmt.Sprintf("batching on %.0f req/s, off %.0f req/s: on/off ×%.2f (median of %d paired rounds ×%.2f, range ×%.2f–×%.2f)",
		o.On, o.Off, o.On/o.Off, len(o.Ratios), o.Median(), o.Ratios[0], o.Ratios[len(o.Ratios)-1])
}

// BatchingOnOff measures batching across requests on the stores that
// newStore makes (a new one for each side): clients clients at once, with
// batching on and off in alternating rounds of d each (rounds ≥ 1), so
// that the machine's noise falls on both sides alike. It asserts no speed.
func BatchingOnOff(tb testing.TB, newStore func() session.Store, clients, rounds int, d time.Duration) OnOff {
	tb.Helper()
	rounds = max(rounds, 1)
	runs := map[bool]func(int, time.Duration) int64{}
	for _, off := range []bool{false, true} {
		runs[off] = LoadClients(tb, newStore(), off, clients)
		runs[off](0, 200*time.Millisecond) // warm up
	}
	var on, off int64
	ratios := make([]float64, rounds)
	for i := range ratios {
		var a, b int64 // on, off
		if i%2 == 0 {
			a = runs[false](0, d)
			b = runs[true](0, d)
		} else {
			b = runs[true](0, d)
			a = runs[false](0, d)
		}
		on, off = on+a, off+b
		ratios[i] = float64(a) / float64(b)
	}
	sort.Float64s(ratios)
	secs := float64(rounds) * d.Seconds()
	return OnOff{On: float64(on) / secs, Off: float64(off) / secs, Ratios: ratios}
}

// IncrementTwoInstances sends workers × each increments of one session,
// from workers goroutines at once, alternating between two app instances
// (handlers made by App on two stores that see the same sessions), and
// fails t unless every increment is answered 200 and both instances then
// read exactly 1 + workers × each.
func IncrementTwoInstances(t *testing.T, apps [2]http.Handler, workers, each int) {
	t.Helper()
	code, body, cookie, errText := Do(apps[0], http.MethodPost, "/inc", "")
	if code != http.StatusOK || body != "1" || cookie == "" {
		t.Fatalf("first increment: %d %q (%s), cookie %q", code, body, errText, cookie)
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				code, body, set, errText := Do(apps[(w+i)%2], http.MethodPost, "/inc", cookie)
				if code != http.StatusOK || (set != "" && set != cookie) {
					if failed.Add(1) <= 3 {
						t.Errorf("worker %d: %d %q (%s), cookie %q", w, code, body, errText, set)
					}
				}
			}
		}()
	}
	wg.Wait()
	for i, app := range apps {
		code, body, _, errText := Do(app, http.MethodGet, "/n", cookie)
		if want := strconv.Itoa(1 + workers*each); code != http.StatusOK || body != want {
			t.Errorf("instance %d reads n = %d %q (%s), want %s", i, code, body, errText, want)
		}
	}
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d increments failed", n, workers*each)
	}
}
