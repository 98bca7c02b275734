package sessiontest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

// userIndexSkip returns why the UserIndex subtests cannot run on st, or "".
func userIndexSkip(st session.Store) string {
	if _, ok := st.(session.UserIndex); !ok {
		return fmt.Sprintf("the store (%T) does not implement session.UserIndex, which is optional for third-party stores", st)
	}
	return ""
}

func (s *suite) userIndexTests() []subtest {
	return []subtest{
		{"List", testUserList},
		{"Empty", testUserEmpty},
		{"DeleteKeep", testUserDeleteKeep},
		{"DeleteAll", testUserDeleteAll},
		{"Delete", testUserDelete},
		{"Expired", s.testUserExpired},
		{"Revoked", s.testUserRevoked},
		{"CreateRace", s.testUserCreateRace},
		{"NoScan", s.testUserNoScan},
	}
}

// newUserID returns a random user id, so that runs sharing a database do
// not see each other's users.
func newUserID(t testing.TB) string {
	t.Helper()
	return "user-" + newID(t)[:16]
}

// createFor makes a session bound to user, with a key of its own.
func createFor(t testing.TB, st session.Store, user, label string, maxAge time.Duration) session.Meta {
	t.Helper()
	m := newMeta(t, maxAge)
	m.UserID, m.Label = user, label
	create(t, st, m, prepare(t, set("n", 1)))
	return m
}

// listSessions returns the user's sessions from st, sorted by id.
func listSessions(t testing.TB, ux session.UserIndex, user string) []session.Meta {
	t.Helper()
	list, err := ux.UserSessions(context.Background(), user)
	if err != nil {
		t.Fatalf("UserSessions(%s): %v", user, err)
	}
	slices.SortFunc(list, func(a, b session.Meta) int { return strings.Compare(a.ID, b.ID) })
	return list
}

// checkListed checks that the user's listed sessions are exactly want
// (id, user, created, expires, maxAge and label).
func checkListed(t testing.TB, ux session.UserIndex, user string, want []session.Meta, when string) {
	t.Helper()
	got := listSessions(t, ux, user)
	want = slices.Clone(want)
	slices.SortFunc(want, func(a, b session.Meta) int { return strings.Compare(a.ID, b.ID) })
	if len(got) != len(want) {
		t.Errorf("%s: UserSessions(%s) lists %d sessions %s; want %d %s", when, user, len(got), showMetas(got), len(want), showMetas(want))
		return
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.UserID != w.UserID || !g.Created.Equal(w.Created) || !g.Expires.Equal(w.Expires) ||
			g.MaxAge != w.MaxAge || g.Label != w.Label {
			t.Errorf("%s: UserSessions(%s) lists\n got %s\nwant %s", when, user, showMeta(g), showMeta(w))
		}
	}
}

func showMetas(ms []session.Meta) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = showMeta(m)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// testUserList: UserSessions lists exactly the user's live sessions, with
// their reserved fields as they are now: an Apply's expires and label show.
func testUserList(t *testing.T, st session.Store) {
	ux := st.(session.UserIndex)
	user, other := newUserID(t), newUserID(t)
	a := createFor(t, st, user, "", liveFor)
	b := createFor(t, st, user, "phone", liveFor)
	c := createFor(t, st, user, "laptop", 2*liveFor)
	o := createFor(t, st, other, "", liveFor)
	create(t, st, newMeta(t, liveFor), prepare(t, set("user", user))) // unbound, whatever its keys say
	checkListed(t, ux, user, []session.Meta{a, b, c}, "three sessions")

	// "Last seen": Apply moves expires, and may set the label.
	a.Expires, a.Label = later(), "renamed"
	applyU(t, st, a.ID, session.Update{Commands: prepare(t, inc("n", 1)), Expires: a.Expires, Label: a.Label})
	b.Expires, b.MaxAge = later(), 3*liveFor
	applyU(t, st, b.ID, session.Update{Expires: b.Expires, MaxAge: b.MaxAge})
	checkListed(t, ux, user, []session.Meta{a, b, c}, "after Apply")
	checkListed(t, ux, other, []session.Meta{o}, "the other user")
}

// testUserEmpty: a user without sessions has an empty list and no error.
func testUserEmpty(t *testing.T, st session.Store) {
	ux := st.(session.UserIndex)
	checkListed(t, ux, newUserID(t), nil, "a user without sessions")
	n, err := ux.DeleteUserSessions(context.Background(), newUserID(t))
	if err != nil || n != 0 {
		t.Errorf("DeleteUserSessions of a user without sessions = %d, %v; want 0, nil", n, err)
	}
}

