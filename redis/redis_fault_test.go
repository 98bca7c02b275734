package redis_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/redis"
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

// faultPost sends one request to h with cookie (may be empty) and returns
// the status, the body and the session cookie h set, if any.
func faultPost(h http.Handler, method, path, cookie string) (code int, body, setCookie, errText string) {
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

// faultTimeout is the Options.Timeout of the outage tests, and faultSlack
// how much longer a failing request may take (a busy 2-core machine).
const (
	faultTimeout = time.Second
	faultSlack   = 500 * time.Millisecond
)

// TestOutageRedisKilled kills a durable redis-server (appendonly yes,
// appendfsync always) with SIGKILL under load from 8 clients and starts it
// again on the same port: 503 while it is down, served again after,
// nothing acknowledged lost (testenv.Outage checks it all).
func TestOutageRedisKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("an outage under load takes seconds")
	}
	srv := testenv.RestartableRedis(t)
	opt, err := goredis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	opt.ContextTimeoutEnabled = true
	client := goredis.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	h := faultApp(t, redis.NewStore(client, redis.WithPrefix(testenv.RedisPrefix(t))), middleware.Options{Timeout: faultTimeout})
	testenv.Outage(t, h, testenv.OutageOptions{
		Timeout:     faultTimeout,
		Slack:       faultSlack,
		Down:        4 * time.Second,
		StartOutage: func() error { return srv.Stop(os.Kill) },
		EndOutage:   srv.Start,
	})
}

// TestSlowRedis puts a proxy that adds 2 s of latency in front of Redis
// under load from 8 clients on an app with Options.MaxInFlight 4:
// requests end at Options.Timeout with 503, no more than 4 store calls are
// ever in flight, and all is well again when the latency goes.
func TestSlowRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("an outage under load takes seconds")
	}
	url := testenv.RedisURL(t)
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.StartProxy(t, opt.Addr)
	opt.Addr = proxy.Addr()
	opt.ContextTimeoutEnabled = true
	client := goredis.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	const timeout, maxInFlight = 500 * time.Millisecond, 4
	store := &inFlightStore{Store: redis.NewStore(client, redis.WithPrefix(testenv.RedisPrefix(t)))}
	h := faultApp(t, store, middleware.Options{Timeout: timeout, MaxInFlight: maxInFlight})
	rep := testenv.Outage(t, h, testenv.OutageOptions{
		Timeout:     timeout,
		Slack:       faultSlack,
		Down:        3 * time.Second,
		StartOutage: func() error { proxy.SetLatency(2 * time.Second); return nil },
		EndOutage:   func() error { proxy.SetLatency(0); return nil },
	})
	if rep.MaxDuring < timeout {
		t.Errorf("the slowest request during the latency took %v, less than the timeout %v: the latency was not felt", rep.MaxDuring, timeout)
	}
	if most := store.most.Load(); most > maxInFlight {
		t.Errorf("%d store calls in flight at once, more than Options.MaxInFlight %d", most, maxInFlight)
	}
	t.Logf("store calls in flight at most: %d (MaxInFlight %d, 8 clients); connections through the proxy: %d in all, %d open at the end",
		store.most.Load(), maxInFlight, proxy.Total(), proxy.Open())
}

// inFlightStore counts the store calls in flight and keeps the most seen.
type inFlightStore struct {
	session.Store
	now, most atomic.Int64
}

func (s *inFlightStore) enter() func() {
	n := s.now.Add(1)
	for m := s.most.Load(); n > m && !s.most.CompareAndSwap(m, n); m = s.most.Load() {
	}
	return func() { s.now.Add(-1) }
}

func (s *inFlightStore) Load(ctx context.Context, id string, keys []string) (session.Doc, error) {
	defer s.enter()()
	return s.Store.Load(ctx, id, keys)
}

func (s *inFlightStore) Create(ctx context.Context, m session.Meta, u session.Update) (session.Doc, error) {
	defer s.enter()()
	return s.Store.Create(ctx, m, u)
}

func (s *inFlightStore) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	defer s.enter()()
	return s.Store.Apply(ctx, id, u)
}

func (s *inFlightStore) Delete(ctx context.Context, id string) error {
	defer s.enter()()
	return s.Store.Delete(ctx, id)
}
