package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
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
//	/rwbig?v=      reads blob (the session's large key) and sets seen = v;
//	               answers the blob's length
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
	routeRWBig     = "/rwbig"
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
	rawCookie     = "rawsid"
)

const (
	libAtomic = "atomicsession"
	// libAtomicFast is atomicsession on its fast path (Attach + Fetch).
	libAtomicFast = "atomicsession, Attach"
	// libAtomicUnbatched is the fast path with batching across requests
	// turned off (middleware.Options.NoBatching): each request's batch is
	// a store call of its own.
	libAtomicUnbatched = "atomicsession, Attach, unbatched"
	libSCS             = "SCS v2.9.0"
	libGorilla         = "gorilla v1.4.0"
	libRaw             = "raw store"
)

var (
	atomicLib       = library{Name: libAtomic, Cookie: middleware.DefaultCookieName, NeedsStore: true, newApp: atomicApp}
	atomicFast      = library{Name: libAtomicFast, Cookie: middleware.DefaultCookieName, NeedsStore: true, newApp: atomicFastApp}
	atomicUnbatched = library{Name: libAtomicUnbatched, Cookie: middleware.DefaultCookieName, NeedsStore: true, newApp: atomicUnbatchedApp}
	scsLib          = library{Name: libSCS, Cookie: scsCookie, NeedsStore: true, newApp: scsApp}
	gorillaLib      = library{Name: libGorilla, Cookie: gorillaCookie, newApp: gorillaApp}
	rawLib          = library{Name: libRaw, Cookie: rawCookie, NeedsStore: true, newApp: rawApp}
)

// blobs caches blob's values by size.
var blobs sync.Map

