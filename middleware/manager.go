package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atomicsession/atomicsession/future"
	"github.com/atomicsession/atomicsession/session"
)

// Manager connects a session.Store to net/http: Handler gives every request
// a lazily loaded session and writes its cookie, CSRF guards unsafe methods.
//
// The store work of every request's session runs on one executor of the
// Manager's, which bounds the store calls in flight (Options.MaxInFlight).
type Manager struct {
	opts Options
	keys *session.Keyring
	exec *future.Executor

	bounded session.Store // the store, its calls run on exec
}

// New returns a Manager for store. It returns an error, never panics, for
// bad options: no keys, a key shorter than 32 bytes, a negative MaxAge,
// Timeout, MaxCommands, MaxInFlight or MaxFormBytes, an invalid cookie
// name, or an invalid Header.
func New(store session.Store, opts Options) (*Manager, error) {
	if store == nil {
		return nil, errors.New("middleware: store is nil")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	keys, err := session.NewKeyring(opts.Keys...) // at least one key, each of session.MinKeyLen bytes
	if err != nil {
		return nil, fmt.Errorf("middleware: Options.Keys: %w", err)
	}
	m := &Manager{opts: opts, keys: keys, exec: future.NewExecutor(opts.MaxInFlight)}
	b := &boundedStore{st: store, exec: m.exec}
	if ma, ok := store.(session.MultiApplier); ok && !opts.NoBatching {
		b.multi = &coalescer{st: ma, exec: m.exec}
	}
	m.bounded = b
	return m, nil
}

// sessionOptions are the options of every request's session.
func (m *Manager) sessionOptions() session.Options {
	return session.Options{MaxAge: m.opts.MaxAge, Timeout: m.opts.Timeout, MaxCommands: m.opts.MaxCommands}
}

// boundedStore runs every call of a store on the Manager's executor, so
// that at most Options.MaxInFlight store calls are in flight; the others
// wait their turn in order, and one whose context ends while it waits is
// never sent.
//
// The bound is on store calls, not on a session's whole flush: a flush
// settles futures whose continuations may await new commands of the same
// session, and a flush that held an executor slot while waiting for
// another would deadlock once every slot were held so.
//
// For a store that implements session.MultiApplier, Apply calls go through
// a coalescer (unless Options.NoBatching): concurrent requests' Apply calls
// go to the store together, one ApplyMulti call (one executor slot) per
// group.
type boundedStore struct {
	st    session.Store
	exec  *future.Executor
	multi *coalescer // nil: no batching
}

func (b *boundedStore) Load(ctx context.Context, id string, keys []string) (session.Doc, error) {
	return future.GoOn(b.exec, ctx, func(ctx context.Context) (session.Doc, error) {
		return b.st.Load(ctx, id, keys)
	}).Await(ctx)
}

func (b *boundedStore) Create(ctx context.Context, m session.Meta, u session.Update) (session.Doc, error) {
	return future.GoOn(b.exec, ctx, func(ctx context.Context) (session.Doc, error) {
		return b.st.Create(ctx, m, u)
	}).Await(ctx)
}

func (b *boundedStore) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	if b.multi != nil {
		return b.multi.Apply(ctx, id, u)
	}
	return future.GoOn(b.exec, ctx, func(ctx context.Context) (session.Doc, error) {
		return b.st.Apply(ctx, id, u)
	}).Await(ctx)
}

func (b *boundedStore) Delete(ctx context.Context, id string) error {
	_, err := future.GoOn(b.exec, ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.st.Delete(ctx, id)
	}).Await(ctx)
	return err
}

// ctxKey is the request context key of the middleware's per-request state.
type ctxKey struct{}

// errNoHandler is the error of Session and Attach on a request that did not
// pass through Manager.Handler.
var errNoHandler = errors.New("middleware: the request did not pass through Manager.Handler")

