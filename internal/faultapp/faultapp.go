// Package faultapp is the application the fault tests of every store run
// under load: a session counter behind the middleware, and a one-request
// client for it. It lives apart from internal/testenv, which the store
// packages' tests import and which must not import the middleware.
package faultapp

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
