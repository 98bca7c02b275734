package redis

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

// login creates a session bound to user, labelled label.
func login(t *testing.T, s *Store, user, label string) session.Meta {
	t.Helper()
	m := newMeta(t)
	m.UserID, m.Label = user, label
	if _, err := s.Create(ctx, m, session.Update{Commands: []session.Command{set("n", int64(1))}}); err != nil {
		t.Fatal(err)
	}
	return toMillisMeta(m)
}

func toMillisMeta(m session.Meta) session.Meta {
	m.Expires, m.Created = toMillis(m.Expires), toMillis(m.Created)
	return m
}

func ids(ms []session.Meta) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	slices.Sort(out)
	return out
}

func TestUserSessionsListAndRevoke(t *testing.T) {
	s, c := newStore(t)
	var logins []session.Meta
	for i := range 3 {
		logins = append(logins, login(t, s, "alice", "device "+strconv.Itoa(i)))
	}
	login(t, s, "bob", "")
	list, err := s.UserSessions(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(list), ids(logins); !slices.Equal(got, want) {
		t.Fatalf("UserSessions = %v, want %v", got, want)
	}
	for _, m := range list {
		i := slices.IndexFunc(logins, func(l session.Meta) bool { return l.ID == m.ID })
		if m != logins[i] {
			t.Errorf("listed %+v, want %+v", m, logins[i])
		}
	}
	if list, err := s.UserSessions(ctx, "nobody"); err != nil || list == nil || len(list) != 0 {
		t.Errorf("UserSessions(nobody) = %#v, %v; want an empty list", list, err)
	}

	keep := logins[1].ID
	n, err := s.DeleteUserSessions(ctx, "alice", keep)
	if err != nil || n != 2 {
		t.Fatalf("DeleteUserSessions = %d, %v; want 2", n, err)
	}
	if list, _ := s.UserSessions(ctx, "alice"); !slices.Equal(ids(list), []string{keep}) {
		t.Errorf("after revoking, UserSessions = %v, want only %s", ids(list), keep)
	}
	for _, m := range logins {
		_, err := s.Load(ctx, m.ID, nil)
		if m.ID == keep && err != nil {
			t.Errorf("kept session: %v", err)
		}
		if m.ID != keep && !errors.Is(err, session.ErrNotFound) {
			t.Errorf("revoked session: Load %v, want ErrNotFound", err)
		}
	}
	if list, _ := s.UserSessions(ctx, "bob"); len(list) != 1 {
		t.Errorf("revoking alice's sessions changed bob's: %v", list)
	}
	// Delete drops a session from the index.
	if err := s.Delete(ctx, keep); err != nil {
		t.Fatal(err)
	}
	if n := c.ZCard(ctx, s.UserKey("alice")).Val(); n != 0 {
		t.Errorf("after Delete of the last session the index holds %d members", n)
	}
	if n, err := s.DeleteUserSessions(ctx, "alice"); err != nil || n != 0 {
		t.Errorf("DeleteUserSessions of a user without sessions = %d, %v", n, err)
	}
}

// TestUserIndexDoesNotGrow: sessions that expire leave the index within a
// lifetime, without any Delete: a user who logs in again and again never
// has more members than sessions of the last two lifetimes; and the index
// key itself expires with its last member.
func TestUserIndexDoesNotGrow(t *testing.T) {
	s, c := newStore(t)
	clock := time.Now()
	s.now = func() time.Time { return clock }
	const maxAge = time.Minute
	for i := range 50 {
		if i > 0 {
			clock = clock.Add(maxAge)
		}
		m := session.Meta{ID: newID(t), Expires: clock.Add(maxAge), MaxAge: maxAge, Created: clock, UserID: "carol"}
		if _, err := s.Create(ctx, m, session.Update{}); err != nil {
			t.Fatal(err)
		}
		if n := c.ZCard(ctx, s.UserKey("carol")).Val(); n > 3 {
			t.Fatalf("after %d logins a lifetime apart, the index holds %d members", i+1, n)
		}
	}
	if list, err := s.UserSessions(ctx, "carol"); err != nil || len(list) != 1 {
		t.Errorf("UserSessions = %v, %v; want the last session only", list, err)
	}

	// In real time: the index key expires one lifetime after its last
	// session.
	s2, _ := newStore(t)
	m := session.Meta{ID: newID(t), Expires: time.Now().Add(100 * time.Millisecond), MaxAge: 100 * time.Millisecond, Created: time.Now(), UserID: "dave"}
	if _, err := s2.Create(ctx, m, session.Update{}); err != nil {
		t.Fatal(err)
	}
	key := s2.UserKey("dave")
	if got, want := c.PExpireTime(ctx, key).Val(), time.Duration(indexBound(m.Expires.UnixMilli(), m.MaxAge))*time.Millisecond; got != want {
		t.Errorf("index PEXPIRETIME = %v, want %v", got, want)
	}
	time.Sleep(250 * time.Millisecond)
	if c.Exists(ctx, key).Val() != 0 {
		t.Error("the index of a user whose sessions all expired is still there")
	}
}

// TestRollingExpiryMovesTheIndex: an update that moves a session's expiry
// past its bound in the index moves the bound, so the session is never
// dropped from the index while it lives.
func TestRollingExpiryMovesTheIndex(t *testing.T) {
	s, c := newStore(t)
	m := login(t, s, "erin", "")
	key := s.UserKey("erin")
	bound0 := indexBound(m.Expires.UnixMilli(), m.MaxAge)
	if got := c.ZScore(ctx, key, m.ID).Val(); int64(got) != bound0 {
		t.Fatalf("score %v, want %d", got, bound0)
	}
	// Within the bound: nothing moves.
	if _, err := s.Apply(ctx, m.ID, upd(m.Expires.Add(m.MaxAge/2), nil)); err != nil {
		t.Fatal(err)
	}
	if got := c.ZScore(ctx, key, m.ID).Val(); int64(got) != bound0 {
		t.Errorf("score moved to %v within the bound", got)
	}
	// Past it, on both paths: the score and $indexed move to one lifetime
	// past the new expiry.
	for i, cmds := range [][]session.Command{{set("a", int64(1))}, {set("b.c", int64(1))}} {
		exp := m.Expires.Add(time.Duration(2*(i+1)) * m.MaxAge)
		if _, err := s.Apply(ctx, m.ID, upd(exp, cmds)); err != nil {
			t.Fatal(err)
		}
		want := indexBound(exp.UnixMilli(), m.MaxAge)
		if got := c.ZScore(ctx, key, m.ID).Val(); int64(got) != want {
			t.Errorf("score %v, want %d", got, want)
		}
		if got := c.HGet(ctx, s.Key(m.ID), hashIndexed).Val(); got != strconv.FormatInt(want, 10) {
			t.Errorf("$indexed = %s, want %d", got, want)
		}
		if got := c.PExpireTime(ctx, key).Val(); got != time.Duration(want)*time.Millisecond {
			t.Errorf("index PEXPIRETIME %v, want %d ms", got, want)
		}
	}
}

// TestLoginRacingRevoke: logins and revokes of one user at once end
// consistent: every session that exists afterwards is listed, and the
// index lists nothing else.
func TestLoginRacingRevoke(t *testing.T) {
	s1, c := newStore(t)
	s2 := NewStore(newClient(t), WithPrefix(s1.prefix))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var created []string
	for i := range 40 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			m := newMeta(t)
			m.UserID = "frank"
			if _, err := s1.Create(ctx, m, session.Update{}); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			created = append(created, m.ID)
			mu.Unlock()
		}()
		go func() {
			defer wg.Done()
			if _, err := s2.DeleteUserSessions(ctx, "frank", fmt.Sprint(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	list, err := s1.UserSessions(ctx, "frank")
	if err != nil {
		t.Fatal(err)
	}
	var alive []string
	for _, id := range created {
		if c.Exists(ctx, s1.Key(id)).Val() == 1 {
			alive = append(alive, id)
		}
	}
	slices.Sort(alive)
	if got := ids(list); !slices.Equal(got, alive) {
		t.Errorf("listed %v, but the sessions alive are %v", got, alive)
	}
	t.Logf("%d of %d sessions survived the revokes", len(alive), len(created))
}

// TestListingIsNoScan: listing one user's sessions among 3,000 sessions of
// other users costs the same round trips and bytes as among none.
func TestListingIsNoScan(t *testing.T) {
	s, w := countingStore(t)
	for i := range 3 {
		login(t, s, "grace", strconv.Itoa(i))
	}
	measure := func() (int64, int64) {
		sent, recv, trips := w.measure(func() {
			if list, err := s.UserSessions(ctx, "grace"); err != nil || len(list) != 3 {
				t.Fatalf("UserSessions = %v, %v", list, err)
			}
		})
		return sent + recv, trips
	}
	bytes0, trips0 := measure()
	for i := range 3000 {
		m := newMeta(t)
		m.UserID = "other-" + strconv.Itoa(i%100)
		if _, err := s.Create(ctx, m, session.Update{}); err != nil {
			t.Fatal(err)
		}
	}
	bytes1, trips1 := measure()
	t.Logf("listing 3 sessions: %d B and %d round trips among 3 sessions, %d B and %d among 3003", bytes0, trips0, bytes1, trips1)
	if trips1 != trips0 || trips0 != 2 || bytes1 != bytes0 {
		t.Errorf("listing among 3003 sessions cost %d B in %d round trips, among 3 %d B in %d", bytes1, trips1, bytes0, trips0)
	}
}

// TestLoginRoundTrips: creating a session bound to a user is one round
// trip (the session and its index entry pipelined), as for an unbound one;
// deleting it is two (the session, then its index entry).
func TestLoginRoundTrips(t *testing.T) {
	s, w := countingStore(t)
	var m session.Meta
	_, _, trips := w.measure(func() { m = login(t, s, "heidi", "") })
	if trips != 1 {
		t.Errorf("Create of a bound session: %d round trips, want 1", trips)
	}
	_, _, trips = w.measure(func() {
		if err := s.Delete(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
	})
	if trips != 2 {
		t.Errorf("Delete of a bound session: %d round trips, want 2", trips)
	}
	unbound := newMeta(t)
	_, _, trips = w.measure(func() {
		if _, err := s.Create(ctx, unbound, session.Update{Commands: []session.Command{set("a", int64(1))}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, unbound.ID); err != nil {
			t.Fatal(err)
		}
	})
	if trips != 2 {
		t.Errorf("Create and Delete of an unbound session: %d round trips, want 2", trips)
	}
}

// TestCreateFailsWhenTheIndexFails: a session bound to a user is never
// left out of the user's index: if the index cannot be written (here its
// key holds a string), Create deletes the session again and fails.
func TestCreateFailsWhenTheIndexFails(t *testing.T) {
	s, c := newStore(t)
	if err := c.Set(ctx, s.UserKey("ivan"), "not a sorted set", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	m := newMeta(t)
	m.UserID = "ivan"
	if _, err := s.Create(ctx, m, session.Update{Commands: []session.Command{set("a", int64(1))}}); err == nil {
		t.Fatal("Create succeeded with a broken index")
	}
	if c.Exists(ctx, s.Key(m.ID)).Val() != 0 {
		t.Error("the session stayed, out of its user's index")
	}
	if _, err := s.UserSessions(ctx, "ivan"); err == nil {
		t.Error("UserSessions on a broken index succeeded")
	}
}
