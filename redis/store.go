package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/session"
)

// DefaultPrefix is the key prefix of a Store made without WithPrefix.
const DefaultPrefix = "session:"

// DefaultMaxRetries is the number of optimistic retries of one batch that a
// Store made without WithMaxRetries allows.
const DefaultMaxRetries = 1000

// Store keeps sessions in Redis, one hash per session under the key
// prefix + "{" + id + "}" (the braces make the id the Redis Cluster hash tag).
// It is safe for concurrent use, and any number of Stores in any number of
// processes may share one Redis. See the package documentation for the
// layout and how each operation stays atomic.
type Store struct {
	client     goredis.UniversalClient
	prefix     string
	maxRetries int
	now        func() time.Time
	err        error // a configuration error, returned by every method

	beforeWrite func() // tests only: runs between the read and the write of the Go path

	retries   atomic.Uint64
	fallbacks atomic.Uint64
}

// Option configures a Store.
type Option func(*Store)

// WithPrefix sets the prefix of every key the Store uses. The default value
// is DefaultPrefix, "session:". A prefix must not contain '{' or '}': it
// would replace the session id as the Cluster hash tag and put every session
// in one slot; such a Store returns an error from every method.
func WithPrefix(prefix string) Option {
	return func(s *Store) {
		if strings.ContainsAny(prefix, "{}") {
			s.err = fmt.Errorf("key prefix %q contains a hash tag brace", prefix)
		}
		s.prefix = prefix
	}
}

// WithMaxRetries sets how many times Apply retries a batch that needs Go
// semantics (see the package documentation) when other writers changed the
// same top-level keys between its read and its write. After that many
// retries Apply returns an error wrapping session.ErrUnavailable. Retries
// back off exponentially with jitter and stop when the context ends. The
// default value is DefaultMaxRetries; n < 0 is taken as 0.
func WithMaxRetries(n int) Option {
	return func(s *Store) { s.maxRetries = max(n, 0) }
}

// NewStore returns a Store on client, which may be a *redis.Client, a
// *redis.ClusterClient or a *redis.Ring (sessions are single keys). The
// Store does not close client.
//
// NewStore does not contact Redis. A nil client or an invalid option gives
// a Store whose methods all return that error. For a context's cancellation
// to interrupt a command on the wire, create the client with
// ContextTimeoutEnabled: true; without it go-redis applies its own read and
// write timeouts and checks the context only between commands.
func NewStore(client goredis.UniversalClient, opts ...Option) *Store {
	s := &Store{client: client, prefix: DefaultPrefix, maxRetries: DefaultMaxRetries, now: time.Now}
	for _, opt := range opts {
		opt(s)
	}
	if client == nil {
		s.err = errors.New("nil redis client")
	}
	return s
}

// Stats counts events of a Store since it was made.
type Stats struct {
	// Retries counts optimistic batches that found their top-level keys
	// changed by another writer and were read and applied again.
	Retries uint64
	// Fallbacks counts batches that the server-side script could not apply
	// natively (an Inc on a stored value that is not an integer well inside
	// the int64 range) and that were applied in Go instead.
	Fallbacks uint64
}

// Stats returns the Store's counters.
func (s *Store) Stats() Stats {
	return Stats{Retries: s.retries.Load(), Fallbacks: s.fallbacks.Load()}
}

// Key returns the Redis key of session id: the prefix, then id in braces.
func (s *Store) Key(id string) string {
	return s.prefix + "{" + id + "}"
}

var _ session.Store = (*Store)(nil)

// Load returns the live session id. If it does not exist, or its expires
// field is not after now (whether or not Redis has removed it yet), then
// Load returns an error wrapping session.ErrNotFound. It is one HGETALL.
func (s *Store) Load(ctx context.Context, id string) (session.Doc, error) {
	if err := s.check(id); err == errEmptyID {
		return nil, fmt.Errorf("redis store: load session: %w: %w", err, session.ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("redis store: load session: %w", err)
	}
	h, err := s.client.HGetAll(ctx, s.Key(id)).Result()
	if err != nil {
		return nil, redisErr(ctx, "load session", err)
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("redis store: load session: %w", session.ErrNotFound)
	}
	doc, err := decodeHash(id, h)
	if err != nil {
		return nil, fmt.Errorf("redis store: load session: %w", err)
	}
	if !doc[session.FieldExpires].(time.Time).After(s.now()) {
		return nil, fmt.Errorf("redis store: load session: expired: %w", session.ErrNotFound)
	}
	return doc, nil
}

// Create stores the new session m with cmds applied, in one script call
// that writes the whole hash and sets its expiry, and returns the document
// after. If a live session m.ID exists then Create returns an error
// wrapping session.ErrConflict and changes nothing; an expired one still in
// Redis is replaced. m's times are stored at millisecond precision. An
// empty m.ID is an error wrapping session.ErrInvalidValue.
func (s *Store) Create(ctx context.Context, m session.Meta, cmds []session.Command) (session.Doc, error) {
	if err := s.check(m.ID); err == errEmptyID {
		return nil, fmt.Errorf("redis store: create session: %w: %w", err, session.ErrInvalidValue)
	} else if err != nil {
		return nil, fmt.Errorf("redis store: create session: %w", err)
	}
	m.Expires = toMillis(m.Expires)
	m.Created = toMillis(m.Created)
	doc, err := session.ApplyCommands(m.Doc(), cmds)
	if err != nil {
		return nil, fmt.Errorf("redis store: create session: %w", err)
	}
	fields, err := encodeDoc(doc)
	if err != nil {
		return nil, fmt.Errorf("redis store: create session: %w", err)
	}
	args := append([]any{s.now().UnixMilli(), m.Expires.UnixMilli()}, fields...)
	created, err := createScript.Run(ctx, s.client, []string{s.Key(m.ID)}, args...).Int()
	if err != nil {
		return nil, redisErr(ctx, "create session", err)
	}
	if created == 0 {
		return nil, fmt.Errorf("redis store: create session: id exists: %w", session.ErrConflict)
	}
	out, err := decodeFields(m.ID, fields)
	if err != nil {
		return nil, fmt.Errorf("redis store: create session: %w", err)
	}
	return out, nil
}

// Delete removes session id with one DEL. If it does not exist then Delete
// is a no-op and returns nil.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.check(id); err == errEmptyID {
		return nil // no session has the empty id
	} else if err != nil {
		return fmt.Errorf("redis store: delete session: %w", err)
	}
	if err := s.client.Del(ctx, s.Key(id)).Err(); err != nil {
		return redisErr(ctx, "delete session", err)
	}
	return nil
}

// errEmptyID is the error of a call with an empty session id.
var errEmptyID = errors.New("empty session id")

// check returns the Store's configuration error, or errEmptyID.
func (s *Store) check(id string) error {
	if s.err != nil {
		return s.err
	}
	if id == "" {
		return errEmptyID
	}
	return nil
}

func toMillis(t time.Time) time.Time {
	return time.UnixMilli(t.UnixMilli()).UTC()
}
