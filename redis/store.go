package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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

// DefaultCacheBytes is the size of the field cache of a Store made without
// WithCacheBytes: 8 MiB.
const DefaultCacheBytes = 8 << 20

// Store keeps sessions in Redis, one hash per session under the key
// prefix + "{" + id + "}" (the braces make the id the Redis Cluster hash
// tag), and the index of each user's sessions in a sorted set under
// prefix + "u:" + userID. It is safe for concurrent use, and any number of
// Stores in any number of processes may share one Redis. See the package
// documentation for the layout and how each operation stays atomic.
type Store struct {
	client     goredis.UniversalClient
	prefix     string
	maxRetries int
	now        func() time.Time
	err        error // a configuration error, returned by every method
	cache      *fieldCache

	beforeWrite func() // tests only: runs between the read and the write of the Go path

	retries   atomic.Uint64
	fallbacks atomic.Uint64
	reads     atomic.Uint64
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

// WithCacheBytes sets the size, in bytes (approximately), of the Store's
// cache of the stored values it last saw of each session. Apply uses it on
// its Go path to write after a Load without reading the touched keys again
// (see the package documentation). The default value is DefaultCacheBytes;
// n <= 0 disables the cache, so that every batch on the Go path reads its
// keys first (one more round trip).
func WithCacheBytes(n int) Option {
	return func(s *Store) { s.cache = newFieldCache(max(n, 0)) }
}

// NewStore returns a Store on client, which may be a *redis.Client, a
// *redis.ClusterClient or a *redis.Ring. The Store does not close client.
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
	if s.cache == nil {
		s.cache = newFieldCache(DefaultCacheBytes)
	}
	if client == nil {
		s.err = errors.New("nil redis client")
	}
	return s
}

// Stats counts events of a Store since it was made.
type Stats struct {
	// Retries counts compare-and-set attempts of the Go path that found
	// their top-level keys different from the values the Store held (changed
	// by another writer, or not yet seen by this Store's cache) and were
	// applied again to the values the attempt found.
	Retries uint64
	// Fallbacks counts batches that the server-side script could not apply
	// natively (an Inc on a stored value that is not an integer well inside
	// the int64 range, or a Push onto a stored value that is not an array)
	// and that were applied in Go instead.
	Fallbacks uint64
	// Reads counts batches of the Go path that had to read their top-level
	// keys first (one more round trip) because the cache did not hold them.
	Reads uint64
}

// Stats returns the Store's counters.
func (s *Store) Stats() Stats {
	return Stats{Retries: s.retries.Load(), Fallbacks: s.fallbacks.Load(), Reads: s.reads.Load()}
}

// Key returns the Redis key of session id: the prefix, then id in braces.
func (s *Store) Key(id string) string {
	return s.prefix + "{" + id + "}"
}

// UserKey returns the Redis key of the index of userID's sessions: the
// prefix, "u:", then userID.
func (s *Store) UserKey(userID string) string {
	return s.prefix + "u:" + userID
}

var (
	_ session.Store     = (*Store)(nil)
	_ session.UserIndex = (*Store)(nil)
)

