package redis_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
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
// for its routes): a session counter behind the middleware, with
// Options.Timeout timeout, that answers each failure through the
// middleware's default ErrorHandler and names the error in a header.
func faultApp(t testing.TB, store session.Store, timeout time.Duration) http.Handler {
	t.Helper()
	fail := func(w http.ResponseWriter, r *http.Request, err error) {
		w.Header().Set(testenv.SessionErrorHeader, err.Error())
		middleware.DefaultErrorHandler(w, r, err)
	}
	m, err := middleware.New(store, middleware.Options{
		Keys: faultKeys, Timeout: timeout, ErrorHandler: fail,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
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
	srv := testenv.RestartableRedis(t)
	opt, err := goredis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	opt.ContextTimeoutEnabled = true
	client := goredis.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	h := faultApp(t, redis.NewStore(client, redis.WithPrefix(testenv.RedisPrefix(t))), faultTimeout)
	testenv.Outage(t, h, testenv.OutageOptions{
		Timeout:     faultTimeout,
		Slack:       faultSlack,
		Down:        4 * time.Second,
		StartOutage: func() error { return srv.Stop(os.Kill) },
		EndOutage:   srv.Start,
	})
}

// TestSlowRedis puts a proxy that adds 2 s of latency in front of Redis
// under load: requests end at Options.Timeout with 503, and all is well
// again when the latency goes.
func TestSlowRedis(t *testing.T) {
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
	const timeout = 500 * time.Millisecond
	h := faultApp(t, redis.NewStore(client, redis.WithPrefix(testenv.RedisPrefix(t))), timeout)
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
	t.Logf("connections through the proxy: %d in all, %d open at the end", proxy.Total(), proxy.Open())
}
