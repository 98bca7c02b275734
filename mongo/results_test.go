package mongo_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/mongo"
	"github.com/atomicsession/atomicsession/session"
)

func TestLoadKeysReturnsReservedFieldsAndNamedKeys(t *testing.T) {
	f := newFixture(t)
	m, _ := f.create(t, set("a", "x"), set("b", int64(2)), set("c", map[string]any{"d": true}))
	cases := []struct {
		keys []string
		want map[string]any
	}{
		{[]string{"a", "missing", "c"}, map[string]any{"a": "x", "c": map[string]any{"d": true}}},
		{[]string{}, map[string]any{}},
		{[]string{"b", "b"}, map[string]any{"b": int64(2)}},
		// Names that cannot be top-level keys are absent, as in the
		// reference store, and never project part of a key.
		{[]string{"c.d", "$x", "_id", "expires"}, map[string]any{}},
	}
	for _, tc := range cases {
		f.rec.reset()
		doc, err := f.store.Load(context.Background(), m.ID, tc.keys)
		if err != nil {
			t.Fatalf("Load(%q): %v", tc.keys, err)
		}
		want := m.Doc()
		for k, v := range tc.want {
			want[k] = v
		}
		if !reflect.DeepEqual(doc, want) {
			t.Errorf("Load(%q) = %#v, want %#v", tc.keys, doc, want)
		}
		if cmds := f.rec.take(); len(cmds) != 1 || cmds[0].name != "find" || cmds[0].body.Lookup("projection").Type == 0 {
			t.Errorf("Load(%q) sent %v, want one find with a projection", tc.keys, cmds)
		}
	}
	f.rec.reset()
	if doc, err := f.store.Load(context.Background(), m.ID, nil); err != nil || len(doc.User()) != 3 {
		t.Fatalf("Load(nil) = %v, %v; want every key", doc, err)
	}
	if cmds := f.rec.take(); len(cmds) != 1 || cmds[0].body.Lookup("projection").Type != 0 {
		t.Errorf("Load(nil) sent %v, want one find without a projection", cmds)
	}
}

func TestApplyReturnsTouchedKeysOnly(t *testing.T) {
	f := newFixture(t)
	m, _ := f.create(t, set("a", "x"), set("b", int64(2)), set("c", "moved"), set("cart", map[string]any{"n": int64(1), "other": "kept"}), set("keep", "untouched"), set("fetched", "me"))
	later := m.Expires.Add(time.Minute)
	u := upd(later, set("a", "y"), unset("b"), rename("c", "d"), inc("cart.n", int64(1)))
	u.Fetch = []string{"fetched", "nothing"}
	f.rec.reset()
	doc, err := f.store.Apply(context.Background(), m.ID, u)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	m.Expires = later
	want := m.Doc()
	want["a"] = "y"
	want["d"] = "moved"
	want["cart"] = map[string]any{"n": int64(2), "other": "kept"}
	want["fetched"] = "me"
	if !reflect.DeepEqual(doc, want) {
		t.Fatalf("Apply returned %#v, want the touched and fetched keys and the reserved fields: %#v", doc, want)
	}
	if cmds := f.rec.take(); len(cmds) != 1 || cmds[0].name != "findAndModify" {
		t.Fatalf("Apply sent %v, want one findAndModify", cmds)
	}
}

func TestApplyFetchAllReturnsEverything(t *testing.T) {
	f := newFixture(t)
	m, _ := f.create(t, set("a", "x"), set("b", int64(2)))
	u := upd(m.Expires, set("a", "y"))
	u.FetchAll = true
	doc, err := f.store.Apply(context.Background(), m.ID, u)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	want := m.Doc()
	want["a"] = "y"
	want["b"] = int64(2)
	if !reflect.DeepEqual(doc, want) {
		t.Fatalf("Apply with FetchAll = %#v, want %#v", doc, want)
	}
}

func TestCreateReturnsTouchedAndFetchedKeys(t *testing.T) {
	f := newFixture(t)
	m := f.meta()
	u := session.Update{Commands: []session.Command{set("a", "x"), unset("b")}, Fetch: []string{"c"}}
	doc, err := f.store.Create(context.Background(), m, u)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	want := m.Doc()
	want["a"] = "x"
	if !reflect.DeepEqual(doc, want) {
		t.Fatalf("Create = %#v, want %#v", doc, want)
	}
}