// blob returns the filler value of a session of about n bytes: letters
// and digits from a fixed pseudo-random sequence, so that no store's
// compression (PostgreSQL's TOAST, for one) turns it into a few bytes, as
// it would a run of one letter.
func blob(n int) string {
	if v, ok := blobs.Load(n); ok {
		return v.(string)
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	rng := rand.New(rand.NewPCG(uint64(n), 0x5eed))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	v, _ := blobs.LoadOrStore(n, string(b))
	return v.(string)
}

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

// atomicFn is a route of the atomicsession app: it queues its commands,
// calls ready before it awaits them or reads the session, and returns the
// response body. ready waits for the keys the route reads: a no-op when
// they were loaded before fn (Session(r, keys...)), or the Fetch that
// joins fn's commands on the fast path (Attach).
type atomicFn func(ctx context.Context, s *session.Session, r *http.Request, ready func(context.Context) error) (any, error)

// atomicApp is atomicsession as the README teaches it first: the handler
// loads the keys it reads (middleware.Session(r, keys...)), then writes.
func atomicApp(c *storeConn) (http.Handler, error) { return newAtomicApp(c, false, true) }

// atomicFastApp is atomicsession's fast path: the handler attaches the
// session without loading it (middleware.Attach) and queues a Fetch of
// the keys it reads with its commands: one round trip for read + write.
func atomicFastApp(c *storeConn) (http.Handler, error) {
	if !hasAttach {
		return nil, notRun{errors.New("this build of the library has no middleware.Attach")}
	}
	return newAtomicApp(c, true, true)
}

// atomicUnbatchedApp is the fast path without batching across requests:
// the row that shows what batching is worth.
func atomicUnbatchedApp(c *storeConn) (http.Handler, error) {
	if !hasAttach {
		return nil, notRun{errors.New("this build of the library has no middleware.Attach")}
	}
	return newAtomicApp(c, true, false)
}

func newAtomicApp(c *storeConn, fast, batching bool) (http.Handler, error) {
	if c.atomic == nil {
		return nil, c.atomicErr
	}
	m, err := middleware.New(c.atomic, middleware.Options{
		Keys:       [][]byte{signingKey},
		Secure:     middleware.SecureNever,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		NoBatching: !batching,
	})
	if err != nil {
		return nil, fmt.Errorf("atomicsession middleware: %w", err)
	}
	mux := http.NewServeMux()
	// route serves path: without fast it loads loadKeys first; with fast
	// it attaches and fetches readKeys (nothing when there are none)
	// together with fn's commands.
	route := func(path string, loadKeys, readKeys []string, fn atomicFn) {
		mux.HandleFunc(path, atomicRoute(fast, loadKeys, readKeys, fn))
	}
	mux.HandleFunc(routeUntouched, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	route(routeFill, []string{"user"}, nil, func(ctx context.Context, s *session.Session, r *http.Request, ready func(context.Context) error) (any, error) {
		fs := []*future.Future[session.Doc]{s.Set("user", "alice"), s.Set("n", 0)}
		if n := queryInt(r, "bytes"); n > 0 {
			fs = append(fs, s.Set("blob", blob(n)))
		}
		_, err := future.All(fs...).Await(ctx)
		return "ok", err
	})
	route(routeInc, []string{"n"}, nil, func(ctx context.Context, s *session.Session, r *http.Request, ready func(context.Context) error) (any, error) {
		_, err := s.Inc("n", 1).Await(ctx)
		return "ok", err
	})
	route(routeSetKey, []string{"user"}, nil, func(ctx context.Context, s *session.Session, r *http.Request, ready func(context.Context) error) (any, error) {
		_, err := s.Set(r.URL.Query().Get("k"), queryInt(r, "v")).Await(ctx)
		return "ok", err
	})
	// /values and /read only read: both ways load what they read.
	mux.HandleFunc(routeValues, atomicRoute(false, nil, nil, func(ctx context.Context, s *session.Session, r *http.Request, ready func(context.Context) error) (any, error) {
		return map[string]any(s.Values()), nil
	}))
	mux.HandleFunc(routeRead, atomicRoute(false, []string{"user"}, nil, func(ctx context.Context, s *session.Session, r *http.Request, ready func(context.Context) error) (any, error) {
		user, _ := s.Get("user")
		return user, nil
	}))
	route(routeWrite, []string{"n"}, nil, func(ctx context.Context, s *session.Session, r *http.Request, ready func(context.Context) error) (any, error) {
		_, err := s.Set("n", queryInt(r, "v")).Await(ctx)
		return "ok", err
	})
	route(routeRead4, []string{"user"}, []string{"user"}, func(ctx context.Context, s *session.Session, r *http.Request, ready func(context.Context) error) (any, error) {
		v := queryInt(r, "v")
		// Queued together, sent together: one atomic update.
		all := future.All(s.Set("a", v), s.Set("b", v), s.Inc("c", 1), s.Set("d", "x"))
		if err := ready(ctx); err != nil {
			return nil, err
		}
		_, err := all.Await(ctx)
		user, _ := s.Get("user")
		return user, err
	})
	route(routeRW, []string{"user"}, []string{"user"}, func(ctx context.Context, s *session.Session, r *http.Request, ready func(context.Context) error) (any, error) {
		set := s.Set("seen", queryInt(r, "v"))
		if err := ready(ctx); err != nil {
			return nil, err
		}
		_, err := set.Await(ctx)
		user, _ := s.Get("user")
		return user, err
	})
	route(routeRWBig, []string{"blob"}, []string{"blob"}, func(ctx context.Context, s *session.Session, r *http.Request, ready func(context.Context) error) (any, error) {
		set := s.Set("seen", queryInt(r, "v"))
		if err := ready(ctx); err != nil {
			return nil, err
		}
		_, err := set.Await(ctx)
		v, _ := s.Get("blob")
		b, _ := v.(string)
		return len(b), err
	})
	return m.Handler(mux), nil
}

// atomicRoute runs fn on the request's session. Without fast, the session
// is loaded with loadKeys only (all keys when loadKeys is nil) where the
// library has partial loads, and ready is a no-op. With fast, the session
// is attached without a load, a Fetch of readKeys (if any) is queued
// before fn's commands, and ready awaits it.
func atomicRoute(fast bool, loadKeys, readKeys []string, fn atomicFn) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var s *session.Session
		var err error
		ready := func(context.Context) error { return nil }
		if fast {
			s, err = attachSession(r)
			if err == nil && len(readKeys) > 0 {
				ready = fetchKeys(s, readKeys)
			}
		} else {
			s, err = loadSession(r, loadKeys...).Await(r.Context())
		}
		if err != nil {
			fail(w, err)
			return
		}
		out, err := fn(r.Context(), s, r, ready)
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
	route(routeRWBig, func(ctx context.Context, sm *scs.SessionManager, r *http.Request) any {
		b := sm.GetString(ctx, "blob")
		sm.Put(ctx, "seen", queryInt(r, "v"))
		return len(b)
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
	route(routeRWBig, true, func(s *sessions.Session, r *http.Request) any {
		b, _ := s.Values["blob"].(string)
		s.Values["seen"] = queryInt(r, "v")
		return len(b)
	})
	return mux, nil
}

// --- the raw store: no session library, the least store work per request ---

// rawApp serves the read + write routes (and /fill, /values) straight on
// the raw store: the session id is the cookie's value, unsigned, and a
// read + write is one ReadWrite, one round trip.
func rawApp(c *storeConn) (http.Handler, error) {
	if c == nil || c.raw == nil {
		return nil, notRun{errors.New("no raw store for this backend")}
	}
	st := c.raw
	mux := http.NewServeMux()
	mux.HandleFunc(routeUntouched, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc(routeFill, func(w http.ResponseWriter, r *http.Request) {
		var b [16]byte
		_, _ = crand.Read(b[:])
		id := hex.EncodeToString(b[:])
		if err := st.Create(r.Context(), id, queryInt(r, "bytes")); err != nil {
			fail(w, err)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: rawCookie, Value: id, Path: "/", MaxAge: int(sessionLifetime / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode})
		writeJSON(w, "ok")
	})
	rw := func(key string, answer func(v any) any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			ck, err := r.Cookie(rawCookie)
			if err != nil {
				http.Error(w, "no session", http.StatusBadRequest)
				return
			}
			v, found, err := st.ReadWrite(r.Context(), ck.Value, key)
			if err != nil {
				fail(w, err)
				return
			}
			if !found {
				http.Error(w, "session not found", http.StatusNotFound)
				return
			}
			writeJSON(w, answer(v))
		}
	}
	mux.HandleFunc(routeRW, rw("user", func(v any) any { return v }))
	mux.HandleFunc(routeRWBig, rw("blob", func(v any) any { s, _ := v.(string); return len(s) }))
	mux.HandleFunc(routeValues, func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(rawCookie)
		if err != nil {
			http.Error(w, "no session", http.StatusBadRequest)
			return
		}
		vals, err := st.Values(r.Context(), ck.Value)
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, vals)
	})
	return mux, nil
}

// notRun is the error of a row that this build or backend cannot run:
// tables say "not run" instead of "failed".
type notRun struct{ err error }

func (e notRun) Error() string { return e.err.Error() }
func (e notRun) Unwrap() error { return e.err }
