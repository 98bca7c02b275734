package memory

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

// TestUserIndexDoesNotGrow: the user index holds no entry for a user whose
// sessions have all ended, whether they expired (and the sweep or a read
// removed them), were deleted, or were revoked: it does not grow without
// bound as sessions come and go.
func TestUserIndexDoesNotGrow(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := NewStore(WithSweepInterval(0), WithClock(clock))
	defer s.Close()
	ctx := context.Background()
	const users = 100
	for u := range users {
		for i := range 3 {
			m := session.Meta{ID: fmt.Sprintf("u%d-%d", u, i), Created: now, Expires: now.Add(time.Minute),
				MaxAge: time.Minute, UserID: fmt.Sprint("user", u)}
			if _, err := s.Create(ctx, m, session.Update{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := s.indexedUsers(); n != users {
		t.Fatalf("%d users indexed; want %d", n, users)
	}
	// A third of the users end their sessions by Delete, a third by revoking.
	for u := 0; u < users/3; u++ {
		for i := range 3 {
			if err := s.Delete(ctx, fmt.Sprintf("u%d-%d", u, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for u := users / 3; u < 2*users/3; u++ {
		if n, err := s.DeleteUserSessions(ctx, fmt.Sprint("user", u)); err != nil || n != 3 {
			t.Fatalf("DeleteUserSessions = %d, %v; want 3", n, err)
		}
	}
	if n, want := s.indexedUsers(), users-2*(users/3); n != want {
		t.Errorf("after Delete and DeleteUserSessions, %d users indexed; want %d", n, want)
	}
	// The rest expire; the sweep removes them.
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	s.sweep()
	if n := s.indexedUsers(); n != 0 {
		t.Errorf("after every session expired and the sweep ran, %d users indexed; want 0", n)
	}
	if n := s.Len(); n != 0 {
		t.Errorf("Len = %d after the sweep; want 0", n)
	}
}

// indexedUsers returns how many users the index holds an entry for.
func (s *Store) indexedUsers() int {
	s.users.mu.Lock()
	defer s.users.mu.Unlock()
	return len(s.users.ids)
}
