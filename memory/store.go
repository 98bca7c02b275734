package memory

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

// shardCount is the number of independently locked parts of a Store; a
// session lives in the shard its id hashes to, so commands on different
// sessions rarely wait for each other.
const shardCount = 32

// Store is an in-process session.Store and session.UserIndex. Every method
// is safe for concurrent use: an update is applied to a session under its
// shard's lock, so it is atomic with respect to every other call.
//
// Documents are deep copies in both directions: a caller that changes a
// Doc returned by the Store, or a value it passed in a Command, does not
// change what the Store holds.
//
// The zero value is not usable; make a Store with NewStore.
type Store struct {
	seed   maphash.Seed
	shards [shardCount]shard
	now    func() time.Time
	users  userIndex

	sweepInterval time.Duration
	stop          chan struct{}
	done          chan struct{}
	closeOnce     sync.Once
}

type shard struct {
	mu       sync.Mutex
	sessions map[string]entry
}

// entry is a stored session: its document, reserved fields included, and a
// copy of its expiry for quick checks. doc is never changed in place: it
// may share values with the entry it replaced (session.ApplyCommands copies
// on write), and callers only ever see deep copies of it.
type entry struct {
	doc     session.Doc
	expires time.Time
	userID  string
}

var (
	_ session.Store     = (*Store)(nil)
	_ session.UserIndex = (*Store)(nil)
)

// NewStore returns an empty Store and starts its background sweep of expired
// sessions (see WithSweepInterval). Call Close to stop the sweep when the
// Store is no longer needed.
func NewStore(opts ...Option) *Store {
	c := newConfig(opts)
	s := &Store{
		seed:          maphash.MakeSeed(),
		now:           c.now,
		users:         userIndex{ids: map[string]map[string]struct{}{}},
		sweepInterval: c.sweepInterval,
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
	}
	for i := range s.shards {
		s.shards[i].sessions = make(map[string]entry)
	}
	if s.sweepInterval > 0 {
		go s.sweepLoop()
	} else {
		close(s.done)
	}
	return s
}

// Load returns a copy of the reserved fields of the live session id and of
// its top-level keys named in keys (every key when keys is nil). If the
// session does not exist or has expired then Load returns an error wrapping
// session.ErrNotFound. If ctx is done then Load returns an error wrapping
// ctx.Err().
func (s *Store) Load(ctx context.Context, id string, keys []string) (session.Doc, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: load session: %w", err)
	}
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := s.live(sh, id)
	if !ok {
		return nil, fmt.Errorf("memory: load session %s: %w", id, session.ErrNotFound)
	}
	return session.LoadResult(e.doc, keys).Clone(), nil
}

// Create stores a new session with the reserved fields of m and applies u
// to it, all under one lock, and returns a copy of the result that
// session.Update describes. Times in m are stored as UTC with millisecond
// precision, as every database store keeps them. A session with m.UserID
// set joins that user's index.
//
// If a live session with id m.ID exists then Create returns an error
// wrapping session.ErrConflict and changes nothing; an expired one is
// replaced. If a command does not apply then Create returns its error and
// stores nothing. An empty m.ID is an error.
func (s *Store) Create(ctx context.Context, m session.Meta, u session.Update) (session.Doc, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: create session: %w", err)
	}
	if m.ID == "" {
		return nil, errors.New("memory: create session: empty id")
	}
	m.Expires, m.Created = storeTime(m.Expires), storeTime(m.Created)
	if u.MaxAge > 0 {
		m.MaxAge = u.MaxAge
	}
	if u.Label != "" {
		m.Label = u.Label
	}
	before := m.Doc()
	doc, err := session.ApplyCommands(before, u.Commands)
	if err != nil {
		return nil, fmt.Errorf("memory: create session %s: %w", m.ID, err)
	}
	sh := s.shard(m.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := s.live(sh, m.ID); ok {
		return nil, fmt.Errorf("memory: create session %s: %w", m.ID, session.ErrConflict)
	}
	sh.sessions[m.ID] = entry{doc: doc, expires: m.Expires, userID: m.UserID}
	s.users.add(m.UserID, m.ID)
	return u.Result(before, doc).Clone(), nil
}

// Apply applies u to the live session id, all under one lock, and returns a
// copy of the result that session.Update describes.
//
// If no live session id exists then Apply returns an error wrapping
// session.ErrNotFound and creates nothing. If a command does not apply
// (session.ErrTypeMismatch, for example) then Apply returns a
// *session.CommandError for it and the session, its expiry included, stays
// as it was.
func (s *Store) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: apply to session: %w", err)
	}
	expires := storeTime(u.Expires)
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := s.live(sh, id)
	if !ok {
		return nil, fmt.Errorf("memory: apply to session %s: %w", id, session.ErrNotFound)
	}
	doc, err := session.ApplyCommands(e.doc, u.Commands)
	if err != nil {
		return nil, fmt.Errorf("memory: apply to session %s: %w", id, err)
	}
	doc[session.FieldExpires] = expires
	if u.MaxAge > 0 {
		doc[session.FieldMaxAge] = u.MaxAge.Milliseconds()
	}
	if u.Label != "" {
		doc[session.FieldLabel] = u.Label
	}
	sh.sessions[id] = entry{doc: doc, expires: expires, userID: e.userID}
	return u.Result(e.doc, doc).Clone(), nil
}

// Delete removes session id and its entry in the user index. If the session
// does not exist then Delete is a no-op and returns nil. If ctx is done then
// Delete returns an error wrapping ctx.Err() and removes nothing.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: delete session: %w", err)
	}
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s.remove(sh, id)
	return nil
}

// Len returns the number of sessions the Store holds, including expired
// ones that the sweep has not removed yet.
func (s *Store) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.sessions)
		sh.mu.Unlock()
	}
	return n
}

// Close stops the background sweep and waits for it to finish. The Store
// stays usable after Close, and expired sessions are still never served;
// they are only no longer removed in the background. Close may be called
// more than once. It always returns nil, and makes Store an io.Closer.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
	})
	return nil
}

func (s *Store) shard(id string) *shard {
	return &s.shards[maphash.String(s.seed, id)%shardCount]
}

// live returns the entry of session id if it exists and has not expired;
// an expired entry it meets is removed. The caller holds sh.mu.
func (s *Store) live(sh *shard, id string) (entry, bool) {
	e, ok := sh.sessions[id]
	if !ok {
		return entry{}, false
	}
	if !e.expires.After(s.now()) {
		s.remove(sh, id)
		return entry{}, false
	}
	return e, true
}

// remove deletes session id from its shard and from the user index. The
// caller holds sh.mu.
func (s *Store) remove(sh *shard, id string) {
	if e, ok := sh.sessions[id]; ok {
		delete(sh.sessions, id)
		s.users.remove(e.userID, id)
	}
}

// storeTime returns t as the database stores keep it: UTC, with the
// precision of milliseconds, without a monotonic clock reading.
func storeTime(t time.Time) time.Time {
	return time.UnixMilli(t.UnixMilli()).UTC()
}