// Load returns the reserved fields of the live session id and its top-level
// keys named in keys, one HMGET; keys nil returns every key, one HGETALL.
// If the session does not exist, or its expires field is not after now
// (whether or not Redis has removed it yet), then Load returns an error
// wrapping session.ErrNotFound.
func (s *Store) Load(ctx context.Context, id string, keys []string) (session.Doc, error) {
	if err := s.check(id); err == errEmptyID {
		return nil, fmt.Errorf("redis store: load session: %w: %w", err, session.ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("redis store: load session: %w", err)
	}
	var doc session.Doc
	if keys == nil {
		h, err := s.client.HGetAll(ctx, s.Key(id)).Result()
		if err != nil {
			return nil, redisErr(ctx, "load session", err)
		}
		if len(h) == 0 {
			return nil, fmt.Errorf("redis store: load session: %w", session.ErrNotFound)
		}
		if doc, err = decodeHash(id, h); err != nil {
			return nil, fmt.Errorf("redis store: load session: %w", err)
		}
		if live(doc, s.now()) {
			s.cache.putHash(id, h)
		}
	} else {
		names := readList(nil, keys)
		vals, err := s.client.HMGet(ctx, s.Key(id), names...).Result()
		if err != nil {
			return nil, redisErr(ctx, "load session", err)
		}
		if vals[posExpires] == nil {
			return nil, fmt.Errorf("redis store: load session: %w", session.ErrNotFound)
		}
		if doc, err = decodeValues(id, names, vals, true); err != nil {
			return nil, fmt.Errorf("redis store: load session: %w", err)
		}
		if live(doc, s.now()) {
			created, _ := vals[posCreated].(string)
			s.cache.put(id, created, names[nReserved:], vals[nReserved:], false)
		}
	}
	if !live(doc, s.now()) {
		return nil, fmt.Errorf("redis store: load session: expired: %w", session.ErrNotFound)
	}
	return doc, nil
}

// live reports whether doc's expires is after now.
func live(doc session.Doc, now time.Time) bool {
	exp, _ := doc[session.FieldExpires].(time.Time)
	return exp.After(now)
}

// readList returns the reserved fields, then touched (distinct keys, as
// session.TouchedKeys returns them), then the distinct names of fetch that
// are not in touched and can be user keys (names starting with '$' cannot).
func readList(touched, fetch []string) []string {
	out := make([]string, 0, nReserved+len(touched)+len(fetch))
	out = append(out, reservedFields...)
	out = append(out, touched...)
	var seen map[string]bool // beyond a few keys, so that time stays linear
	if len(touched)+len(fetch) > 16 {
		seen = make(map[string]bool, len(touched)+len(fetch))
		for _, k := range touched {
			seen[k] = true
		}
	}
	for _, k := range fetch {
		switch {
		case k == "" || k[0] == '$':
			continue
		case seen != nil:
			if seen[k] {
				continue
			}
			seen[k] = true
		case contains(out[nReserved:], k):
			continue
		}
		out = append(out, k)
	}
	return out
}

// Create stores the new session m with u applied, in one script call that
// writes the whole hash and sets its expiry, and returns the result that
// session.Update describes. If a live session m.ID exists then Create
// returns an error wrapping session.ErrConflict and changes nothing; an
// expired one still in Redis is replaced. m's times are stored at
// millisecond precision. An empty m.ID is an error wrapping
// session.ErrInvalidValue.
//
// A session with m.UserID set also joins that user's index (see
// UserSessions), in the same round trip on a single server: the index
// entry is written after the session, and if it cannot be then Create
// deletes the session again and returns the error.
func (s *Store) Create(ctx context.Context, m session.Meta, u session.Update) (session.Doc, error) {
	if err := s.check(m.ID); err == errEmptyID {
		return nil, fmt.Errorf("redis store: create session: %w: %w", err, session.ErrInvalidValue)
	} else if err != nil {
		return nil, fmt.Errorf("redis store: create session: %w", err)
	}
	m.Expires = toMillis(m.Expires)
	m.Created = toMillis(m.Created)
	if u.MaxAge > 0 {
		m.MaxAge = u.MaxAge
	}
	if u.Label != "" {
		m.Label = u.Label
	}
	before := m.Doc()
	doc, err := session.ApplyCommands(before, u.Commands)
	if err != nil {
		return nil, fmt.Errorf("redis store: create session: %w", err)
	}
	var bound int64
	if m.UserID != "" {
		bound = indexBound(m.Expires.UnixMilli(), m.MaxAge)
	}
	fields, err := encodeDoc(doc, bound)
	if err != nil {
		return nil, fmt.Errorf("redis store: create session: %w", err)
	}
	now := s.now().UnixMilli()
	args := append([]any{now, m.Expires.UnixMilli()}, fields...)
	key := []string{s.Key(m.ID)}
	var created int
	if m.UserID == "" {
		created, err = createScript.Run(ctx, s.client, key, args...).Int()
		if err != nil {
			return nil, redisErr(ctx, "create session", err)
		}
	} else if created, err = s.createBound(ctx, m, key, args, bound, now); err != nil {
		return nil, err
	}
	if created == 0 {
		return nil, fmt.Errorf("redis store: create session: id exists: %w", session.ErrConflict)
	}
	after, err := decodeFields(m.ID, fields)
	if err != nil {
		return nil, fmt.Errorf("redis store: create session: %w", err)
	}
	s.cacheFields(m.ID, fields)
	return u.Result(before, after), nil
}

// indexBound is the score of a session in its user's index when its
// expiry is exp: one lifetime later, so that the index needs updating only
// once per lifetime of activity (see users.go).
func indexBound(exp int64, maxAge time.Duration) int64 {
	return exp + max(maxAge.Milliseconds(), 0)
}

// createBound runs createScript and indexScript for a session bound to a
// user, pipelined (in this order on a single server; a Cluster sends them
// to their nodes in parallel), and returns createScript's result.
func (s *Store) createBound(ctx context.Context, m session.Meta, key []string, args []any, bound, now int64) (int, error) {
	userKey := []string{s.UserKey(m.UserID)}
	var create, index *goredis.Cmd
	_, _ = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		create = createScript.EvalSha(ctx, p, key, args...)
		index = indexScript.EvalSha(ctx, p, userKey, m.ID, bound, now)
		return nil
	})
	// A script missing from Redis' cache: send that one again, with its
	// text. (Both again would make the Create conflict with itself.)
	if noScript(create.Err()) {
		create = createScript.Run(ctx, s.client, key, args...)
	}
	if noScript(index.Err()) {
		index = indexScript.Run(ctx, s.client, userKey, m.ID, bound, now)
	}
	created, cerr := create.Int()
	if cerr != nil {
		return 0, redisErr(ctx, "create session", cerr)
	}
	_, ierr := index.Int()
	if ierr != nil {
		if created == 1 {
			if err := s.client.Del(context.WithoutCancel(ctx), key[0]).Err(); err != nil {
				return 0, redisErr(ctx, "create session: index it, then delete it", errors.Join(ierr, err))
			}
		}
		return 0, redisErr(ctx, "create session: index it", ierr)
	}
	return created, nil
}

