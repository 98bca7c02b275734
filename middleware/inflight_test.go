package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/session"
)

// slowStore is a real store whose calls take a while, and which records
// how many were in flight at once.
type slowStore struct {
	session.Store
	delay         time.Duration
	now, mostSeen atomic.Int64
}

func (s *slowStore) enter() func() {
	n := s.now.Add(1)
	for {
		m := s.mostSeen.Load()
		if n <= m || s.mostSeen.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(s.delay)
	return func() { s.now.Add(-1) }
}

func (s *slowStore) Create(ctx context.Context, m session.Meta, u session.Update) (session.Doc, error) {
	defer s.enter()()
	return s.Store.Create(ctx, m, u)
}

func (s *slowStore) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	defer s.enter()()
	return s.Store.Apply(ctx, id, u)
}

func TestMaxInFlightBoundsStoreWork(t *testing.T) {
	st := &slowStore{Store: newMemory(t), delay: 20 * time.Millisecond}
	m := newManager(t, st, middleware.Options{MaxInFlight: 3})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Attach(r)
		if err != nil {
			t.Error(err)
			return
		}
		sess.Inc("n", 1) // sent by the commit, on the Manager's executor
	}))
	var wg sync.WaitGroup
	for range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			if rec.Code != 200 || len(rec.Result().Cookies()) != 1 {
				t.Errorf("status %d, cookies %v", rec.Code, rec.Result().Cookies())
			}
		}()
	}
	wg.Wait()
	if most := st.mostSeen.Load(); most > 3 || most < 1 {
		t.Fatalf("%d store calls were in flight at once, want at most MaxInFlight (3)", most)
	}
	t.Logf("at most %d store calls in flight for 24 concurrent requests", st.mostSeen.Load())
}

func TestAttachAndSessionOutsideHandler(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	if _, err := middleware.Attach(r); err == nil {
		t.Fatal("Attach outside Handler succeeded")
	}
	if _, err := middleware.Session(r, "a").Await(context.Background()); err == nil {
		t.Fatal("Session outside Handler succeeded")
	}
}

func TestStoreTimeoutIs503(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("apply: %w", context.DeadlineExceeded),
		fmt.Errorf("redis: %w", session.ErrUnavailable),
	} {
		if got := middleware.StatusOf(err); got != http.StatusServiceUnavailable {
			t.Errorf("StatusOf(%v) = %d, want 503", err, got)
		}
	}
	if got := middleware.StatusOf(errors.New("boom")); got != http.StatusInternalServerError {
		t.Errorf("StatusOf(other) = %d, want 500", got)
	}
	// Through the middleware: a store slower than Timeout answers 503.
	st := &slowStore{Store: newMemory(t), delay: 200 * time.Millisecond}
	slow := timeoutStore{st}
	m := newManager(t, slow, middleware.Options{Timeout: 20 * time.Millisecond})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, _ := middleware.Attach(r)
		sess.Set("a", 1)
		w.Header().Set("Location", "/next")
		w.WriteHeader(http.StatusSeeOther)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Location") != "" {
		t.Fatalf("slow store: status %d, Location %q; want 503 without the handler's Location", rec.Code, rec.Header().Get("Location"))
	}
}

// timeoutStore honours its context as a database driver does.
type timeoutStore struct{ *slowStore }

func (s timeoutStore) Create(ctx context.Context, m session.Meta, u session.Update) (session.Doc, error) {
	select {
	case <-time.After(s.delay):
		return s.slowStore.Store.Create(ctx, m, u)
	case <-ctx.Done():
		return nil, fmt.Errorf("create: %w", ctx.Err())
	}
}

// A continuation that writes the response while the commit runs (a Koa
// port's `.then(() => this.body = 'saved')`) gets the cookie in front of
// its output.
func TestContinuationWritingDuringTheCommitKeepsTheCookie(t *testing.T) {
	m := newManager(t, newMemory(t), middleware.Options{})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Attach(r)
		if err != nil {
			t.Error(err)
			return
		}
		sess.Set("msg", "hi").Then(func(d session.Doc) (session.Doc, error) {
			fmt.Fprint(w, "saved")
			return d, nil
		})
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Body.String() != "saved" || len(rec.Result().Cookies()) != 1 {
		t.Fatalf("body %q, cookies %v; want the body and the session cookie", rec.Body.String(), rec.Result().Cookies())
	}
}

// BenchmarkCSRFGuardLongField measures the guard's scan of a form body that
// is one long field without a token: linear in its size (a review found it
// rescanned from the field's start on every 4 KiB read).
func BenchmarkCSRFGuardLongField(b *testing.B) {
	st := newMemoryB(b)
	m, err := middleware.New(st, middleware.Options{Keys: testKeys, MaxFormBytes: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	h := m.Handler(m.CSRF(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	tok, _ := session.NewToken()
	kr, _ := session.NewKeyring(testKeys...)
	for _, size := range []int{1 << 20, 4 << 20, 8 << 20} {
		body := "a=" + strings.Repeat("x", size)
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			for range b.N {
				req := httptest.NewRequest("POST", "/", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.AddCookie(&http.Cookie{Name: middleware.DefaultCookieName, Value: kr.Sign(tok)})
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusForbidden {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

func newMemoryB(b *testing.B) *memory.Store {
	st := memory.NewStore()
	b.Cleanup(func() { st.Close() })
	return st
}

// The handler's status survives a continuation that writes during the
// commit that the status started.
func TestStatusSurvivesAContinuationWritingDuringTheCommit(t *testing.T) {
	m := newManager(t, newMemory(t), middleware.Options{})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, _ := middleware.Attach(r)
		sess.Set("msg", "hi").Then(func(d session.Doc) (session.Doc, error) {
			fmt.Fprint(w, "saved")
			return d, nil
		})
		w.WriteHeader(http.StatusCreated)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != http.StatusCreated || rec.Body.String() != "saved" || len(rec.Result().Cookies()) != 1 {
		t.Fatalf("status %d, body %q, cookies %v; want 201, the body and the cookie", rec.Code, rec.Body.String(), rec.Result().Cookies())
	}
}
