package redis

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

func take(key string) session.Command { return session.Command{Op: session.OpTake, Path: key} }

// TestTakeIsExactlyOnce: 32 concurrent Takes of a key under a dotted path
// (Go, under the compare-and-set) through two Stores on two clients, each
// with its cache: exactly one gets the value, and the key is gone. The
// conformance suite's Concurrency/Take does it on a top-level key (the
// script's HGET and HDEL), through one Store.
func TestTakeIsExactlyOnce(t *testing.T) {
	const path = "m.flash"
	s1, _ := newStore(t)
	s2 := NewStore(newClient(t), WithPrefix(s1.prefix))
	m := create(t, s1)
	if _, err := s1.Apply(ctx, m.ID, upd(m.Expires, []session.Command{set(path, "hello"), set("other", int64(1))})); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := []*Store{s1, s2}[i%2]
			doc, err := s.Apply(ctx, m.ID, upd(m.Expires, []session.Command{take(path)}))
			if err != nil {
				t.Error(err)
				return
			}
			if _, ok := doc["other"]; ok {
				t.Errorf("Take returned an untouched key: %v", doc.User())
			}
			if v := lookup(doc, path); v != nil {
				if v != "hello" {
					t.Errorf("Take got %#v", v)
				}
				mu.Lock()
				got++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if got != 1 {
		t.Errorf("%d Takes got the value, want exactly 1", got)
	}
	doc, err := s1.Load(ctx, m.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := lookup(doc, path); v != nil {
		t.Errorf("after Take the session holds %#v", v)
	}
}

// TestPushLastIsAtomic: 33 concurrent PushLast(key, 5) of a key under a
// dotted path, through two Stores on two clients, leave exactly the last 5
// elements. The conformance suite's Concurrency/PushLast does it on a
// top-level key, through one Store.
func TestPushLastIsAtomic(t *testing.T) {
	const path = "d.recent"
	s1, _ := newStore(t)
	s2 := NewStore(newClient(t), WithPrefix(s1.prefix))
	m := create(t, s1)
	var wg sync.WaitGroup
	for i := range 33 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := []*Store{s1, s2}[i%2]
			cmd := session.Command{Op: session.OpPush, Path: path, Values: []any{int64(i)}, Slice: 5}
			doc, err := s.Apply(ctx, m.ID, upd(m.Expires, []session.Command{cmd}))
			if err != nil {
				t.Error(err)
				return
			}
			if a, _ := lookup(doc, path).([]any); len(a) > 5 || len(a) == 0 {
				t.Errorf("PushLast returned %v", a)
			}
		}()
	}
	wg.Wait()
	doc, err := s1.Load(ctx, m.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := lookup(doc, path).([]any)
	if len(a) != 5 {
		t.Fatalf("%s = %v, want 5 elements", path, a)
	}
	seen := map[any]bool{}
	for _, e := range a {
		if seen[e] {
			t.Errorf("%v twice in %v", e, a)
		}
		seen[e] = true
	}
	t.Logf("%s = %v; stats %+v %+v", path, a, s1.Stats(), s2.Stats())
}

// TestMaxAgeAndLabel: an Update's MaxAge and Label are stored in the
// reserved fields, by Create and by Apply on both paths; zero and ""
// leave them alone.
func TestMaxAgeAndLabel(t *testing.T) {
	s, _ := newStore(t)
	m := newMeta(t)
	doc, err := s.Create(ctx, m, session.Update{MaxAge: 2 * time.Hour, Label: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, doc session.Doc, maxAge time.Duration, label string) {
		t.Helper()
		for name, d := range map[string]session.Doc{what: doc} {
			got, err := session.MetaOf(d)
			if err != nil {
				t.Fatal(err)
			}
			if got.MaxAge != maxAge || got.Label != label {
				t.Errorf("%s: maxAge %v label %q, want %v %q", name, got.MaxAge, got.Label, maxAge, label)
			}
		}
		loaded, err := s.Load(ctx, m.ID, []string{})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := session.MetaOf(loaded); got.MaxAge != maxAge || got.Label != label {
			t.Errorf("%s: Load: maxAge %v label %q, want %v %q", what, got.MaxAge, got.Label, maxAge, label)
		}
	}
	check("Create", doc, 2*time.Hour, "laptop")
	doc, err = s.Apply(ctx, m.ID, session.Update{Expires: m.Expires, MaxAge: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	check("Apply MaxAge", doc, 30*24*time.Hour, "laptop")
	doc, err = s.Apply(ctx, m.ID, session.Update{Expires: m.Expires, Label: "phone", Commands: []session.Command{set("a.b", int64(1))}})
	if err != nil {
		t.Fatal(err)
	}
	check("Apply Label on the Go path", doc, 30*24*time.Hour, "phone")
	doc, err = s.Apply(ctx, m.ID, session.Update{Expires: m.Expires})
	if err != nil {
		t.Fatal(err)
	}
	check("Touch", doc, 30*24*time.Hour, "phone")
}

// TestLoadKeys: Load returns the reserved fields and the named keys that
// exist, nothing else; names that cannot be keys are ignored.
func TestLoadKeys(t *testing.T) {
	s, _ := newStore(t)
	m := newMeta(t)
	if _, err := s.Create(ctx, m, session.Update{Commands: []session.Command{set("a", int64(1)), set("b", "x")}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		keys []string
		want session.Doc
	}{
		{nil, session.Doc{"a": int64(1), "b": "x"}},
		{[]string{}, session.Doc{}},
		{[]string{"a", "missing", "a", "$expires", "", "expires"}, session.Doc{"a": int64(1)}},
	} {
		doc, err := s.Load(ctx, m.ID, tc.keys)
		if err != nil {
			t.Fatal(err)
		}
		if !identical(doc.User(), tc.want) {
			t.Errorf("Load(%q) = %v, want %v", tc.keys, doc.User(), tc.want)
		}
		if _, err := session.MetaOf(doc); err != nil {
			t.Errorf("Load(%q): %v", tc.keys, err)
		}
	}
}

// TestResultHoldsTouchedAndFetchedKeys: Apply returns the touched keys as
// they are after the step (a removed one absent), the fetched ones, all of
// them for FetchAll, and nothing else.
func TestResultHoldsTouchedAndFetchedKeys(t *testing.T) {
	s, _ := newStore(t)
	m := newMeta(t)
	init := []session.Command{set("a", int64(1)), set("b", "x"), set("c", map[string]any{"n": int64(1)}), set("z", true)}
	if _, err := s.Create(ctx, m, session.Update{Commands: init}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		u    session.Update
		want session.Doc
	}{
		{"native", session.Update{Commands: []session.Command{inc("a", int64(1)), unset("b")}, Fetch: []string{"z", "nope"}},
			session.Doc{"a": int64(2), "z": true}},
		{"go path", session.Update{Commands: []session.Command{inc("c.n", int64(1)), {Op: session.OpRename, Path: "a", To: "b"}}, Fetch: []string{"z"}},
			session.Doc{"c": map[string]any{"n": int64(2)}, "b": int64(2), "z": true}},
		{"fetch all", session.Update{Commands: []session.Command{set("y", "new")}, FetchAll: true},
			session.Doc{"b": int64(2), "c": map[string]any{"n": int64(2)}, "z": true, "y": "new"}},
		{"touch", session.Update{}, session.Doc{}},
	} {
		tc.u.Expires = m.Expires
		doc, err := s.Apply(ctx, m.ID, tc.u)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !identical(doc.User(), tc.want) {
			t.Errorf("%s: result %v, want %v", tc.name, doc.User(), tc.want)
		}
		if _, err := session.MetaOf(doc); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestTypeMismatchSaysWhichCommand: a command that does not apply is a
// *session.CommandError with its index, and nothing changes.
func TestTypeMismatchSaysWhichCommand(t *testing.T) {
	s, _ := newStore(t)
	m := newMeta(t)
	if _, err := s.Create(ctx, m, session.Update{Commands: []session.Command{set("s", "text")}}); err != nil {
		t.Fatal(err)
	}
	for name, cmds := range map[string][]session.Command{
		"native fallback": {set("ok", int64(1)), inc("s", int64(1))},
		"go path":         {set("ok", int64(1)), inc("s", 0.5)},
	} {
		_, err := s.Apply(ctx, m.ID, upd(m.Expires, cmds))
		var ce *session.CommandError
		if !errors.As(err, &ce) || ce.Index != 1 || !errors.Is(err, session.ErrTypeMismatch) {
			t.Errorf("%s: %v, want a CommandError for command 1 wrapping ErrTypeMismatch", name, err)
		}
	}
	if doc, _ := s.Load(ctx, m.ID, nil); doc["ok"] != nil {
		t.Errorf("a failed step changed the session: %v", doc.User())
	}
}

// TestNoResurrection: a deleted session, or one revoked through the user
// index, stays gone: every later Apply, on either path and from a Store
// whose cache still holds it, is ErrNotFound and creates nothing.
func TestNoResurrection(t *testing.T) {
	s, c := newStore(t)
	for _, how := range []string{"Delete", "DeleteUserSessions"} {
		m := newMeta(t)
		m.UserID = "user-" + how
		if _, err := s.Create(ctx, m, session.Update{Commands: []session.Command{set("c", map[string]any{})}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(ctx, m.ID, nil); err != nil { // fills the cache
			t.Fatal(err)
		}
		other := NewStore(c, WithPrefix(s.prefix))
		if how == "Delete" {
			if err := other.Delete(ctx, m.ID); err != nil {
				t.Fatal(err)
			}
		} else if n, err := other.DeleteUserSessions(ctx, m.UserID); err != nil || n != 1 {
			t.Fatalf("DeleteUserSessions = %d, %v; want 1", n, err)
		}
		for name, cmds := range map[string][]session.Command{"touch": nil, "native": {set("a", "x")}, "go path": {set("c.x", "x")}} {
			if _, err := s.Apply(ctx, m.ID, upd(time.Now().Add(time.Hour), cmds)); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("%s, then Apply %s: %v, want ErrNotFound", how, name, err)
			}
		}
		if c.Exists(ctx, s.Key(m.ID)).Val() != 0 {
			t.Errorf("%s: the session came back", how)
		}
		if list, err := s.UserSessions(ctx, m.UserID); err != nil || len(list) != 0 {
			t.Errorf("%s: UserSessions = %v, %v; want none", how, list, err)
		}
	}
}

// TestStaleCacheNeverFailsACommand: a command that would not apply to the
// value this Store's cache holds, but applies to the value in Redis (which
// another instance changed), applies: a command fails only on values read
// during the call.
func TestStaleCacheNeverFailsACommand(t *testing.T) {
	s1, c := newStore(t)
	s2 := NewStore(c, WithPrefix(s1.prefix))
	m := newMeta(t)
	if _, err := s1.Create(ctx, m, session.Update{Commands: []session.Command{set("d", map[string]any{"y": true})}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Apply(ctx, m.ID, upd(m.Expires, []session.Command{set("d.y", []any{int64(1), int64(2)})})); err != nil {
		t.Fatal(err)
	}
	doc, err := s1.Apply(ctx, m.ID, upd(m.Expires, []session.Command{{Op: session.OpPop, Path: "d.y", Value: int64(1)}}))
	if err != nil {
		t.Fatalf("Pop on the stored array, with a bool in the cache: %v", err)
	}
	if got := lookup(doc, "d.y"); !identical(got, []any{int64(1)}) {
		t.Errorf("d.y = %#v, want [1]", got)
	}
	if st := s1.Stats(); st.Reads != 1 {
		t.Errorf("stats %+v, want 1 read", st)
	}
}

// TestConflictValuesAreRead: after a conflict the values the script
// returned are Redis's, so a command that fails on them fails at once,
// without reading them again (two round trips, not three).
func TestConflictValuesAreRead(t *testing.T) {
	s1, c := newStore(t)
	s2 := NewStore(c, WithPrefix(s1.prefix))
	m := newMeta(t)
	if _, err := s1.Create(ctx, m, session.Update{Commands: []session.Command{set("d", map[string]any{})}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Apply(ctx, m.ID, upd(m.Expires, []session.Command{set("d", "str")})); err != nil {
		t.Fatal(err)
	}
	_, err := s1.Apply(ctx, m.ID, upd(m.Expires, []session.Command{set("d.x", true)}))
	if !errors.Is(err, session.ErrTypeMismatch) {
		t.Fatalf("Set d.x on a stored string, with a map in the cache: %v, want ErrTypeMismatch", err)
	}
	if st := s1.Stats(); st.Reads != 0 || st.Retries != 1 {
		t.Errorf("stats %+v, want 1 retry and no read", st)
	}
}
