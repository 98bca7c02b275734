package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/atomicsession/atomicsession/future"
	"github.com/atomicsession/atomicsession/session"
)

// Manager connects a session.Store to net/http: Handler gives every request
// a lazily loaded session and writes its cookie, CSRF guards unsafe methods.
type Manager struct {
	store session.Store
	opts  Options
	keys  *session.Keyring
}

// New returns a Manager for store. It returns an error, never panics, for
// bad options: no keys, a key shorter than 32 bytes, a negative MaxAge,
// Timeout, MaxCommands or MaxFormBytes, an invalid cookie name, or an
// invalid Header.
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
	return &Manager{store: store, opts: opts, keys: keys}, nil
}

// ctxKey is the request context key of the middleware's per-request state.
type ctxKey struct{}

// Session returns the session of r as a lazy future: nothing is read from
// the store until it is awaited. Awaiting it loads the top-level keys named
// in keys (plus the session's reserved fields), or, with no keys, every key
// not loaded yet (see session.Session.Fetch); a key is read at most once
// per request, and every call returns the same *session.Session. A visitor
// without a valid cookie (or header token) gets a new session at no store
// cost; it is stored, and its cookie sent, only if the request writes to
// it (a command, Touch, SetMaxAge, Login or CreateCSRF).
//
// r must have passed through Manager.Handler; otherwise the future fails.
func Session(r *http.Request, keys ...string) *future.Future[*session.Session] {
	rs, ok := r.Context().Value(ctxKey{}).(*request)
	if !ok {
		return future.Reject[*session.Session](errors.New("middleware: Session called on a request that did not pass through Manager.Handler"))
	}
	return future.New(rs.work, func(ctx context.Context) (*session.Session, error) {
		sess, err := rs.attach()
		if err != nil {
			return nil, err
		}
		if _, err := sess.Fetch(keys...).Await(ctx); err != nil {
			return nil, err
		}
		return sess, nil
	})
}

// request is the middleware's state for one request.
type request struct {
	m    *Manager
	r    *http.Request
	work context.Context // the session's store work: outlives a client that hangs up

	credOnce  sync.Once
	token     string // the verified token the request came with; "" if none
	viaHeader bool   // the request carried Options.Header: its cookie is ignored

	mu   sync.Mutex
	sess *session.Session // set by attach
	err  error            // attach's failure
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
		rs.token, rs.viaHeader = rs.m.credential(rs.r)
	})
	return rs.token, rs.viaHeader
}

func (m *Manager) credential(r *http.Request) (token string, viaHeader bool) {
	if m.opts.Header != "" {
		if v, ok := headerToken(m.opts.Header, r.Header.Get(m.opts.Header)); ok {
			token, _ = m.keys.Verify(v)
			return token, true
		}
	}
	for _, c := range r.CookiesNamed(m.opts.CookieName) {
		if token, ok := m.keys.Verify(c.Value); ok {
			return token, false
		}
	}
	return "", false
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

// attach returns the request's session handle, making it on the first
// call without a store call (session.Attach).
func (rs *request) attach() (*session.Session, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.sess == nil && rs.err == nil {
		token, _ := rs.credential()
		o := rs.m.opts
		rs.sess, rs.err = session.Attach(rs.work, rs.m.store, token, session.Options{
			MaxAge: o.MaxAge, Timeout: o.Timeout, MaxCommands: o.MaxCommands,
		})
	}
	return rs.sess, rs.err
}

// session returns the request's session if the handler asked for it.
func (rs *request) session() (*session.Session, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.sess, rs.sess != nil
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
		c.Value = rs.m.keys.Sign(token)
		if !o.BrowserSession || sess.MaxAge() != o.MaxAge { // remember me: a lifetime of its own
			c.Expires = sess.Expires()
			c.MaxAge = int((sess.MaxAge() + time.Second - 1) / time.Second)
		}
	case session.CookieClear:
		c.MaxAge = -1
	}
	h.Add("Set-Cookie", c.String())
}
