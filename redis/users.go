package redis

import (
	"context"
	"fmt"
	"slices"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/session"
)

// The index of a user's sessions is a sorted set under UserKey(userID):
// each member is a session id, its score a bound on that session's expiry
// (Unix ms), and the set expires (PEXPIREAT) with its highest score. So the
// index never outlives its sessions by more than one lifetime, and
// ZREMRANGEBYSCORE drops members that are certainly dead without reading
// them — which no script could, as the sessions live in other Cluster
// slots. indexScript does that at every Create of a bound session and
// UserSessions and DeleteUserSessions before they read the index, so the
// index holds the user's live sessions and those that ended less than one
// lifetime ago, never more.
//
// A member whose session is gone but whose score has not passed (its
// Delete could not remove it, or it is being created: on a Cluster the
// index entry may land before the session) is not listed, and not removed
// either, so that a session being created is never left out of its index.
//
// A session's score is one lifetime past its expiry when it is indexed
// (Create) and again whenever an update moves its expiry past the bound
// recorded in the session's $indexed field (once per lifetime of
// activity): Apply then sends indexScript and markScript after its own
// call. The session's expiry can pass its score only if that step fails;
// the next update tries again.

// UserSessions returns the reserved fields of the live sessions bound to
// userID, in no particular order; an empty list if there are none. It reads
// the user's index (dropping the members whose bound has passed) and then
// the reserved fields of each member, pipelined: two round trips, and time
// in the number of that user's sessions, never a scan. Members whose
// session is gone are not listed.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]session.Meta, error) {
	if s.err != nil {
		return nil, fmt.Errorf("redis store: list sessions of a user: %w", s.err)
	}
	ids, err := s.members(ctx, userID)
	if err != nil {
		return nil, err
	}
	metas := []session.Meta{}
	if len(ids) == 0 {
		return metas, nil
	}
	cmds := make([]*goredis.SliceCmd, len(ids))
	if _, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, s.Key(id), reservedFields...)
		}
		return nil
	}); err != nil {
		return nil, redisErr(ctx, "list sessions of a user", err)
	}
	now := s.now()
	for i, id := range ids {
		vals := cmds[i].Val()
		if len(vals) != nReserved || vals[posExpires] == nil || vals[posUser] != userID {
			continue // gone, or not this user's: see the comment at the top
		}
		doc, err := decodeValues(id, reservedFields, vals, true)
		if err != nil {
			return nil, fmt.Errorf("redis store: list sessions of a user: %w", err)
		}
		if !live(doc, now) {
			continue
		}
		m, err := session.MetaOf(doc)
		if err != nil {
			return nil, fmt.Errorf("redis store: list sessions of a user: %w", err)
		}
		metas = append(metas, m)
	}
	return metas, nil
}

// members drops the members of userID's index whose bound has passed and
// returns the others, in one round trip.
func (s *Store) members(ctx context.Context, userID string) ([]string, error) {
	key := s.UserKey(userID)
	var ids *goredis.StringSliceCmd
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.ZRemRangeByScore(ctx, key, "-inf", "("+formatMillis(s.now().UnixMilli()))
		ids = p.ZRange(ctx, key, 0, -1)
		return nil
	})
	if err != nil {
		return nil, redisErr(ctx, "read the index of a user", err)
	}
	return ids.Val(), nil
}

// DeleteUserSessions deletes every session bound to userID whose id is not
// in keep, and returns how many live sessions it deleted. It reads the
// user's index, deletes each member's session with a script that first
// checks the session is bound to userID (pipelined), and removes the
// deleted ones from the index: three round trips, and time in the number
// of that user's sessions. A request in flight on a deleted session cannot
// bring it back: its next update finds no session (session.ErrNotFound).
//
// The sessions live in other slots than the index, so this is not one
// atomic step: a session that a concurrent Create binds to userID after the
// index was read is not deleted (it is listed afterwards).
func (s *Store) DeleteUserSessions(ctx context.Context, userID string, keep ...string) (int, error) {
	if s.err != nil {
		return 0, fmt.Errorf("redis store: delete sessions of a user: %w", s.err)
	}
	ids, err := s.members(ctx, userID)
	if err != nil {
		return 0, err
	}
	ids = slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(keep, id) })
	if len(ids) == 0 {
		return 0, nil
	}
	now := s.now().UnixMilli()
	run := func(eval bool) ([]*goredis.Cmd, error) {
		cmds := make([]*goredis.Cmd, len(ids))
		_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i, id := range ids {
				if eval {
					cmds[i] = revokeScript.Eval(ctx, p, []string{s.Key(id)}, userID, now)
				} else {
					cmds[i] = revokeScript.EvalSha(ctx, p, []string{s.Key(id)}, userID, now)
				}
			}
			return nil
		})
		return cmds, err
	}
	cmds, err := run(false)
	if noScript(err) {
		// revokeScript is idempotent: running it again on a session that the
		// first round deleted finds nothing, so count both rounds.
		first := cmds
		cmds, err = run(true)
		for i, c := range first {
			if n, _ := c.Int(); n > 0 {
				cmds[i] = c
			}
		}
	}
	n := 0
	var deleted []any
	for i, c := range cmds {
		r, cerr := c.Int()
		if cerr != nil {
			continue
		}
		if r > 0 {
			deleted = append(deleted, ids[i])
			s.cache.drop(ids[i])
		}
		if r == 2 {
			n++
		}
	}
	if len(deleted) > 0 {
		// The sessions are gone whatever this answers; a member it misses
		// goes when its bound passes.
		_ = s.client.ZRem(ctx, s.UserKey(userID), deleted...).Err()
	}
	if err != nil {
		return n, redisErr(ctx, fmt.Sprintf("delete sessions of a user (%d deleted)", n), err)
	}
	return n, nil
}

// reindex moves session id's score in userID's index to bound, and then
// records it in the session, after an update moved the session's expiry
// past the bound it recorded. Its errors are ignored: the update has been
// applied, and the next one tries again (see the comment at the top).
func (s *Store) reindex(ctx context.Context, userID, id string, bound int64) {
	ctx = context.WithoutCancel(ctx)
	if err := indexScript.Run(ctx, s.client, []string{s.UserKey(userID)}, id, bound, s.now().UnixMilli()).Err(); err != nil {
		return
	}
	_ = markScript.Run(ctx, s.client, []string{s.Key(id)}, bound).Err()
}