// testUserDeleteKeep: DeleteUserSessions with keep deletes the user's other
// sessions and says how many; they are gone for Load and Apply, the kept
// one and other users' sessions stay, and a second call deletes nothing.
func testUserDeleteKeep(t *testing.T, st session.Store) {
	ux := st.(session.UserIndex)
	ctx := context.Background()
	user, other := newUserID(t), newUserID(t)
	var mine []session.Meta
	for i := range 3 {
		mine = append(mine, createFor(t, st, user, fmt.Sprintf("device %d", i), liveFor))
	}
	o := createFor(t, st, other, "", liveFor)
	n, err := ux.DeleteUserSessions(ctx, user, mine[1].ID, o.ID, newID(t))
	if err != nil || n != 2 {
		t.Errorf("DeleteUserSessions(keep one of three) = %d, %v; want 2, nil", n, err)
	}
	checkListed(t, ux, user, mine[1:2], "after DeleteUserSessions with keep")
	checkListed(t, ux, other, []session.Meta{o}, "the other user, after DeleteUserSessions")
	for _, m := range []session.Meta{mine[0], mine[2]} {
		wantNotFound(t, st, m.ID, "a deleted session")
		wantApplyNotFound(t, st, m.ID, "a deleted session")
	}
	load(t, st, mine[1].ID)
	load(t, st, o.ID)
	if n, err := ux.DeleteUserSessions(ctx, user, mine[1].ID); err != nil || n != 0 {
		t.Errorf("second DeleteUserSessions = %d, %v; want 0, nil", n, err)
	}
}

// testUserDeleteAll: DeleteUserSessions without keep deletes every session
// of the user ("sign out everywhere").
func testUserDeleteAll(t *testing.T, st session.Store) {
	ux := st.(session.UserIndex)
	user := newUserID(t)
	var ids []string
	for range 4 {
		ids = append(ids, createFor(t, st, user, "", liveFor).ID)
	}
	n, err := ux.DeleteUserSessions(context.Background(), user)
	if err != nil || n != len(ids) {
		t.Errorf("DeleteUserSessions = %d, %v; want %d, nil", n, err, len(ids))
	}
	checkListed(t, ux, user, nil, "after DeleteUserSessions")
	for _, id := range ids {
		wantNotFound(t, st, id, "after DeleteUserSessions")
	}
}

