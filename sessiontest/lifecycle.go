package sessiontest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

func (s *suite) lifecycleTests() []subtest {
	return []subtest{
		{"Create", testCreate},
		{"CreateWithCommands", testCreateWithCommands},
		{"CreateConflict", testCreateConflict},
		{"Apply", testApply},
		{"Touch", testTouch},
		{"Results", testResults},
		{"LoadKeys", testLoadKeys},
		{"Fetch", testFetch},
		{"MaxAge", testMaxAge},
		{"Label", testLabel},
		{"UserID", testUserID},
		{"FailedUpdate", testFailedUpdate},
		{"ApplyMissing", testApplyMissing},
		{"Delete", testDelete},
		{"DeleteMissing", testDeleteMissing},
		{"Independent", testIndependent},
		{"Isolation", testIsolation},
		{"ReservedKeys", testReservedKeys},
	}
}

// testReservedKeys: commands on reserved fields, given to the store
// directly (not through a Session, which refuses them first), fail with
// ErrReservedKey and change nothing, in Create and in Apply.
func testReservedKeys(t *testing.T, st session.Store) {
	ctx := context.Background()
	m := newMeta(t, liveFor)
	m.UserID, m.Label = "reserved-user", "reserved-label"
	create(t, st, m, nil)
	want := load(t, st, m.ID).Clone()
	for _, c := range []session.Command{
		set(session.FieldUserID, "attacker"),
		set(session.FieldLabel+".x", "attacker's"),
		set(session.FieldExpires+".x", int64(1)),
		unset(session.FieldCreated),
		take(session.FieldUserID),
		inc(session.FieldMaxAge, int64(1)),
		push(session.FieldLabel, "x"),
		rename("a", session.FieldID),
		rename(session.FieldUserID, "mine"),
	} {
		doc, err := st.Apply(ctx, m.ID, session.Update{Commands: []session.Command{c}, Expires: m.Expires})
		if !errorIs(err, session.ErrReservedKey) {
			t.Errorf("Apply(%s) = %s, %v; want session.ErrReservedKey", c, show(doc), err)
		}
		checkUnchanged(t, st, m.ID, want, "after Apply("+c.String()+")")
		other := newMeta(t, liveFor)
		if doc, err := st.Create(ctx, other, session.Update{Commands: []session.Command{c}}); !errorIs(err, session.ErrReservedKey) {
			t.Errorf("Create with %s = %s, %v; want session.ErrReservedKey", c, show(doc), err)
		}
		wantNotFound(t, st, other.ID, "after a refused Create")
	}
}

// testCreate: a new session without commands comes back from Create and
// Load with its reserved fields and no user keys.
func testCreate(t *testing.T, st session.Store) {
	m := newMeta(t, liveFor)
	doc := create(t, st, m, nil)
	if u := doc.User(); len(u) != 0 {
		t.Errorf("Create: user keys %s; want none", show(u))
	}
	checkWhole(t, "Load", load(t, st, m.ID), m.Doc())
}

// testCreateWithCommands: Create applies its first batch, as the reference
// semantics do, returns the keys it touched, and Load returns the same
// document.
func testCreateWithCommands(t *testing.T, st session.Store) {
	m := newMeta(t, liveFor)
	cmds := prepare(t, set("msg", "hi"), set("cart.items", []any{"apple"}), inc("views", 1),
		push("log", "a", "b"), addToSet("tags", "x", "x"), unset("nothing"), pushLast("recent", 2, 1, 2, 3))
	want := normalize(t, map[string]any{
		"msg": "hi", "cart": map[string]any{"items": []any{"apple"}}, "views": 1,
		"log": []any{"a", "b"}, "tags": []any{"x"}, "recent": []any{2, 3},
	})
	ref, err := session.ApplyCommands(m.Doc(), cmds)
	if err != nil {
		t.Fatalf("reference ApplyCommands(%s): %v", showCommands(cmds), err)
	}
	if !sameUser(ref, want) {
		t.Errorf("the reference semantics (session.ApplyCommands) give %s; the suite expects %s", showUser(ref), showUser(want))
	}
	create(t, st, m, cmds)
	checkWhole(t, "Load", load(t, st, m.ID), ref)
}