// Session returns the session of r as a lazy future: nothing is read from
// the store until it is awaited. Awaiting it loads the top-level keys named
// in keys (and the reserved fields), or, with no keys, every key; a later
// Session(r, more...) in the same request loads only what is still
// missing, in one round trip, and nothing when nothing is. Every call
// gives the same *session.Session.
//
// A key that was not loaded reads as absent: after Session(r, "cart"),
// Get("user") is (nil, false) whatever the store holds (see
// session.Session.Loaded). A visitor without a valid cookie gets a new
// session at no store cost; it is stored only if the request writes to it.
//
// To read and write in one round trip, use Attach and queue a Fetch with
// the commands. r must have passed through Manager.Handler; otherwise the
// future fails.
func Session(r *http.Request, keys ...string) *future.Future[*session.Session] {
	rs, ok := r.Context().Value(ctxKey{}).(*request)
	if !ok {
		return future.Reject[*session.Session](fmt.Errorf("middleware: Session: %w", errNoHandler))
	}
	return future.New(rs.work, func(ctx context.Context) (*session.Session, error) {
		s, err := rs.attach()
		if err != nil {
			return nil, err
		}
		if _, err := s.Fetch(keys...).Await(ctx); err != nil {
			return nil, err
		}
		return s, nil
	})
}

// Attach returns the session of r without reading the store: the fast path
// for a handler that writes, or reads and writes together. Commands can be
// queued at once, and a Fetch queued with them joins their batch, so that
// reading some keys and writing others costs one round trip:
//
//	sess, err := middleware.Attach(r)
//	if err != nil { ... }
//	cart := sess.Fetch("cart")           // read ...
//	sess.PushLast("recent", 10, item)    // ... and write, in one round trip
//	doc, err := cart.Await(ctx)
//
// Nothing is loaded: Get finds no key until a Fetch (or Session(r, keys...))
// has loaded it. It is the same *session.Session that Session gives. It
// fails only if r did not pass through Manager.Handler or the system's
// random source fails.
func Attach(r *http.Request) (*session.Session, error) {
	rs, ok := r.Context().Value(ctxKey{}).(*request)
	if !ok {
		return nil, fmt.Errorf("middleware: Attach: %w", errNoHandler)
	}
	return rs.attach()
}

// request is the middleware's state for one request.
type request struct {
	m    *Manager
	r    *http.Request
	work context.Context // the session's store work: outlives a client that hangs up

	credOnce  sync.Once
	token     string // the verified token the request came with; "" if none
	viaHeader bool   // the request carried Options.Header: its cookie is ignored
	// signed is the cookie value that carried token, when the first key
	// signed it: the value Sign would give, sent back without signing
	// again.
	signed string

	attachOnce sync.Once
	sess       *session.Session
	attachErr  error
	opened     atomic.Bool // the handler asked for the session
}

// attach makes the request's session handle, once. No store call.
func (rs *request) attach() (*session.Session, error) {
	rs.attachOnce.Do(func() {
		token, _ := rs.credential()
		rs.sess, rs.attachErr = session.Attach(rs.work, rs.m.bounded, token, rs.m.sessionOptions())
		rs.opened.Store(rs.attachErr == nil)
	})
	return rs.sess, rs.attachErr
}

// credential returns the session token the request came with, if one
// verifies, and whether it came in Options.Header. A request that carries
// the header is authenticated by it alone: its cookies are ignored, even if
// the header's token does not verify. Otherwise the first cookie with the
// session's name that verifies is used (a sibling subdomain can put a
// cookie of the same name ahead of the real one: cookie tossing). Values
// that fail the signature are treated as absent, with no store query.
func (rs *request) credential() (token string, viaHeader bool) {
	rs.credOnce.Do(func() {
		rs.token, rs.signed, rs.viaHeader = rs.m.credential(rs.r)
	})
	return rs.token, rs.viaHeader
}

// credential returns, besides the token, the cookie value that carried it
// when the first key signed it ("" otherwise, and for a header token).
func (m *Manager) credential(r *http.Request) (token, signed string, viaHeader bool) {
	if m.opts.Header != "" {
		if v, ok := headerToken(m.opts.Header, r.Header.Get(m.opts.Header)); ok {
			token, _ = m.keys.Verify(v)
			return token, "", true
		}
	}
	for _, c := range r.CookiesNamed(m.opts.CookieName) {
		if token, key, ok := m.keys.VerifyKey(c.Value); ok {
			if key == 0 {
				signed = c.Value
			}
			return token, signed, false
		}
	}
	return "", "", false
}

