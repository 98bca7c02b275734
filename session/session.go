package session

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxAge is the lifetime of a session when Options.MaxAge is zero:
// 24 hours.
const DefaultMaxAge = 24 * time.Hour

// DefaultTimeout bounds each store call when Options.Timeout is zero:
// 10 seconds.
const DefaultTimeout = 10 * time.Second

// DefaultMaxCommands is how many commands one session accepts when
// Options.MaxCommands is zero: 1,000.
const DefaultMaxCommands = 1000

// Options configure how sessions are opened.
type Options struct {
	// MaxAge is the lifetime of a session after its last update, unless
	// SetMaxAge gave the session its own. The default value is
	// DefaultMaxAge.
	MaxAge time.Duration

	// Timeout bounds each store call. The default value is DefaultTimeout.
	Timeout time.Duration

	// MaxCommands is how many commands (each command, Fetch, Touch and the
	// like counts one) a Session accepts in its life, which in the
	// middleware is one request. Past it they fail with ErrTooLarge. The
	// default value is DefaultMaxCommands.
	MaxCommands int
}

func (o Options) withDefaults() Options {
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxCommands <= 0 {
		o.MaxCommands = DefaultMaxCommands
	}
	return o
}

// state is where a session stands with its store.
type state uint8

const (
	stateNew       state = iota // made here, not stored yet
	stateStored                 // stored, as far as we know
	stateDestroyed              // deleted; the next command makes a new session
)

// Session is one visitor's session: a local view of its document and a queue
// of commands that change the stored document atomically.
//
// Reading (Get, Values and the typed getters) never touches the store: it
// reads the local view, which holds the keys that were loaded (Open,
// Fetch) and the keys that commands touched. Commands (Set, Inc, Push, ...)
// are queued and sent when any of the session's futures is awaited, on
// Flush, or when the middleware finishes the request. Queued commands
// whose paths do not overlap go out as one atomic update; each command's
// future resolves with the session as this request knows it after the
// update, and its touched keys are applied to the local view, awaited or
// not.
//
// A Session is safe for concurrent use. Work runs under the context it was
// opened with; Await's context bounds only the wait.
type Session struct {
	store Store
	opts  Options
	ctx   context.Context

	flushMu  sync.Mutex  // serializes flushes, so batches go out in issue order
	flushing atomic.Bool // a flush has been started and has not taken the queue yet

	mu        sync.Mutex // guards everything below
	token     string
	meta      Meta
	known     bool // meta came from the store (or the session is new)
	values    Doc  // the local view: user keys only
	loaded    map[string]bool
	loadedAll bool
	state     state
	dirty     bool // the cookie must be sent again
	cleared   bool // a stored session was deleted: clear the cookie unless a new one is stored
	mustStore bool // a new session that must be stored even with no command (CreateCSRF, Login)
	queue     []*pending
	issued    int        // entries queued so far, for MaxCommands
	failed    error      // fail closed: a Destroy, Regenerate or Login that could not delete
	unheard   []*pending // failed entries, for Flush to report unless awaited
}

// New returns a brand-new session that is not stored yet. It is stored by
// the first command, Touch, SetMaxAge, Login or CreateCSRF; a session that
// is only read is never stored.
func New(ctx context.Context, store Store, opts Options) (*Session, error) {
	s := &Session{store: store, opts: opts.withDefaults(), ctx: ctx}
	if err := s.renew(); err != nil {
		return nil, err
	}
	return s, nil
}

// Attach returns the session whose cookie token is token without reading
// the store: nothing is loaded, so Get finds no key until Fetch loads it,
// while commands can be queued at once. Queue a Fetch with the commands to
// read and write in one round trip. If token is empty, Attach returns a
// brand-new session, as New does. If no live session has the token's id,
// the first store call finds out: a Fetch then leaves a new, empty
// session, and a command stores a new session (with a new token) instead.
//
// Until the session is loaded, its MaxAge is Options.MaxAge: a write sent
// before any load moves the expiry by that, not by a lifetime SetMaxAge gave
// the session in an earlier request. Fetch something first (any key: the
// reserved fields come with it) where sessions have their own lifetimes.
func Attach(ctx context.Context, store Store, token string, opts Options) (*Session, error) {
	if token == "" {
		return New(ctx, store, opts)
	}
	opts = opts.withDefaults()
	s := &Session{
		store: store, opts: opts, ctx: ctx, token: token,
		meta:   Meta{ID: IDOf(token), MaxAge: opts.MaxAge},
		values: Doc{}, loaded: map[string]bool{}, state: stateStored,
	}
	return s, nil
}

