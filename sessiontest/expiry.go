package sessiontest

import (
	"context"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

func (s *suite) expiryTests() []subtest {
	return []subtest{
		{"Past", testExpiredAtCreate},
		{"Lapse", s.testLapse},
		{"ApplyExtends", s.testApplyExtends},
	}
}

// testExpiredAtCreate: a session created with expires in the past is never
// served, and Apply with a future expiry does not revive it. Create itself
// may store it or refuse it.
func testExpiredAtCreate(t *testing.T, st session.Store) {
	now := msNow()
	m := newMeta(t, time.Minute)
	m.Created, m.Expires = now.Add(-2*time.Minute), now.Add(-time.Minute)
	if _, err := st.Create(context.Background(), m, session.Update{Commands: prepare(t, set("a", 1))}); err != nil {
		t.Logf("Create of an expired session: %v (allowed)", err)
	}
	wantNotFound(t, st, m.ID, "expired at Create")
	wantApplyNotFound(t, st, m.ID, "expired at Create")
	if err := st.Delete(context.Background(), m.ID); err != nil {
		t.Errorf("Delete of an expired session: %v; want nil", err)
	}
}

// testLapse: a session whose expiry passes is no longer served, whether or
// not the store has removed it yet.
func (s *suite) testLapse(t *testing.T, st session.Store) {
	m := newMeta(t, s.cfg.shortMaxAge)
	create(t, st, m, prepare(t, set("a", 1)))
	if _, err := st.Load(context.Background(), m.ID, nil); err != nil && !time.Now().After(m.Expires) {
		t.Errorf("Load before expiry: %v", err)
	}
	sleepPast(m.Expires)
	wantNotFound(t, st, m.ID, "after expiry")
	wantApplyNotFound(t, st, m.ID, "after expiry")
}

// testApplyExtends: Apply's expires replaces the old expiry in the store,
// so the session outlives the expiry it was created with.
func (s *suite) testApplyExtends(t *testing.T, st session.Store) {
	m := newMeta(t, s.cfg.shortMaxAge)
	create(t, st, m, nil)
	_, err := st.Apply(context.Background(), m.ID, session.Update{Commands: prepare(t, set("a", 1)), Expires: later()})
	if err != nil {
		if time.Now().After(m.Expires) {
			t.Skipf("the machine was too slow: the session expired before Apply (%v); raise WithShortMaxAge", err)
		}
		t.Fatalf("Apply before expiry: %v", err)
	}
	sleepPast(m.Expires)
	got := load(t, st, m.ID)
	if v, ok := got["a"]; !ok || !session.Equal(v, int64(1)) {
		t.Errorf("Load after the first expiry: a = %s; want 1", show(v))
	}
}

// sleepPast sleeps until a little after t, so that stores that count
// expiry in whole milliseconds or on another clock see it passed.
func sleepPast(t time.Time) {
	time.Sleep(time.Until(t) + 25*time.Millisecond)
}