// testCreateConflict: Create of an id that exists fails with ErrConflict
// and leaves the existing session as it was; the refused Create's user
// has no session listed.
func testCreateConflict(t *testing.T, st session.Store) {
	m := newMeta(t, liveFor)
	create(t, st, m, prepare(t, set("a", 1)))
	first := load(t, st, m.ID)
	again := newMeta(t, 2*liveFor)
	again.ID, again.UserID = m.ID, newUserID(t)
	doc, err := st.Create(context.Background(), again, session.Update{Commands: prepare(t, set("a", 2), set("b", 3)), Label: "x"})
	if !errorIs(err, session.ErrConflict) {
		t.Fatalf("second Create of %s = %s, %v; want an error wrapping session.ErrConflict", m.ID, show(doc), err)
	}
	checkWhole(t, "Load after the conflict", load(t, st, m.ID), first)
	if ux, ok := st.(session.UserIndex); ok {
		checkListed(t, ux, again.UserID, nil, "the user of a Create that conflicted")
	}
}

// testApply: Apply changes user keys, moves expires to the given time,
// keeps the other reserved fields, and returns only the touched keys.
func testApply(t *testing.T, st session.Store) {
	m := newMeta(t, liveFor)
	create(t, st, m, prepare(t, set("a", 1), set("big", strings.Repeat("x", 1000))))
	after := applyChecked(t, st, m.ID, load(t, st, m.ID), session.Update{
		Commands: prepare(t, set("b", "x"), inc("a", 2)), Expires: later(),
	})
	want := normalize(t, map[string]any{"a": 3, "b": "x", "big": strings.Repeat("x", 1000)})
	if !sameUser(after, want) {
		t.Errorf("the reference semantics give %s; the suite expects %s", showUser(after), showUser(want))
	}
}

// testTouch: Apply without commands only moves expires, and returns the
// reserved fields alone.
func testTouch(t *testing.T, st session.Store) {
	m := newMeta(t, liveFor)
	create(t, st, m, prepare(t, set("a", 1)))
	doc := applyChecked(t, st, m.ID, load(t, st, m.ID), session.Update{Expires: later()})
	if !session.Equal(doc["a"], int64(1)) {
		t.Errorf("the reference semantics lost a key: %s", showUser(doc))
	}
}

// testResults: what Create and Apply return, case by case: a touched key
// with its whole value after the step (a dotted path returns its whole
// top-level key), a removed key absent, a Rename's source and target,
// OpTake's value before the step, and no untouched key.
func testResults(t *testing.T, st session.Store) {
	start := prepare(t, set("keep", "untouched"), set("big", strings.Repeat("y", 4096)),
		set("p", map[string]any{"x": 1, "y": 2}), set("gone", true), set("old", "value"),
		set("flash", "once"), set("l", []any{1, 2, 3}))
	for _, c := range []struct {
		name string
		cmds []session.Command
	}{
		{"Set", cs(set("a", 1))},
		{"SetDotted", cs(set("p.z", 3))},
		{"Unset", cs(unset("gone"))},
		{"UnsetDotted", cs(unset("p.x"))},
		{"UnsetMissing", cs(unset("missing"))},
		{"Rename", cs(rename("old", "new"))},
		{"RenameDotted", cs(rename("p.x", "q.x"))},
		{"RenameMissing", cs(rename("missing", "keep2"))},
		{"Take", cs(take("flash"))},
		{"TakeDotted", cs(take("p.y"))},
		{"TakeMissing", cs(take("missing"))},
		{"PushLast", cs(pushLast("l", 2, 4))},
		{"Several", cs(set("a", 1), inc("p.n", 2), unset("gone"), pop("l", -1))},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMeta(t, liveFor)
			create(t, st, m, start)
			applyChecked(t, st, m.ID, load(t, st, m.ID), session.Update{Commands: prepare(t, c.cmds...), Expires: later()})
			// The same batch as a new session's first step, but for Take,
			// which the session never sends to a new session.
			if !slices.ContainsFunc(c.cmds, func(c session.Command) bool { return c.Op == session.OpTake }) {
				create(t, st, newMeta(t, liveFor), append(append([]session.Command(nil), start[:1]...), prepare(t, c.cmds...)...))
			}
		})
	}
}