// Open loads the session whose cookie token is token: the top-level keys
// named in keys, or every key when there are none (see Fetch). If token is
// empty, or no live session has its id, Open returns a brand-new session,
// as New does. An error means the store failed; Open never hides a failing
// store behind a new session.
func Open(ctx context.Context, store Store, token string, opts Options, keys ...string) (*Session, error) {
	s, err := Attach(ctx, store, token, opts)
	if err != nil {
		return nil, err
	}
	if _, err := s.Fetch(keys...).Await(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// renew gives s a new token and id and an empty local view. The new session
// is stored by the next write. Callers hold s.mu, or own s alone.
func (s *Session) renew() error {
	token, err := NewToken()
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	maxAge := s.opts.MaxAge
	s.token = token
	s.meta = Meta{ID: IDOf(token), Created: now, Expires: now.Add(maxAge), MaxAge: maxAge}
	s.known = true
	s.values, s.loaded, s.loadedAll = Doc{}, map[string]bool{}, true
	s.state = stateNew
	s.dirty = true
	s.mustStore = false
	return nil
}

// ID returns the session's store id, a hash of its cookie token. It is safe
// to log. It changes when Regenerate or Login runs, or when a command finds
// the session gone and makes a new one.
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.ID
}

// Token returns the secret token the session's cookie carries. Never log it.
func (s *Session) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// MaxAge returns the session's lifetime after its last update: its own (see
// SetMaxAge) once it is loaded, Options.MaxAge before.
func (s *Session) MaxAge() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.MaxAge
}

// Expires returns when the session expires unless it is updated or touched.
// It is the zero time for a session attached but not loaded yet.
func (s *Session) Expires() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.Expires
}

// Created returns when the session was created. It is the zero time for a
// session attached but not loaded yet.
func (s *Session) Created() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.Created
}

// UserID returns the user the session is bound to (see Login), or "" if
// none. A session attached but not loaded yet reports "".
func (s *Session) UserID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.UserID
}

// Label returns the session's label (see SetLabel), or "" if none.
func (s *Session) Label() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.Label
}

// IsNew reports whether the session has not been stored yet: a visitor
// without a valid cookie, or a session just regenerated.
func (s *Session) IsNew() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state != stateStored
}

// CreateCSRF returns a new CSRF token for the session. Every call returns a
// different token (a fresh 16-byte salt each), which keeps tokens safe to
// put in compressed responses (BREACH). Put it in forms as the field _csrf
// or send it in the X-CSRF-Token header; the middleware's CSRF guard checks
// it with AssertCSRF.
//
// The token's key is derived from the cookie token, which the store never
// sees, so nothing in the store can make a valid token. A new session is
// stored by the end of the request, so that the token has a session to
// come back to.
//
// If a Destroy, Regenerate or Login is queued, CreateCSRF sends the queue
// first, so that the token belongs to the session that the response's
// cookie will carry; after a Destroy it starts a new session.
func (s *Session) CreateCSRF() string {
	if s.replacePending() {
		s.flushAll()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateDestroyed && s.failed == nil {
		_ = s.renew() // crypto/rand does not fail on supported platforms
	}
	if s.state != stateStored {
		s.mustStore = true
	}
	return createCSRF(csrfKey(s.token))
}

// replacePending reports whether a Destroy, Regenerate or Login is queued.
func (s *Session) replacePending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.queue {
		if p.kind == kindDestroy || p.kind == kindRegenerate {
			return true
		}
	}
	return false
}

// AssertCSRF returns nil if token was made by CreateCSRF for this session,
// and an error wrapping ErrInvalidCSRF otherwise. Tokens made before
// Regenerate or Login are no longer valid after it, as the cookie token
// changes.
func (s *Session) AssertCSRF(token string) error {
	s.mu.Lock()
	key := csrfKey(s.token)
	s.mu.Unlock()
	if err := assertCSRF(key, token); err != nil {
		return fmt.Errorf("assert CSRF: %w", err)
	}
	return nil
}

// withTimeout returns the context for one store call.
func (s *Session) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.Timeout)
}

// errFailClosed wraps the error of a Destroy, Regenerate or Login that could
// not delete the old session.
func errFailClosed(err error) error {
	return fmt.Errorf("session was not deleted, so nothing after it is sent: %w", err)
}
