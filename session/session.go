package session

import (
	"context"
	"errors"
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

// Options configure how sessions are opened.
type Options struct {
	// MaxAge is the lifetime of a session after its last update. The
	// default value is DefaultMaxAge.
	MaxAge time.Duration

	// Timeout bounds each store call. The default value is DefaultTimeout.
	Timeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
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
// Reading (Get, Values) never touches the store: it reads the local view,
// which changes only when the session is loaded and when Update is given a
// command's result. Commands (Set, Inc, Push, ...) are queued and sent when
// any of the session's futures is awaited, on Flush, or when the middleware
// finishes the request. Queued commands whose paths do not overlap go out as
// one atomic update; each command's future resolves with the whole document
// after its update.
//
// A Session is safe for concurrent use. Work runs under the context it was
// opened with; Await's context bounds only the wait.
type Session struct {
	store Store
	opts  Options
	ctx   context.Context

	flushMu  sync.Mutex  // serializes flushes, so batches go out in issue order
	flushing atomic.Bool // a flush goroutine has been started and not taken the queue yet

	mu      sync.Mutex // guards everything below
	token   string
	meta    Meta
	values  Doc
	state   state
	dirty   bool // the cookie must be sent again
	queue   []*pending
	unheard []error // failures of batches nobody awaited, for Flush to report
}

// New returns a brand-new session that is not stored yet. It is stored by
// the first command, or by Flush.
func New(ctx context.Context, store Store, opts Options) (*Session, error) {
	s := &Session{store: store, opts: opts.withDefaults(), ctx: ctx}
	if err := s.renew(); err != nil {
		return nil, err
	}
	return s, nil
}

// Open loads the session whose cookie token is token. If token is empty, or
// no live session has its id, Open returns a brand-new session, as New does.
// An error means the store failed; Open never hides a failing store behind a
// new session.
func Open(ctx context.Context, store Store, token string, opts Options) (*Session, error) {
	if token == "" {
		return New(ctx, store, opts)
	}
	opts = opts.withDefaults()
	cctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	doc, err := store.Load(cctx, IDOf(token), nil)
	if errors.Is(err, ErrNotFound) {
		return New(ctx, store, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("load session %s: %w", IDOf(token), err)
	}
	meta, err := MetaOf(doc)
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	return &Session{
		store: store, opts: opts, ctx: ctx,
		token: token, meta: meta, values: withoutReserved(doc), state: stateStored,
	}, nil
}

// renew gives s a new token, id and CSRF secret and an empty local view. The
// new session is stored by the next command or Flush. Callers hold s.mu, or
// own s alone.
func (s *Session) renew() error {
	token, err := NewToken()
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	s.token = token
	s.meta = Meta{ID: IDOf(token), Created: now, Expires: now.Add(s.opts.MaxAge), MaxAge: s.opts.MaxAge}
	s.values = Doc{}
	s.state = stateNew
	s.dirty = true
	return nil
}

// ID returns the session's store id, a hash of its cookie token. It is safe
// to log. It changes when Regenerate runs or when a command finds the
// session gone and makes a new one.
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

// Get returns the value of a top-level key of the local view, and whether it
// is present. Reserved fields are never returned. The value is shared with
// the local view: copy it before changing it, or use Values.
func (s *Session) Get(key string) (any, bool) {
	if IsReserved(key) {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.values[key]
	return v, ok
}

// Values returns a deep copy of the local view's user keys (no reserved
// fields).
func (s *Session) Values() Doc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.values.User()
}

// MaxAge returns the session's lifetime after its last update.
func (s *Session) MaxAge() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.MaxAge
}

// Expires returns when the session expires unless it is updated or touched.
func (s *Session) Expires() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.Expires
}

// Created returns when the session was created.
func (s *Session) Created() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.Created
}

// Update makes the local view mirror doc, a command's result: keys in doc
// replace the local ones and local keys missing from doc are removed.
// Reserved fields in doc are ignored. It returns doc unchanged, so that it
// chains as in Koa:
//
//	_, err := sess.Set("msg", "hi").Then(sess.Update).Await(ctx)
//
// Without Update the local view keeps its old values.
func (s *Session) Update(doc Doc) (Doc, error) {
	view := doc.User()
	s.mu.Lock()
	s.values = view
	s.mu.Unlock()
	return doc, nil
}

// CreateCSRF returns a new CSRF token for the session. Every call returns a
// different token (a fresh 16-byte salt each), which keeps tokens safe to
// put in compressed responses (BREACH). Put it in forms as the field _csrf
// or send it in the X-CSRF-Token header; the middleware's CSRF guard checks
// it with AssertCSRF.
func (s *Session) CreateCSRF() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return createCSRF(csrfKey(s.token))
}

// AssertCSRF returns nil if token was made by CreateCSRF for this session,
// and an error wrapping ErrInvalidCSRF otherwise. Tokens made before
// Regenerate are no longer valid after it.
func (s *Session) AssertCSRF(token string) error {
	s.mu.Lock()
	secret := csrfKey(s.token)
	s.mu.Unlock()
	if err := assertCSRF(secret, token); err != nil {
		return fmt.Errorf("assert CSRF: %w", err)
	}
	return nil
}

// withTimeout returns the context for one store call.
func (s *Session) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.Timeout)
}

// withoutReserved drops the reserved fields from doc, in place, and returns
// it. Open uses it on the document Load returned, which nobody else holds,
// so the user keys need no deep copy.
func withoutReserved(doc Doc) Doc {
	for k := range doc {
		if IsReserved(k) {
			delete(doc, k)
		}
	}
	return doc
}