// testLoadKeys: Load with keys returns the reserved fields and the named
// top-level keys that exist, and nothing else; nil keys return the whole
// document; an empty, non-nil list returns the reserved fields alone.
func testLoadKeys(t *testing.T, st session.Store) {
	m := newMeta(t, liveFor)
	m.UserID, m.Label = "load-keys-user", "a label"
	create(t, st, m, prepare(t, set("a", 1), set("b", map[string]any{"c": "d"}),
		set("big", strings.Repeat("z", 8192)), set("null", nil)))
	whole := load(t, st, m.ID)
	for _, keys := range [][]string{
		{"a"}, {"b", "null"}, {"missing"}, {"a", "missing", "a"}, {}, {"a", "b", "big", "null"},
	} {
		got, err := st.Load(context.Background(), m.ID, keys)
		if err != nil {
			t.Errorf("Load(%q): %v", keys, err)
			continue
		}
		want := session.LoadResult(whole, keys) // an empty list: the reserved fields alone
		checkWhole(t, "Load("+quoteKeys(keys)+")", got, want)
	}
	checkWhole(t, "Load(nil)", whole, session.LoadResult(whole, nil))
	if _, err := st.Load(context.Background(), newID(t), []string{"a"}); !errorIs(err, session.ErrNotFound) {
		t.Errorf("Load with keys of a missing session: %v; want session.ErrNotFound", err)
	}
}

// withKey returns doc with key k set to v.
func withKey(doc session.Doc, k string, v any) session.Doc {
	doc[k] = v
	return doc
}

func quoteKeys(keys []string) string {
	if keys == nil {
		return "nil"
	}
	return "[" + strings.Join(keys, ", ") + "]"
}

// testFetch: the Fetch keys, or every key with FetchAll, come back with
// the touched ones, as they are after the step; a fetched key that does not
// exist is absent.
func testFetch(t *testing.T, st session.Store) {
	for _, c := range []struct {
		name string
		u    session.Update
	}{
		{"Keys", session.Update{Commands: cs(set("a", 2)), Fetch: []string{"b", "p"}}},
		{"Missing", session.Update{Commands: cs(set("a", 2)), Fetch: []string{"missing"}}},
		{"Touched", session.Update{Commands: cs(inc("n", 1)), Fetch: []string{"n", "b"}}},
		{"Removed", session.Update{Commands: cs(unset("b")), Fetch: []string{"b"}}},
		{"WithoutCommands", session.Update{Fetch: []string{"b"}}},
		{"All", session.Update{Commands: cs(set("a", 2), unset("b")), FetchAll: true}},
		{"AllWithoutCommands", session.Update{FetchAll: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := prepare(t, set("a", 1), set("b", "bee"), set("p", map[string]any{"q": 1}), set("n", 5))
			m := newMeta(t, liveFor)
			create(t, st, m, start)
			u := c.u
			u.Commands, u.Expires = prepare(t, u.Commands...), later()
			applyChecked(t, st, m.ID, load(t, st, m.ID), u)
			// Create with Fetch returns the fetched keys of the new session.
			first := session.Update{Commands: append(append([]session.Command(nil), start...), u.Commands...), Fetch: u.Fetch, FetchAll: u.FetchAll}
			if !overlapping(first.Commands) {
				createU(t, st, newMeta(t, liveFor), first)
			}
		})
	}
}

// overlapping reports whether two of cmds have overlapping paths, which
// one Update never holds.
func overlapping(cmds []session.Command) bool {
	for i, c := range cmds {
		if overlapsAny(c, cmds[:i]) {
			return true
		}
	}
	return false
}

// testMaxAge: Update.MaxAge is the session's new lifetime: the result and
// Load show it, and a later Update without MaxAge keeps it. Create honours
// it too.
func testMaxAge(t *testing.T, st session.Store) {
	m := newMeta(t, liveFor)
	create(t, st, m, prepare(t, set("a", 1)))
	doc := load(t, st, m.ID)
	for _, u := range []session.Update{
		{Commands: prepare(t, set("remember", true)), MaxAge: 30 * 24 * time.Hour},
		{Commands: prepare(t, inc("a", 1))},                                // keeps the new maxAge
		{Commands: prepare(t, take("remember")), MaxAge: 45 * time.Minute}, // a Take's result has the reserved fields after the step
		{MaxAge: 90 * time.Minute},                                         // SetMaxAge alone
	} {
		u.Expires = later()
		doc = applyChecked(t, st, m.ID, doc, u)
	}
	if got, _ := session.MetaOf(load(t, st, m.ID)); got.MaxAge != 90*time.Minute {
		t.Errorf("Load: maxAge %v; want 1h30m0s", got.MaxAge)
	}
	createU(t, st, newMeta(t, liveFor), session.Update{Commands: prepare(t, set("a", 1)), MaxAge: 2 * liveFor})
}