func noScript(err error) bool { return goredis.HasErrorPrefix(err, "NOSCRIPT") }

// cacheFields records in the cache the fields of a session as written by
// Create (alternating names and values).
func (s *Store) cacheFields(id string, fields []any) {
	h := make(map[string]string, len(fields)/2)
	for i := 0; i < len(fields); i += 2 {
		h[fields[i].(string)] = fields[i+1].(string)
	}
	s.cache.putHash(id, h)
}

// Delete removes session id, and its entry in its user's index. If it does
// not exist then Delete is a no-op and returns nil. It is one script call,
// and one ZREM more for a session bound to a user; if the ZREM fails, the
// session is gone all the same and the index entry goes when its bound
// passes (see UserSessions), so Delete returns nil.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.check(id); err == errEmptyID {
		return nil // no session has the empty id
	} else if err != nil {
		return fmt.Errorf("redis store: delete session: %w", err)
	}
	s.cache.drop(id)
	user, err := deleteScript.Run(ctx, s.client, []string{s.Key(id)}).Text()
	if errors.Is(err, goredis.Nil) {
		return nil
	}
	if err != nil {
		return redisErr(ctx, "delete session", err)
	}
	if user != "" {
		_ = s.client.ZRem(ctx, s.UserKey(user), id).Err()
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

func formatMillis(ms int64) string { return strconv.FormatInt(ms, 10) }
