package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
// bad options: no keys, a key shorter than 32 bytes, a negative MaxAge or
// Timeout, or an invalid cookie name.
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
// the store until it is awaited, and it is read at most once per request.
// Awaiting it for a visitor without a valid cookie gives a new session,
// stored by the end of the request.
//
// r must have passed through Manager.Handler; otherwise the future fails.
func Session(r *http.Request) *future.Future[*session.Session] {
	rs, ok := r.Context().Value(ctxKey{}).(*request)
	if !ok {
		return future.Reject[*session.Session](errors.New("middleware: Session called on a request that did not pass through Manager.Handler"))
	}
	return rs.sess
}

// request is the middleware's state for one request.
type request struct {
	m      *Manager
	r      *http.Request
	sess   *future.Future[*session.Session]
	mu     sync.Mutex
	opened bool // the session future has started
}

// Handler returns a handler that gives each request served by next a
// session (see Session) and, before the response's headers go out, sends
// the session's queued commands and writes its cookie. If sending fails and
// no header has gone out yet, the response becomes the ErrorHandler's
// (500 by default) and the failure is logged.
//
// The response writer next receives keeps http.Flusher, http.Hijacker and
// http.ResponseController working.
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs := &request{m: m, r: r}
		// The session's store work outlives a client that hangs up, so that
		// a queued command is never lost; each store call has its own
		// timeout (Options.Timeout).
		work := context.WithoutCancel(r.Context())
		rs.sess = future.New(work, rs.open)
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, rs))
		rw := &responseWriter{ResponseWriter: w, rs: rs}
		defer rw.finish() // also when next panics: queued commands still go out
		next.ServeHTTP(rw, r)
	})
}

// open loads the visitor's session, or makes a new one.
func (rs *request) open(ctx context.Context) (*session.Session, error) {
	rs.mu.Lock()
	rs.opened = true
	rs.mu.Unlock()
	token := ""
	if c, err := rs.r.Cookie(rs.m.opts.Key); err == nil {
		// A cookie that fails the signature is treated as absent, with no
		// store query.
		token, _ = rs.m.keys.Verify(c.Value)
	}
	return session.Open(ctx, rs.m.store, token, session.Options{MaxAge: rs.m.opts.MaxAge, Timeout: rs.m.opts.Timeout})
}

// session returns the request's session if the handler opened one.
func (rs *request) session(ctx context.Context) (*session.Session, bool) {
	rs.mu.Lock()
	opened := rs.opened
	rs.mu.Unlock()
	if !opened {
		return nil, false
	}
	sess, err := rs.sess.Await(ctx)
	return sess, err == nil // a failed load: the handler saw it and chose its response
}

// commit sends the session's queued commands and sets its cookie on h. It
// returns an error if the commands failed.
func (rs *request) commit(h http.Header) error {
	ctx := context.WithoutCancel(rs.r.Context())
	sess, ok := rs.session(ctx)
	if !ok {
		return nil
	}
	if err := sess.Flush(ctx); err != nil {
		return err
	}
	rs.setCookie(h, sess)
	return nil
}

// flushLate sends commands queued after the response started. Their cookie
// cannot be sent any more; a failure can only be logged.
func (rs *request) flushLate() error {
	ctx := context.WithoutCancel(rs.r.Context())
	if sess, ok := rs.session(ctx); ok {
		return sess.Flush(ctx)
	}
	return nil
}

// setCookie writes the session's cookie, if it needs writing.
func (rs *request) setCookie(h http.Header, sess *session.Session) {
	o := rs.m.opts
	c := &http.Cookie{
		Name: o.Key, Path: o.Path, Domain: o.Domain,
		HttpOnly: !o.AllowScripts, SameSite: o.SameSite,
		Secure: o.Secure == SecureAlways || (o.Secure == SecureAuto && rs.r.TLS != nil),
	}
	action, token := sess.Cookie()
	switch action {
	case session.CookieKeep:
		return
	case session.CookieSet:
		c.Value = rs.m.keys.Sign(token)
		c.Expires = sess.Expires()
		c.MaxAge = int((sess.MaxAge() + time.Second - 1) / time.Second)
	case session.CookieClear:
		c.MaxAge = -1
	}
	h.Add("Set-Cookie", c.String())
}