// testLabel: Update.Label is the session's new label (FieldLabel): the
// result and Load show it, and a later Update without Label keeps it; a
// label given to Create in its Meta or its Update is stored.
func testLabel(t *testing.T, st session.Store) {
	m := newMeta(t, liveFor)
	m.Label = "first device"
	create(t, st, m, nil)
	doc := load(t, st, m.ID)
	for _, u := range []session.Update{
		{Label: "Firefox on Linux"},
		{Commands: prepare(t, set("a", 1))}, // keeps the label
		{Commands: prepare(t, set("b", 1)), Label: "Safari on iPhone ✓"},
		{Commands: prepare(t, take("b")), Label: "taken"},
	} {
		u.Expires = later()
		doc = applyChecked(t, st, m.ID, doc, u)
	}
	unlabelled := newMeta(t, liveFor)
	createU(t, st, unlabelled, session.Update{Commands: prepare(t, set("a", 1)), Label: "from the update"})
	checkWhole(t, "Load of a session labelled by Create's Update", load(t, st, unlabelled.ID),
		withKey(session.Meta{ID: unlabelled.ID, Expires: unlabelled.Expires, Created: unlabelled.Created,
			MaxAge: unlabelled.MaxAge, Label: "from the update"}.Doc(), "a", int64(1)))
}

// testUserID: a session created with Meta.UserID carries it (FieldUserID)
// in Load and in every result, and no Update changes it.
func testUserID(t *testing.T, st session.Store) {
	m := newMeta(t, liveFor)
	m.UserID = "user-" + newID(t)[:8]
	create(t, st, m, prepare(t, set("a", 1)))
	doc := load(t, st, m.ID)
	doc = applyChecked(t, st, m.ID, doc, session.Update{Commands: prepare(t, set("b", 2)), Expires: later(), Label: "x"})
	if got, _ := session.MetaOf(doc); got.UserID != m.UserID {
		t.Errorf("the reference lost the user: %s", show(doc))
	}
	unbound := newMeta(t, liveFor)
	create(t, st, unbound, nil)
	if _, ok := load(t, st, unbound.ID)[session.FieldUserID]; ok {
		t.Errorf("Load of a session created without a user holds %s", session.FieldUserID)
	}
}

// testFailedUpdate: an Update one of whose commands does not apply fails
// with session.ErrTypeMismatch (best as a *session.CommandError naming
// the command) and changes nothing: no command lands, and neither expires,
// maxAge nor the label moves.
func testFailedUpdate(t *testing.T, st session.Store) {
	m := newMeta(t, liveFor)
	m.Label = "before"
	create(t, st, m, prepare(t, set("s", "x"), set("n", 1)))
	want := load(t, st, m.ID).Clone()
	for _, bad := range []int{0, 1, 2} {
		cmds := prepare(t, set("a", 1), inc("n", 1), push("l", 1))
		cmds[bad] = prepare(t, inc("s", 1))[0]
		u := session.Update{Commands: cmds, Expires: later(), MaxAge: 5 * time.Hour, Label: "after"}
		doc, err := st.Apply(context.Background(), m.ID, u)
		checkCommandError(t, "Apply("+showUpdate(u)+")", doc, err, bad)
		checkUnchanged(t, st, m.ID, want, "after the failed Apply")
	}
}

// checkCommandError checks that err, from a batch whose command bad does not
// apply, wraps session.ErrTypeMismatch, and if it is a *session.CommandError
// that its Index is bad. A store whose error does not say which command
// failed passes, with a note: the session then finds it by splitting the
// batch, which costs round trips.
func checkCommandError(t testing.TB, label string, doc session.Doc, err error, bad int) {
	t.Helper()
	if !errorIs(err, session.ErrTypeMismatch) {
		t.Errorf("%s = %s, %v; want an error wrapping session.ErrTypeMismatch", label, show(doc), err)
		return
	}
	var ce *session.CommandError
	switch {
	case !errors.As(err, &ce):
		t.Logf("%s: %v is not a *session.CommandError; allowed, but the session must split the batch to find the failing command", label, err)
	case ce.Index != bad:
		t.Errorf("%s: CommandError.Index = %d; want %d, the command that does not apply", label, ce.Index, bad)
	}
}

