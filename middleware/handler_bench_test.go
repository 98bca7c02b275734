package middleware_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/session"
)

// BenchmarkHandler measures the library's own cost per request, on the
// memory store (no network, no database): the middleware, the session's
// queue and flush, and the futures, for a request that reads one key and
// writes another, with each goroutine on a session of its own.
//
//	go test -run '^$' -bench Handler -benchmem -cpuprofile cpu.out ./middleware/
func BenchmarkHandler(b *testing.B) {
	for _, path := range []string{"attach", "load"} {
		b.Run(path, func(b *testing.B) { benchHandler(b, path == "attach") })
	}
}

func benchHandler(b *testing.B, attach bool) {
	st := memory.NewStore(memory.WithSweepInterval(0))
	defer st.Close()
	m, err := middleware.New(st, middleware.Options{
		Keys:   [][]byte{[]byte("benchmark-signing-key-0123456789abcdef")},
		Secure: middleware.SecureNever,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var s *session.Session
		var err error
		var fetched interface {
			Await(context.Context) (session.Doc, error)
		}
		if attach {
			s, err = middleware.Attach(r)
			if err == nil {
				fetched = s.Fetch("user")
			}
		} else {
			s, err = middleware.Session(r, "user").Await(ctx)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		set := s.Set("seen", r.URL.RawQuery)
		if fetched != nil {
			if _, err := fetched.Await(ctx); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		if _, err := set.Await(ctx); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		user, _ := s.GetString("user")
		_, _ = io.WriteString(w, user)
	}))
	start := func() string {
		rec := httptest.NewRecorder()
		m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, _ := middleware.Attach(r)
			_, _ = s.Set("user", "alice").Await(r.Context())
		})).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		for _, c := range rec.Result().Cookies() {
			return c.Name + "=" + c.Value
		}
		b.Fatal("no session cookie")
		return ""
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		cookie := start()
		for i := 0; pb.Next(); i++ {
			req := httptest.NewRequest(http.MethodGet, "/?"+strconv.Itoa(i), nil)
			req.Header.Set("Cookie", cookie)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || rec.Body.String() != "alice" {
				b.Errorf("got %d %q", rec.Code, rec.Body.String())
				return
			}
		}
	})
}