// bearer is the Authorization scheme of header tokens.
const bearer = "Bearer"

// headerToken returns the signed token in the value v of header name, and
// whether v carries one: for Authorization, "Bearer <token>" (the scheme
// case-insensitive); for any other header, the whole value.
func headerToken(name, v string) (string, bool) {
	v = strings.TrimSpace(v)
	if name == "Authorization" {
		scheme, rest, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(scheme, bearer) {
			return "", false
		}
		v = strings.TrimSpace(rest)
	}
	return v, v != ""
}

// Handler returns a handler that gives each request served by next a
// session (see Session) and, before the response's headers go out, sends
// the session's queued commands and writes its cookie (or, for a request
// authenticated by Options.Header, its header token). If sending fails and
// no header has gone out yet, the response becomes the ErrorHandler's
// (500 by default), starting from the headers the response had when it
// entered Handler: whatever next set (Location, Content-Type, ...) is
// dropped. The failure is logged once, and the middleware makes no further
// store call for the request.
//
// The session token is read from the first cookie named
// Options.CookieName whose signature verifies; a request without one, or
// with only forged or malformed cookies, is a new visitor, with no store
// query.
//
// The response writer next receives keeps http.Flusher, http.Hijacker and
// http.ResponseController working. A 1xx informational header (such as
// 103 Early Hints) goes out at once and is not the commit. Hijack commits
// first and, if the commit failed, returns an error instead of the
// connection.
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The session's store work outlives a client that hangs up, so that
		// a queued command is never lost; each store call has its own
		// timeout (Options.Timeout).
		rs := &request{m: m, r: r, work: context.WithoutCancel(r.Context())}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, rs))
		rw := &responseWriter{ResponseWriter: w, rs: rs}
		if h := w.Header(); len(h) > 0 {
			rw.outer = h.Clone()
		}
		defer rw.finish() // also when next panics: queued commands still go out
		next.ServeHTTP(rw, r)
	})
}

// session returns the request's session if the handler asked for one.
func (rs *request) session() (*session.Session, bool) {
	if !rs.opened.Load() {
		return nil, false
	}
	return rs.sess, true
}

// commit sends the session's queued commands and sets its cookie or header
// token on h. It returns an error if the commands failed.
func (rs *request) commit(h http.Header) error {
	sess, ok := rs.session()
	if !ok {
		return nil
	}
	if err := sess.Flush(rs.work); err != nil {
		return err
	}
	rs.setToken(h, sess)
	return nil
}

// flushLate sends commands queued after the response started. Their cookie
// cannot be sent any more; a failure can only be logged.
func (rs *request) flushLate() error {
	if sess, ok := rs.session(); ok {
		return sess.Flush(rs.work)
	}
	return nil
}

// setToken writes the session's cookie, if it needs writing, and a new
// token in Options.Header. A request authenticated by the header gets no
// cookie.
func (rs *request) setToken(h http.Header, sess *session.Session) {
	o := rs.m.opts
	action, token := sess.Cookie()
	old, viaHeader := rs.credential()
	if o.Header != "" && action == session.CookieSet && token != old {
		v := rs.m.keys.Sign(token)
		if o.Header == "Authorization" {
			v = bearer + " " + v
		}
		h.Set(o.Header, v)
	}
	if viaHeader {
		return
	}
	c := &http.Cookie{
		Name: o.CookieName, Path: o.Path, Domain: o.Domain,
		HttpOnly: !o.AllowScripts, SameSite: o.SameSite,
		Secure: o.Secure == SecureAlways || (o.Secure == SecureAuto && rs.r.TLS != nil),
	}
	switch action {
	case session.CookieKeep:
		return
	case session.CookieSet:
		c.Value = rs.signed
		if token != old || c.Value == "" { // a new token, or one an older key signed
			c.Value = rs.m.keys.Sign(token)
		}
		if !o.BrowserSession || sess.MaxAge() != o.MaxAge { // remember me: a lifetime of its own
			c.Expires = sess.Expires()
			c.MaxAge = int((sess.MaxAge() + time.Second - 1) / time.Second)
		}
	case session.CookieClear:
		c.MaxAge = -1
	}
	h.Add("Set-Cookie", c.String())
}