func TestMaxAgeAndLabelArePersisted(t *testing.T) {
	f := newFixture(t)
	m := f.meta()
	m.UserID = "user-1"
	u := session.Update{Commands: []session.Command{set("a", "x")}, MaxAge: 30 * 24 * time.Hour, Label: "phone"}
	created, err := f.store.Create(context.Background(), m, u)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	m.MaxAge, m.Label = u.MaxAge, u.Label
	if got, err := session.MetaOf(created); err != nil || got != m {
		t.Fatalf("Create's reserved fields = %+v, %v; want %+v", got, err, m)
	}
	raw := f.raw(t, m.ID)
	if raw["_user"] != "user-1" || raw["_label"] != "phone" || raw["maxAge"] != (30*24*time.Hour).Milliseconds() {
		t.Fatalf("stored reserved fields: %v", raw)
	}

	later := m.Expires.Add(time.Hour)
	applied, err := f.store.Apply(context.Background(), m.ID, session.Update{Expires: later, MaxAge: 2 * time.Hour, Label: "laptop"})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	m.Expires, m.MaxAge, m.Label = later, 2*time.Hour, "laptop"
	if got, err := session.MetaOf(applied); err != nil || got != m {
		t.Fatalf("Apply's reserved fields = %+v, %v; want %+v", got, err, m)
	}
	loaded, err := f.store.Load(context.Background(), m.ID, []string{})
	if got, err2 := session.MetaOf(loaded); err != nil || err2 != nil || got != m {
		t.Fatalf("Load's reserved fields = %+v, %v %v; want %+v", got, err, err2, m)
	}

	// Zero MaxAge and empty Label leave them as they are.
	applied, err = f.store.Apply(context.Background(), m.ID, session.Update{Expires: later})
	if got, err2 := session.MetaOf(applied); err != nil || err2 != nil || got != m {
		t.Fatalf("Apply without MaxAge and Label: %+v, %v %v; want %+v", got, err, err2, m)
	}
}

func TestOneFailingCommandIsACommandError(t *testing.T) {
	f := newFixture(t)
	m, _ := f.create(t, set("s", "text"))
	_, err := f.store.Apply(context.Background(), m.ID, upd(m.Expires, inc("s", int64(1))))
	var ce *session.CommandError
	if !errors.As(err, &ce) || ce.Index != 0 || !errors.Is(err, session.ErrTypeMismatch) {
		t.Fatalf("Apply of one failing command: err = %v, want a CommandError at 0 wrapping ErrTypeMismatch", err)
	}
	// Of several, MongoDB does not say which failed.
	_, err = f.store.Apply(context.Background(), m.ID, upd(m.Expires, set("ok", true), inc("s", int64(1))))
	if errors.As(err, &ce) || !errors.Is(err, session.ErrTypeMismatch) {
		t.Fatalf("Apply of a failing command among two: err = %v, want ErrTypeMismatch and no CommandError", err)
	}
}

// TestWritesAskForAProjection checks what a write asks of the server: a
// findAndModify whose fields are the reserved fields and the touched keys.
// On FerretDB 1.x, which answers NotImplemented, the store sends it again
// without fields, once: later writes go without.
func TestWritesAskForAProjection(t *testing.T) {
	srv := testServer(t)
	rec := &recorder{}
	client := connect(t, srv, rec, 0)
	store := mongo.NewStore(newCollection(t, client))
	t.Cleanup(func() { _ = store.Close() })
	f := &fixture{clock: newClock()}
	m := f.meta()
	rec.reset()
	if _, err := store.Create(context.Background(), m, session.Update{Commands: []session.Command{set("a", "x")}, Fetch: []string{"b"}}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	cmds := rec.take()
	if len(cmds) == 0 || cmds[0].name != "findAndModify" {
		t.Fatalf("Create sent %v, want a findAndModify", cmds)
	}
	var fields []string
	elems, err := cmds[0].body.Lookup("fields").Document().Elements()
	if err != nil {
		t.Fatalf("the first findAndModify has no fields: %v", err)
	}
	for _, e := range elems {
		fields = append(fields, e.Key())
	}
	if want := append(session.ReservedFields(), "a", "b"); !reflect.DeepEqual(fields, want) {
		t.Fatalf("findAndModify fields %v, want %v", fields, want)
	}
	if srv.ferret {
		if len(cmds) != 2 || cmds[1].body.Lookup("fields").Type != 0 {
			t.Fatalf("on FerretDB the store should resend without fields once: %v", cmds)
		}
		if _, err := store.Apply(context.Background(), m.ID, upd(m.Expires, set("a", "y"))); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if cmds := rec.take(); len(cmds) != 1 || cmds[0].body.Lookup("fields").Type != 0 {
			t.Fatalf("after the first answer, a write on FerretDB sent %v, want one findAndModify without fields", cmds)
		}
	} else if len(cmds) != 1 {
		t.Fatalf("Create sent %v, want one findAndModify", cmds)
	}
}
