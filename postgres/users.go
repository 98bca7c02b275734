package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

// UserSessions returns the reserved fields of the live sessions bound to
// userID, in one statement that reads the index on user_id: its cost is in
// the number of that user's sessions, never a scan of all sessions.
// Expired sessions are not listed, whether or not Sweep has removed them. A
// user without sessions gives an empty list and no error.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]session.Meta, error) {
	if err := s.check("list sessions of a user"); err != nil {
		return nil, err
	}
	out := []session.Meta{}
	if userID == "" {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, s.userListSQL, userID, s.now())
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions of a user: %w", classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		var m session.Meta
		var maxAge int64
		var user, label *string
		if err := rows.Scan(&m.ID, &m.Expires, &maxAge, &m.Created, &user, &label); err != nil {
			return nil, fmt.Errorf("postgres: list sessions of a user: %w", classify(err))
		}
		m.Expires, m.Created = storeTime(m.Expires), storeTime(m.Created)
		m.MaxAge = time.Duration(maxAge) * time.Millisecond
		if user != nil {
			m.UserID = *user
		}
		if label != nil {
			m.Label = *label
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list sessions of a user: %w", classify(err))
	}
	return out, nil
}

// DeleteUserSessions deletes every session bound to userID whose id is not
// in keep, with their keys, in one statement through the index on user_id,
// and returns how many live sessions it deleted (expired ones of the user
// go too, uncounted). A request in flight on a deleted session finds it
// gone: Apply never brings it back.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string, keep ...string) (int, error) {
	if err := s.check("delete sessions of a user"); err != nil {
		return 0, err
	}
	if userID == "" {
		return 0, nil
	}
	if keep == nil {
		keep = []string{}
	}
	var n int64
	if err := s.pool.QueryRow(ctx, s.userDeleteSQL, userID, s.now(), keep).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: delete sessions of a user: %w", classify(err))
	}
	return int(n), nil
}
