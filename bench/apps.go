package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gorilla/sessions"

	"github.com/atomicsession/atomicsession/future"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/session"
)

// Every library serves the same routes with the same meaning, so that the
// clients of a scenario cannot tell them apart:
//
//	/fill?bytes=N  start a session: user "alice", blob of N bytes, n 0
//	/inc           n += 1
//	/setkey?k=&v=  key k = integer v
//	/values        the session's user keys as JSON
//	/untouched     answers without touching the session
//	/read          reads user
//	/write?v=      sets n = v (without reading a value)
//	/read4?v=      reads user, then four commands: a = v, b = v, c += 1, d = "x"
//	/rw?v=         reads user and sets seen = v
const (
	routeFill      = "/fill"
	routeInc       = "/inc"
	routeSetKey    = "/setkey"
	routeValues    = "/values"
	routeUntouched = "/untouched"
	routeRead      = "/read"
	routeWrite     = "/write"
	routeRead4     = "/read4"
	routeRW        = "/rw"
)

// sessionLifetime is the session lifetime of every library: 24 hours.
const sessionLifetime = 24 * time.Hour

// library is one of the session libraries under test.
type library struct {
	Name       string // as printed
	Cookie     string // its session cookie's name
	NeedsStore bool   // false for a cookie-only library
	// newApp returns one application instance on the store client c (nil
	// for a cookie-only library).
	newApp func(c *storeConn) (http.Handler, error)
}

// Fixed keys: the benchmark signs cookies but guards no secrets.
var (
	signingKey = []byte("atomicsession-bench-signing-key-0123456789")
	blockKey   = []byte("atomicsession-bench-aes-key-0123") // 32 bytes: AES-256
)

// Cookie names of SCS and gorilla; atomicsession's is its default, "sid".
const (
	scsCookie     = "session"
	gorillaCookie = "gsession"
)

const (
	libAtomic  = "atomicsession"
	libSCS     = "SCS v2.9.0"
	libGorilla = "gorilla v1.4.0"
)

var (
	atomicLib  = library{Name: libAtomic, Cookie: middleware.DefaultCookieName, NeedsStore: true, newApp: atomicApp}
	scsLib     = library{Name: libSCS, Cookie: scsCookie, NeedsStore: true, newApp: scsApp}
	gorillaLib = library{Name: libGorilla, Cookie: gorillaCookie, newApp: gorillaApp}
)

// blob returns the filler value of a session of about n bytes.
func blob(n int) string { return strings.Repeat("x", n) }

func queryInt(r *http.Request, name string) int {
	v, _ := strconv.Atoi(r.URL.Query().Get(name))
	return v
}

func fail(w http.ResponseWriter, err error) {
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// --- atomicsession: our middleware over our stores ---

// atomicFn is a route of the atomicsession app: it gets the loaded
// session and returns the response body.
type atomicFn func(ctx context.Context, s *session.Session, r *http.Request) (any, error)

func atomicApp(c *storeConn) (http.Handler, error) {
	m, err := middleware.New(c.atomic, middleware.Options{
		Keys:   [][]byte{signingKey},
		Secure: middleware.SecureNever,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, fmt.Errorf("atomicsession middleware: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(routeUntouched, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc(routeFill, atomicRoute(func(ctx context.Context, s *session.Session, r *http.Request) (any, error) {
		fs := []*future.Future[session.Doc]{s.Set("user", "alice"), s.Set("n", 0)}
		if n := queryInt(r, "bytes"); n > 0 {
			fs = append(fs, s.Set("blob", blob(n)))
		}
		_, err := future.All(fs...).Await(ctx)
		return "ok", err
	}))
	mux.HandleFunc(routeInc, atomicRoute(func(ctx context.Context, s *session.Session, r *http.Request) (any, error) {
		_, err := s.Inc("n", 1).Await(ctx)
		return "ok", err
	}))
	mux.HandleFunc(routeSetKey, atomicRoute(func(ctx context.Context, s *session.Session, r *http.Request) (any, error) {
		_, err := s.Set(r.URL.Query().Get("k"), queryInt(r, "v")).Await(ctx)
		return "ok", err
	}))
	mux.HandleFunc(routeValues, atomicRoute(func(ctx context.Context, s *session.Session, r *http.Request) (any, error) {
		return map[string]any(s.Values()), nil
	}))
	mux.HandleFunc(routeRead, atomicRoute(func(ctx context.Context, s *session.Session, r *http.Request) (any, error) {
		user, _ := s.Get("user")
		return user, nil
	}))
	mux.HandleFunc(routeWrite, atomicRoute(func(ctx context.Context, s *session.Session, r *http.Request) (any, error) {
		_, err := s.Set("n", queryInt(r, "v")).Await(ctx)
		return "ok", err
	}))
	mux.HandleFunc(routeRead4, atomicRoute(func(ctx context.Context, s *session.Session, r *http.Request) (any, error) {
		user, _ := s.Get("user")
		v := queryInt(r, "v")
		// Queued together, sent together: one atomic update.
		_, err := future.All(s.Set("a", v), s.Set("b", v), s.Inc("c", 1), s.Set("d", "x")).Await(ctx)
		return user, err
	}))
	mux.HandleFunc(routeRW, atomicRoute(func(ctx context.Context, s *session.Session, r *http.Request) (any, error) {
		user, _ := s.Get("user")
		_, err := s.Set("seen", queryInt(r, "v")).Await(ctx)
		return user, err
	}))
	return m.Handler(mux), nil
}

func atomicRoute(fn atomicFn) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		out, err := fn(r.Context(), s, r)
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, out)
	}
}