// testApplyMissing: Apply on an id that was never created gives
// ErrNotFound and does not create it (no upsert), with or without commands.
func testApplyMissing(t *testing.T, st session.Store) {
	id := newID(t)
	wantApplyNotFound(t, st, id, "never created")
	doc, err := st.Apply(context.Background(), id, session.Update{Expires: later(), FetchAll: true})
	if !errorIs(err, session.ErrNotFound) {
		t.Errorf("Apply without commands on a missing session = %s, %v; want session.ErrNotFound", show(doc), err)
	}
	wantNotFound(t, st, id, "after Apply without commands")
	doc, err = st.Apply(context.Background(), id, session.Update{Commands: prepare(t, take("a")), Expires: later()})
	if !errorIs(err, session.ErrNotFound) {
		t.Errorf("Take on a missing session = %s, %v; want session.ErrNotFound", show(doc), err)
	}
	wantNotFound(t, st, id, "after Take")
}

// testDelete: a deleted session is gone for Load and Apply, and Apply does
// not bring it back.
func testDelete(t *testing.T, st session.Store) {
	m := newMeta(t, liveFor)
	create(t, st, m, prepare(t, set("a", 1)))
	if err := st.Delete(context.Background(), m.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, st, m.ID, "after Delete")
	wantApplyNotFound(t, st, m.ID, "after Delete")
	if err := st.Delete(context.Background(), m.ID); err != nil {
		t.Errorf("second Delete: %v; want nil", err)
	}
}

// testDeleteMissing: Delete of an id that never existed is a no-op.
func testDeleteMissing(t *testing.T, st session.Store) {
	if err := st.Delete(context.Background(), newID(t)); err != nil {
		t.Errorf("Delete of a missing session: %v; want nil", err)
	}
}

// testIndependent: commands on one session leave another alone.
func testIndependent(t *testing.T, st session.Store) {
	a, b := newMeta(t, liveFor), newMeta(t, liveFor)
	create(t, st, a, prepare(t, set("k", "a")))
	create(t, st, b, prepare(t, set("k", "b")))
	docB := load(t, st, b.ID)
	apply(t, st, a.ID, later(), prepare(t, set("k", "changed"), set("only", true)))
	if err := st.Delete(context.Background(), a.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	checkWhole(t, "Load of the other session", load(t, st, b.ID), docB)
}

// testIsolation: changing a document the store returned, or a value a
// command carried, does not change the stored session.
func testIsolation(t *testing.T, st session.Store) {
	m := newMeta(t, liveFor)
	nested := map[string]any{"list": []any{int64(1)}, "inner": map[string]any{"x": "y"}}
	cmds := prepare(t, set("m", nested), push("l", map[string]any{"k": "v"}))
	created := create(t, st, m, cmds)
	want := load(t, st, m.ID).Clone() // a copy: a store that shares its document must not change want too

	mutateValues(nested)
	for _, c := range cmds {
		mutateValues(c.Value)
		for _, v := range c.Values {
			mutateValues(v)
		}
	}
	checkUnchanged(t, st, m.ID, want, "after changing the commands' values")

	partial, err := st.Load(context.Background(), m.ID, []string{"m"})
	if err != nil {
		t.Fatalf("Load(m): %v", err)
	}
	for _, doc := range []session.Doc{
		created, load(t, st, m.ID), partial,
		applyU(t, st, m.ID, session.Update{Expires: m.Expires, FetchAll: true}),
		applyU(t, st, m.ID, session.Update{Commands: prepare(t, set("other", 1)), Expires: m.Expires, Fetch: []string{"m", "l"}}),
	} {
		mutateValues(map[string]any(doc))
	}
	want["other"] = int64(1)
	checkUnchanged(t, st, m.ID, want, "after changing returned documents")
}

// mutateValues changes every map and slice reachable from v in place.
func mutateValues(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			mutateValues(e)
			if k != session.FieldID {
				x[k] = "mutated"
			}
		}
		x["added"] = "mutated"
	case []any:
		for i, e := range x {
			mutateValues(e)
			x[i] = "mutated"
		}
	}
}

// checkUnchanged checks that session id still holds want, reserved fields
// included.
func checkUnchanged(t *testing.T, st session.Store, id string, want session.Doc, when string) {
	t.Helper()
	got := load(t, st, id)
	if d := exactDiff("doc", map[string]any(want.User()), map[string]any(got.User())); d != "" {
		t.Errorf("%s: the stored session changed: %s", when, d)
	}
	wm, err := session.MetaOf(want)
	if err != nil {
		t.Fatalf("reserved fields: %v", err)
	}
	checkMeta(t, when, got, wm)
}
