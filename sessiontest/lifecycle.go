package sessiontest

import (
	"context"
	"testing"

	"github.com/atomicsession/atomicsession/session"
)

func (s *suite) lifecycleTests() []subtest {
	return []subtest{
		{"Create", testCreate},
		{"CreateWithCommands", testCreateWithCommands},
		{"CreateConflict", testCreateConflict},
		{"Apply", testApply},
		{"Touch", testTouch},
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
	create(t, st, m, nil)
	want := load(t, st, m.ID).Clone()
	for _, c := range []session.Command{
		set(session.FieldSecret, "attacker's"),
		set(session.FieldExpires+".x", int64(1)),
		unset(session.FieldCreated),
		inc(session.FieldMaxAge, int64(1)),
		rename("a", session.FieldID),
	} {
		doc, err := st.Apply(ctx, m.ID, m.Expires, []session.Command{c})
		if !errorIs(err, session.ErrReservedKey) {
			t.Errorf("Apply(%s) = %s, %v; want session.ErrReservedKey", c, show(doc), err)
		}
		checkUnchanged(t, st, m.ID, want, "after Apply("+c.String()+")")
		other := newMeta(t, liveFor)
		if doc, err := st.Create(ctx, other, []session.Command{c}); !errorIs(err, session.ErrReservedKey) {
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
	checkMeta(t, "Create", doc, m)
	if u := doc.User(); len(u) != 0 {
		t.Errorf("Create: user keys %s; want none", show(u))
	}
	got := load(t, st, m.ID)
	checkMeta(t, "Load", got, m)
	if u := got.User(); len(u) != 0 {
		t.Errorf("Load: user keys %s; want none", show(u))
	}
}

// testCreateWithCommands: Create applies its first batch, as the reference
// semantics do, and Load returns the same document.
func testCreateWithCommands(t *testing.T, st session.Store) {
	m := newMeta(t, liveFor)
	cmds := prepare(t, set("msg", "hi"), set("cart.items", []any{"apple"}), inc("views", 1),
		push("log", "a", "b"), addToSet("tags", "x", "x"), unset("nothing"))
	want := normalize(t, map[string]any{
		"msg": "hi", "cart": map[string]any{"items": []any{"apple"}}, "views": 1,
		"log": []any{"a", "b"}, "tags": []any{"x"},
	})
	ref, err := session.ApplyCommands(m.Doc(), cmds)
	if err != nil {
		t.Fatalf("reference ApplyCommands(%s): %v", showCommands(cmds), err)
	}
	if !sameUser(ref, want) {
		t.Errorf("the reference semantics (session.ApplyCommands) give %s; the suite expects %s", showUser(ref), showUser(want))
	}
	doc := create(t, st, m, cmds)
	checkMeta(t, "Create", doc, m)
	if !sameUser(doc, ref) {
		t.Errorf("Create: user keys %s; want %s", showUser(doc), showUser(ref))
	}
	got := load(t, st, m.ID)
	checkMeta(t, "Load", got, m)
	if !sameUser(got, ref) {
		t.Errorf("Load: user keys %s; want %s", showUser(got), showUser(ref))
	}
}

// testCreateConflict: Create of an id that exists fails with ErrConflict
// and leaves the existing session as it was.
func testCreateConflict(t *testing.T, st session.Store) {
	m := newMeta(t, liveFor)
	first := create(t, st, m, prepare(t, set("a", 1)))
	again := newMeta(t, 2*liveFor)
	again.ID = m.ID
	doc, err := st.Create(context.Background(), again, prepare(t, set("a", 2), set("b", 3)))
	if !errorIs(err, session.ErrConflict) {
		t.Fatalf("second Create of %s = %s, %v; want an error wrapping session.ErrConflict", m.ID, show(doc), err)
	}
	got := load(t, st, m.ID)
	checkMeta(t, "Load after the conflict", got, m)
	if !sameUser(got, first) {
		t.Errorf("Load after the conflict: user keys %s; want %s", showUser(got), showUser(first))
	}
}

// testApply: Apply changes user keys, moves expires to the given time, and
// keeps the other reserved fields.
func testApply(t *testing.T, st session.Store) {
	m := newMeta(t, liveFor)
	create(t, st, m, prepare(t, set("a", 1)))
	exp := later()
	doc := apply(t, st, m.ID, exp, prepare(t, set("b", "x"), inc("a", 2)))
	moved := m
	moved.Expires = exp
	checkMeta(t, "Apply", doc, moved)
	want := normalize(t, map[string]any{"a": 3, "b": "x"})
	if !sameUser(doc, want) {
		t.Errorf("Apply: user keys %s; want %s", showUser(doc), showUser(want))
	}
	got := load(t, st, m.ID)
	checkMeta(t, "Load", got, moved)
	if !sameUser(got, want) {
		t.Errorf("Load: user keys %s; want %s", showUser(got), showUser(want))
	}
}

// testTouch: Apply without commands only moves expires.
func testTouch(t *testing.T, st session.Store) {
	m := newMeta(t, liveFor)
	first := create(t, st, m, prepare(t, set("a", 1)))
	exp := later()
	doc := apply(t, st, m.ID, exp, nil)
	moved := m
	moved.Expires = exp
	checkMeta(t, "Apply without commands", doc, moved)
	checkMeta(t, "Load", load(t, st, m.ID), moved)
	if !sameUser(doc, first) {
		t.Errorf("Apply without commands: user keys %s; want %s", showUser(doc), showUser(first))
	}
}

// testApplyMissing: Apply on an id that was never created gives
// ErrNotFound and does not create it (no upsert), with or without commands.
func testApplyMissing(t *testing.T, st session.Store) {
	id := newID(t)
	wantApplyNotFound(t, st, id, "never created")
	doc, err := st.Apply(context.Background(), id, later(), nil)
	if !errorIs(err, session.ErrNotFound) {
		t.Errorf("Apply without commands on a missing session = %s, %v; want session.ErrNotFound", show(doc), err)
	}
	wantNotFound(t, st, id, "after Apply without commands")
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
	docB := create(t, st, b, prepare(t, set("k", "b")))
	apply(t, st, a.ID, later(), prepare(t, set("k", "changed"), set("only", true)))
	if err := st.Delete(context.Background(), a.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	got := load(t, st, b.ID)
	checkMeta(t, "Load of the other session", got, b)
	if !sameUser(got, docB) {
		t.Errorf("Load of the other session: user keys %s; want %s", showUser(got), showUser(docB))
	}
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

	for _, doc := range []session.Doc{created, load(t, st, m.ID), apply(t, st, m.ID, m.Expires, nil)} {
		mutateValues(map[string]any(doc))
	}
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