// --- SCS v2.9.0 over the same servers, with its LoadAndSave middleware ---

// scsFn is a route of the SCS app: it returns the response body.
type scsFn func(ctx context.Context, sm *scs.SessionManager, r *http.Request) any

func scsApp(c *storeConn) (http.Handler, error) {
	// scs.New, as applications call it, also starts a default memory store
	// whose cleanup goroutine runs until the process ends: its StopCleanup
	// races with the goroutine's start, so it is left running.
	sm := scs.New()
	sm.Store = c.scs
	sm.Lifetime = sessionLifetime
	sm.Cookie.Name = scsCookie
	sm.Cookie.Secure = false
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) { fail(w, err) }
	mux := http.NewServeMux()
	mux.HandleFunc(routeUntouched, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	route := func(path string, fn scsFn) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, fn(r.Context(), sm, r)) })
	}
	route(routeFill, func(ctx context.Context, sm *scs.SessionManager, r *http.Request) any {
		sm.Put(ctx, "user", "alice")
		sm.Put(ctx, "n", 0)
		if n := queryInt(r, "bytes"); n > 0 {
			sm.Put(ctx, "blob", blob(n))
		}
		return "ok"
	})
	route(routeInc, func(ctx context.Context, sm *scs.SessionManager, r *http.Request) any {
		sm.Put(ctx, "n", sm.GetInt(ctx, "n")+1)
		return "ok"
	})
	route(routeSetKey, func(ctx context.Context, sm *scs.SessionManager, r *http.Request) any {
		sm.Put(ctx, r.URL.Query().Get("k"), queryInt(r, "v"))
		return "ok"
	})
	route(routeValues, func(ctx context.Context, sm *scs.SessionManager, r *http.Request) any {
		out := map[string]any{}
		for _, k := range sm.Keys(ctx) {
			out[k] = sm.Get(ctx, k)
		}
		return out
	})
	route(routeRead, func(ctx context.Context, sm *scs.SessionManager, r *http.Request) any {
		return sm.GetString(ctx, "user")
	})
	route(routeWrite, func(ctx context.Context, sm *scs.SessionManager, r *http.Request) any {
		sm.Put(ctx, "n", queryInt(r, "v"))
		return "ok"
	})
	route(routeRead4, func(ctx context.Context, sm *scs.SessionManager, r *http.Request) any {
		user := sm.GetString(ctx, "user")
		v := queryInt(r, "v")
		sm.Put(ctx, "a", v)
		sm.Put(ctx, "b", v)
		sm.Put(ctx, "c", sm.GetInt(ctx, "c")+1)
		sm.Put(ctx, "d", "x")
		return user
	})
	route(routeRW, func(ctx context.Context, sm *scs.SessionManager, r *http.Request) any {
		user := sm.GetString(ctx, "user")
		sm.Put(ctx, "seen", queryInt(r, "v"))
		return user
	})
	return sm.LoadAndSave(mux), nil
}

// --- gorilla/sessions v1.4.0 CookieStore: the session lives in the cookie ---

// gorillaFn is a route of the gorilla app: it changes s.Values and returns
// the response body.
type gorillaFn func(s *sessions.Session, r *http.Request) any

func gorillaApp(*storeConn) (http.Handler, error) {
	cs := sessions.NewCookieStore(signingKey, blockKey)
	cs.Options = &sessions.Options{Path: "/", MaxAge: int(sessionLifetime / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode}
	mux := http.NewServeMux()
	mux.HandleFunc(routeUntouched, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	route := func(path string, save bool, fn gorillaFn) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			s, err := cs.Get(r, gorillaCookie)
			if err != nil {
				fail(w, fmt.Errorf("gorilla: read cookie: %w", err))
				return
			}
			out := fn(s, r)
			if save {
				if err := s.Save(r, w); err != nil {
					fail(w, fmt.Errorf("gorilla: save: %w", err))
					return
				}
			}
			writeJSON(w, out)
		})
	}
	route(routeFill, true, func(s *sessions.Session, r *http.Request) any {
		s.Values["user"] = "alice"
		s.Values["n"] = 0
		if n := queryInt(r, "bytes"); n > 0 {
			s.Values["blob"] = blob(n)
		}
		return "ok"
	})
	route(routeInc, true, func(s *sessions.Session, r *http.Request) any {
		n, _ := s.Values["n"].(int)
		s.Values["n"] = n + 1
		return "ok"
	})
	route(routeSetKey, true, func(s *sessions.Session, r *http.Request) any {
		s.Values[r.URL.Query().Get("k")] = queryInt(r, "v")
		return "ok"
	})
	route(routeValues, false, func(s *sessions.Session, r *http.Request) any {
		out := map[string]any{}
		for k, v := range s.Values {
			out[fmt.Sprint(k)] = v
		}
		return out
	})
	route(routeRead, false, func(s *sessions.Session, r *http.Request) any { return s.Values["user"] })
	route(routeWrite, true, func(s *sessions.Session, r *http.Request) any {
		s.Values["n"] = queryInt(r, "v")
		return "ok"
	})
	route(routeRead4, true, func(s *sessions.Session, r *http.Request) any {
		v := queryInt(r, "v")
		c, _ := s.Values["c"].(int)
		s.Values["a"], s.Values["b"], s.Values["c"], s.Values["d"] = v, v, c+1, "x"
		return s.Values["user"]
	})
	route(routeRW, true, func(s *sessions.Session, r *http.Request) any {
		s.Values["seen"] = queryInt(r, "v")
		return s.Values["user"]
	})
	return mux, nil
}
