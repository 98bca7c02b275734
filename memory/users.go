package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/atomicsession/atomicsession/session"
)

// userIndex maps a user to the ids of their sessions. It is changed under a
// shard's lock and its own, in that order, so it never holds an id whose
// session is gone.
type userIndex struct {
	mu  sync.Mutex
	ids map[string]map[string]struct{}
}

func (x *userIndex) add(user, id string) {
	if user == "" {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	set := x.ids[user]
	if set == nil {
		set = map[string]struct{}{}
		x.ids[user] = set
	}
	set[id] = struct{}{}
}

func (x *userIndex) remove(user, id string) {
	if user == "" {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.ids[user], id)
	if len(x.ids[user]) == 0 {
		delete(x.ids, user) // the index does not grow as sessions end
	}
}

// list returns the ids of user's sessions.
func (x *userIndex) list(user string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]string, 0, len(x.ids[user]))
	for id := range x.ids[user] {
		out = append(out, id)
	}
	return out
}

// UserSessions returns the reserved fields of the live sessions bound to
// userID. It looks at that user's sessions only. A user without sessions
// gives an empty list.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]session.Meta, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: list sessions of a user: %w", err)
	}
	out := []session.Meta{}
	for _, id := range s.users.list(userID) {
		sh := s.shard(id)
		sh.mu.Lock()
		e, ok := s.live(sh, id)
		sh.mu.Unlock()
		if !ok || e.userID != userID {
			continue
		}
		m, err := session.MetaOf(e.doc)
		if err != nil {
			return nil, fmt.Errorf("memory: list sessions of a user: %w", err)
		}
		out = append(out, m)
	}
	return out, nil
}

// DeleteUserSessions deletes every session bound to userID whose id is not
// in keep, and returns how many live sessions it deleted.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string, keep ...string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memory: delete sessions of a user: %w", err)
	}
	n := 0
	for _, id := range s.users.list(userID) {
		if slices.Contains(keep, id) {
			continue
		}
		sh := s.shard(id)
		sh.mu.Lock()
		if e, ok := s.live(sh, id); ok && e.userID == userID {
			s.remove(sh, id)
			n++
		}
		sh.mu.Unlock()
	}
	return n, nil
}