// testUserDelete: Delete of one session drops it from its user's list.
func testUserDelete(t *testing.T, st session.Store) {
	ux := st.(session.UserIndex)
	user := newUserID(t)
	a := createFor(t, st, user, "", liveFor)
	b := createFor(t, st, user, "", liveFor)
	if err := st.Delete(context.Background(), a.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	checkListed(t, ux, user, []session.Meta{b}, "after Delete of one session")
	if n, err := ux.DeleteUserSessions(context.Background(), user); err != nil || n != 1 {
		t.Errorf("DeleteUserSessions after Delete of one of two = %d, %v; want 1, nil", n, err)
	}
}

// testUserExpired: an expired session is not listed, whether or not the
// store has removed it yet (sleeps WithShortMaxAge).
func (s *suite) testUserExpired(t *testing.T, st session.Store) {
	ux := st.(session.UserIndex)
	user := newUserID(t)
	short := createFor(t, st, user, "short", s.cfg.shortMaxAge)
	long := createFor(t, st, user, "long", liveFor)
	if got := listSessions(t, ux, user); len(got) != 2 && time.Now().Before(short.Expires) {
		t.Errorf("before expiry: UserSessions lists %s; want both sessions", showMetas(got))
	}
	sleepPast(short.Expires)
	checkListed(t, ux, user, []session.Meta{long}, "after one session expired")
	if n, err := ux.DeleteUserSessions(context.Background(), user, long.ID); err != nil {
		t.Errorf("DeleteUserSessions after expiry: %v", err)
	} else if n != 0 {
		t.Logf("DeleteUserSessions counted %d expired session(s) as deleted (allowed)", n)
	}
	wantNotFound(t, st, short.ID, "expired")
	checkListed(t, ux, user, []session.Meta{long}, "after DeleteUserSessions kept the live one")
}

// testUserRevoked: Apply loops on a user's session racing
// DeleteUserSessions never bring it back: no Apply that starts after it
// returned succeeds, and the session stays gone.
func (s *suite) testUserRevoked(t *testing.T, st session.Store) {
	ux := st.(session.UserIndex)
	for range destroyRounds {
		user := newUserID(t)
		m := newMeta(t, liveFor)
		m.UserID = user
		raceDelete(t, st, m, s.cfg.goroutines, func() error {
			_, err := ux.DeleteUserSessions(context.Background(), user)
			return err
		})
		checkListed(t, ux, user, nil, "after DeleteUserSessions raced with Apply")
		if t.Failed() {
			return
		}
	}
}

// testUserCreateRace: Creates of a user's sessions (logins) racing
// DeleteUserSessions (revokes) end consistent: every session the user's
// list holds loads, every session it does not hold is gone, and one more
// DeleteUserSessions deletes exactly the listed ones.
func (s *suite) testUserCreateRace(t *testing.T, st session.Store) {
	ux := st.(session.UserIndex)
	ctx := context.Background()
	user := newUserID(t)
	g, per := max(s.cfg.goroutines/2, 4), 16
	metas := make([][]session.Meta, g)
	for i := range metas {
		for range per {
			m := newMeta(t, liveFor)
			m.UserID = user
			metas[i] = append(metas[i], m)
		}
	}
	cmds := prepare(t, set("n", 1))
	const revokers = 2
	var wg sync.WaitGroup
	var started sync.WaitGroup
	stop := make(chan struct{})
	for range revokers {
		wg.Add(1)
		started.Add(1)
		go func() { // revokes until the logins are done
			defer wg.Done()
			for first := true; ; first = false {
				_, err := ux.DeleteUserSessions(ctx, user)
				if first {
					started.Done()
				}
				if err != nil {
					t.Errorf("DeleteUserSessions: %v", err)
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	started.Wait()
	parallel(g, func(i int) {
		for _, m := range metas[i] {
			if _, err := st.Create(ctx, m, session.Update{Commands: cmds}); err != nil {
				t.Errorf("Create: %v", err)
				return
			}
		}
	})
	close(stop)
	wg.Wait()
	listed := map[string]bool{}
	for _, m := range listSessions(t, ux, user) {
		listed[m.ID] = true
	}
	kept := 0
	for _, ms := range metas {
		for _, m := range ms {
			_, err := st.Load(ctx, m.ID, nil)
			switch {
			case listed[m.ID] && err != nil:
				t.Errorf("session %s is listed but Load gives %v", m.ID, err)
			case !listed[m.ID] && err == nil:
				t.Errorf("session %s is live but not listed: a login racing a revoke left a session the user cannot revoke", m.ID)
			case !listed[m.ID] && !errorIs(err, session.ErrNotFound):
				t.Errorf("Load of a revoked session: %v; want session.ErrNotFound", err)
			}
			if listed[m.ID] {
				kept++
			}
		}
	}
	t.Logf("%d of %d sessions created while revoking survived", kept, g*per)
	n, err := ux.DeleteUserSessions(ctx, user)
	if err != nil || n != len(listed) {
		t.Errorf("final DeleteUserSessions = %d, %v; want %d, nil", n, err, len(listed))
	}
	for id := range listed {
		wantNotFound(t, st, id, "after the final DeleteUserSessions")
	}
}

// noScanCalls is how many UserSessions calls each measurement of
// UserIndex/NoScan averages.
const noScanCalls = 20

// testUserNoScan: listing one user's sessions costs time in that user's
// sessions, not in every session: among crowd other users' sessions
// (WithUserIndexCrowd) it takes the same order of time as among 3. The
// figures are logged; the bound, 20 times plus 5ms, is loose enough for a
// loaded machine and far below what a scan of thousands costs.
func (s *suite) testUserNoScan(t *testing.T, st session.Store) {
	ux := st.(session.UserIndex)
	user := newUserID(t)
	want := []session.Meta{createFor(t, st, user, "", liveFor), createFor(t, st, user, "", liveFor)}
	s.crowd(t, st, 3)
	few := timeListing(t, ux, user, len(want))
	s.crowd(t, st, s.cfg.crowd-3)
	many := timeListing(t, ux, user, len(want))
	t.Logf("UserSessions of a user with %d sessions: %v among 3 other sessions, %v among %d (ratio %.1f)",
		len(want), few, many, s.cfg.crowd, float64(many)/float64(max(few, time.Nanosecond)))
	if limit := 20*few + 5*time.Millisecond; many > limit {
		t.Errorf("UserSessions takes %v among %d other sessions and %v among 3: more than 20 × + 5ms (%v); "+
			"listing a user's sessions must not scan every session", many, s.cfg.crowd, few, limit)
	}
	checkListed(t, ux, user, want, "among the crowd")
}

// crowdLife is the lifetime of UserIndex/NoScan's crowd: long enough for
// the subtest, short enough not to burden a shared database for long.
const crowdLife = 10 * time.Minute

// crowd creates n sessions of n other users, from several goroutines.
func (s *suite) crowd(t *testing.T, st session.Store, n int) {
	t.Helper()
	const workers = 16
	metas := make([]session.Meta, n)
	for i := range metas {
		metas[i] = newMeta(t, crowdLife)
		metas[i].UserID = fmt.Sprintf("crowd-%s", metas[i].ID[:16])
	}
	cmds := prepare(t, set("n", 1))
	parallel(workers, func(w int) {
		for i := w; i < n; i += workers {
			if _, err := st.Create(context.Background(), metas[i], session.Update{Commands: cmds}); err != nil {
				t.Errorf("Create: %v", err)
				return
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}
}

// timeListing returns the mean time of noScanCalls UserSessions calls,
// after a garbage collection and three calls to warm up, checking that each lists n sessions.
func timeListing(t *testing.T, ux session.UserIndex, user string, n int) time.Duration {
	t.Helper()
	runtime.GC() // the crowd's garbage, in this process, is not the store's cost
	for range 3 {
		listSessions(t, ux, user)
	}
	start := time.Now()
	for range noScanCalls {
		if got := listSessions(t, ux, user); len(got) != n {
			t.Fatalf("UserSessions lists %d sessions; want %d", len(got), n)
		}
	}
	return time.Since(start) / noScanCalls
}
