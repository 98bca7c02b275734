package mongo_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/atomicsession/atomicsession/mongo"
	"github.com/atomicsession/atomicsession/session"
)

func TestCreateStoresReservedFields(t *testing.T) {
	f := newFixture(t)
	m, doc := f.create(t)
	want := m.Doc()
	if !reflect.DeepEqual(doc, want) {
		t.Fatalf("Create returned %#v, want %#v", doc, want)
	}
	loaded, err := f.store.Load(context.Background(), m.ID, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(loaded, want) {
		t.Fatalf("Load returned %#v, want %#v", loaded, want)
	}
	got, err := session.MetaOf(loaded)
	if err != nil || got != m {
		t.Fatalf("MetaOf(Load) = %+v, %v; want %+v", got, err, m)
	}
	raw := f.raw(t, m.ID)
	if _, ok := raw["expires"].(bson.DateTime); !ok {
		t.Errorf("expires stored as %T, want a BSON date", raw["expires"])
	}
	if _, ok := raw["created"].(bson.DateTime); !ok {
		t.Errorf("created stored as %T, want a BSON date", raw["created"])
	}
	if v, ok := raw["maxAge"].(int64); !ok || v != time.Hour.Milliseconds() {
		t.Errorf("maxAge stored as %T %v, want int64 %d", raw["maxAge"], raw["maxAge"], time.Hour.Milliseconds())
	}
}

func TestCreateAppliesFirstBatchInOneRoundTrip(t *testing.T) {
	f := newFixture(t)
	f.rec.reset()
	m, doc := f.create(t, set("msg", "hi"), inc("n", int64(2)), push("list", "a", "b"), set("cart.items", int64(3)))
	cmds := f.rec.take()
	if len(cmds) != 1 {
		t.Fatalf("Create sent %d commands %v, want 1", len(cmds), cmds)
	}
	want := m.Doc()
	want["msg"] = "hi"
	want["n"] = int64(2)
	want["list"] = []any{"a", "b"}
	want["cart"] = map[string]any{"items": int64(3)}
	if !reflect.DeepEqual(doc, want) {
		t.Fatalf("Create returned %#v, want %#v", doc, want)
	}
}

func TestCreateExistingIDConflicts(t *testing.T) {
	f := newFixture(t)
	m, before := f.create(t, set("owner", "first"))
	for _, cmds := range [][]session.Command{nil, {set("owner", "second"), set("extra", true)}} {
		m2 := f.meta()
		m2.ID = m.ID
		_, err := f.store.Create(context.Background(), m2, session.Update{Commands: cmds})
		if !errors.Is(err, session.ErrConflict) {
			t.Fatalf("Create of an existing id with %d commands: err = %v, want ErrConflict", len(cmds), err)
		}
	}
	after, err := f.store.Load(context.Background(), m.ID, nil)
	if err != nil || !reflect.DeepEqual(after, before) {
		t.Fatalf("after conflicting Creates: %#v, %v; want it unchanged: %#v", after, err, before)
	}
}

func TestCreateExpiredIDConflicts(t *testing.T) {
	f := newFixture(t)
	m, _ := f.create(t)
	f.clock.Advance(2 * time.Hour)
	m2 := f.meta()
	m2.ID = m.ID
	if _, err := f.store.Create(context.Background(), m2, session.Update{Commands: []session.Command{set("a", int64(1))}}); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("Create over an expired, unswept session: err = %v, want ErrConflict", err)
	}
	if raw := f.raw(t, m.ID); raw["a"] != nil {
		t.Fatalf("conflicting Create merged into the old document: %v", raw)
	}
}

func TestCreateRaceOneWins(t *testing.T) {
	f := newFixture(t)
	m := f.meta()
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.store.Create(context.Background(), m, session.Update{Commands: []session.Command{set("winner", int64(i))}})
		}()
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, session.ErrConflict):
			t.Errorf("Create %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent Creates of one id succeeded, want 1", wins, n)
	}
}

// bigDoc has enough keys that, written in Go's random map order, it would
// almost never be stored in the order of a later operand: MongoDB compares
// documents field by field in order, so the store sorts the keys.
var bigDoc = map[string]any{"a": int64(1), "b": "2", "c": 3.5, "d": true, "e": nil, "f": map[string]any{"y": int64(1), "x": int64(2), "z": int64(3)}, "g": "g", "h": "h"}

func TestApplyOperators(t *testing.T) {
	f := newFixture(t)
	initial := []session.Command{
		set("s", "x"), set("n", int64(1)), set("fl", 1.5), set("arr", []any{int64(1), int64(2), int64(3), int64(2)}),
		set("doc", map[string]any{"a": int64(1), "b": map[string]any{"c": "d"}}),
		set("objs", []any{map[string]any{"a": int64(1), "b": int64(2)}, map[string]any{"a": int64(1)}, bigDoc}),
		set("old", "moved"),
	}
	cases := []struct {
		name string
		cmd  session.Command
		key  string
		want any // nil: the key is absent
	}{
		{"set replaces", set("s", "y"), "s", "y"},
		{"set creates sub-documents", set("new.deep.key", true), "new", map[string]any{"deep": map[string]any{"key": true}}},
		{"set nested path", set("doc.b.c", "e"), "doc", map[string]any{"a": int64(1), "b": map[string]any{"c": "e"}}},
		{"unset", unset("s"), "s", nil},
		{"unset missing is a no-op", unset("nope.deeper"), "nope", nil},
		{"inc int", inc("n", int64(41)), "n", int64(42)},
		{"inc float", inc("fl", 0.25), "fl", 1.75},
		{"inc int by float", inc("n", 0.5), "n", 1.5},
		{"inc missing", inc("counter", int64(5)), "counter", int64(5)},
		{"push each", push("arr", "x", nil), "arr", []any{int64(1), int64(2), int64(3), int64(2), "x", nil}},
		{"push creates", push("fresh", int64(1)), "fresh", []any{int64(1)}},
		{"pull removes all equal", pull("arr", int64(2)), "arr", []any{int64(1), int64(3)}},
		{"pull document is exact, not a query", pull("objs", map[string]any{"a": int64(1)}), "objs", []any{map[string]any{"a": int64(1), "b": int64(2)}, bigDoc}},
		{"pull document with many keys", pull("objs", bigDoc), "objs", []any{map[string]any{"a": int64(1), "b": int64(2)}, map[string]any{"a": int64(1)}}},
		{"addToSet equal document", addToSet("objs", bigDoc), "objs", []any{map[string]any{"a": int64(1), "b": int64(2)}, map[string]any{"a": int64(1)}, bigDoc}},
		{"pullAll", pullAll("arr", int64(1), int64(3)), "arr", []any{int64(2), int64(2)}},
		{"addToSet", addToSet("arr", int64(3), int64(4), int64(4)), "arr", []any{int64(1), int64(2), int64(3), int64(2), int64(4)}},
		{"pop last", pop("arr", 1), "arr", []any{int64(1), int64(2), int64(3)}},
		{"pop first", pop("arr", -1), "arr", []any{int64(2), int64(3), int64(2)}},
		{"rename", rename("old", "renamed.to"), "renamed", map[string]any{"to": "moved"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := f.create(t, initial...)
			expires := f.clock.Now().Add(2 * time.Hour)
			f.rec.reset()
			doc, err := f.store.Apply(context.Background(), m.ID, upd(expires, tc.cmd))
			if err != nil {
				t.Fatalf("Apply(%s): %v", tc.cmd, err)
			}
			if n := len(f.rec.take()); n != 1 {
				t.Errorf("Apply sent %d commands, want 1", n)
			}
			got, ok := doc[tc.key]
			if tc.want == nil && ok {
				t.Fatalf("after %s, %q = %#v, want absent", tc.cmd, tc.key, got)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("after %s, %q = %#v, want %#v", tc.cmd, tc.key, got, tc.want)
			}
			if !doc["expires"].(time.Time).Equal(expires) {
				t.Errorf("expires = %v, want %v", doc["expires"], expires)
			}
			if tc.cmd.Op == session.OpRename {
				if _, ok := doc["old"]; ok {
					t.Errorf("rename kept its source: %#v", doc)
				}
			}
			touched := session.TouchedKeys([]session.Command{tc.cmd})
			for k := range doc.User() {
				if !slices.Contains(touched, k) {
					t.Errorf("Apply(%s) returned untouched key %q", tc.cmd, k)
				}
			}
			loaded, err := f.store.Load(context.Background(), m.ID, touched)
			if err != nil || !reflect.DeepEqual(loaded, doc) {
				t.Fatalf("Load(%q) after Apply = %#v, %v; want what Apply returned: %#v", touched, loaded, err, doc)
			}
		})
	}
}

func TestApplyBatchIsOneRoundTrip(t *testing.T) {
	f := newFixture(t)
	m, _ := f.create(t, set("arr", []any{int64(1), int64(2)}), set("arr2", []any{int64(1), int64(2)}), set("old", int64(7)), set("gone", true), set("untouched", "not returned"))
	batch := []session.Command{
		set("a", "x"), inc("n", int64(1)), push("arr", int64(3)), pull("arr2", int64(1)),
		unset("gone"), rename("old", "new"), addToSet("tags", "t"),
	}
	f.rec.reset()
	doc, err := f.store.Apply(context.Background(), m.ID, upd(m.Expires, batch...))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	cmds := f.rec.take()
	if len(cmds) != 1 || cmds[0].name != "findAndModify" {
		t.Fatalf("Apply of %d commands sent %v, want one findAndModify", len(batch), cmds)
	}
	want := m.Doc()
	want["a"] = "x"
	want["n"] = int64(1)
	want["arr"] = []any{int64(1), int64(2), int64(3)}
	want["arr2"] = []any{int64(2)}
	want["new"] = int64(7)
	want["tags"] = []any{"t"}
	if !reflect.DeepEqual(doc, want) {
		t.Fatalf("Apply returned %#v, want %#v", doc, want)
	}
}

func TestApplyTouchMovesExpiresOnly(t *testing.T) {
	f := newFixture(t)
	m, _ := f.create(t, set("k", "v"))
	later := m.Expires.Add(30 * time.Minute)
	doc, err := f.store.Apply(context.Background(), m.ID, upd(later))
	if err != nil {
		t.Fatalf("Apply with no commands: %v", err)
	}
	m.Expires = later
	if want := m.Doc(); !reflect.DeepEqual(doc, want) {
		t.Fatalf("touch returned %#v, want the reserved fields only: %#v", doc, want)
	}
	if loaded, err := f.store.Load(context.Background(), m.ID, nil); err != nil || loaded["k"] != "v" || !loaded["expires"].(time.Time).Equal(later) {
		t.Fatalf("Load after touch = %#v, %v", loaded, err)
	}
}

func TestApplyTypeMismatchChangesNothing(t *testing.T) {
	f := newFixture(t)
	m, before := f.create(t, set("s", "text"), set("n", int64(9223372036854775807)), set("arr", []any{int64(1)}))
	cases := []session.Command{
		inc("s", int64(1)),
		push("s", "x"),
		addToSet("s", "x"),
		pull("s", "x"),
		pullAll("s", "x"),
		pop("s", 1),
		set("s.deeper", int64(1)),
		set("arr.key", int64(1)),
		inc("n", int64(1)), // past the int64 range
	}
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			later := m.Expires.Add(time.Hour)
			// The failing command goes with a good one: neither may apply.
			_, err := f.store.Apply(context.Background(), m.ID, upd(later, set("other", true), c))
			if !errors.Is(err, session.ErrTypeMismatch) {
				t.Fatalf("Apply(%s): err = %v, want ErrTypeMismatch", c, err)
			}
			after, err := f.store.Load(context.Background(), m.ID, nil)
			if err != nil || !reflect.DeepEqual(after, before) {
				t.Fatalf("after failed %s: %#v, %v; want unchanged %#v", c, after, err, before)
			}
		})
	}
}

func TestApplyOverlappingPathsConflict(t *testing.T) {
	// The session never sends overlapping paths in one batch; if a caller
	// does, the server refuses and the store says ErrConflict.
	f := newFixture(t)
	m, _ := f.create(t)
	_, err := f.store.Apply(context.Background(), m.ID, upd(m.Expires, set("a", int64(1)), set("a.b", int64(2))))
	if !errors.Is(err, session.ErrConflict) {
		t.Fatalf("Apply of overlapping paths: err = %v, want ErrConflict", err)
	}
}

func TestApplyNeverUpsertsDeletedSession(t *testing.T) {
	f := newFixture(t)
	m, _ := f.create(t, set("k", "v"))
	if err := f.store.Delete(context.Background(), m.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := f.store.Apply(context.Background(), m.ID, upd(m.Expires, set("k", "again")))
	if !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Apply on a deleted session: err = %v, want ErrNotFound", err)
	}
	if _, err := f.store.Apply(context.Background(), m.ID, upd(m.Expires)); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("touch of a deleted session: err = %v, want ErrNotFound", err)
	}
	if n := f.count(t); n != 0 {
		t.Fatalf("collection holds %d documents after Apply on a deleted session, want 0 (no upsert)", n)
	}
}

func TestExpiredSessionNeverReturned(t *testing.T) {
	f := newFixture(t)
	m, before := f.create(t, set("k", "v"))
	f.clock.Advance(time.Hour) // expires == now: expired
	if _, err := f.store.Load(context.Background(), m.ID, nil); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Load of an expired session: err = %v, want ErrNotFound", err)
	}
	_, err := f.store.Apply(context.Background(), m.ID, upd(f.clock.Now().Add(time.Hour), set("k", "w")))
	if !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Apply on an expired session: err = %v, want ErrNotFound", err)
	}
	raw := f.raw(t, m.ID)
	if raw == nil || raw["k"] != "v" || !raw["expires"].(bson.DateTime).Time().Equal(before["expires"].(time.Time)) {
		t.Fatalf("expired document changed by Apply: %v", raw)
	}
	if n := f.count(t); n != 1 {
		t.Fatalf("collection holds %d documents, want the 1 unswept expired one", n)
	}
}

func TestDeleteMissingIsNoOp(t *testing.T) {
	f := newFixture(t)
	if err := f.store.Delete(context.Background(), "no-such-session"); err != nil {
		t.Fatalf("Delete of a missing session: %v, want nil", err)
	}
}

func TestLoadMissing(t *testing.T) {
	f := newFixture(t)
	_, err := f.store.Load(context.Background(), "no-such-session", nil)
	if !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Load of a missing session: err = %v, want ErrNotFound", err)
	}
}

func TestCollectionNotSet(t *testing.T) {
	srv := testServer(t)
	client := connect(t, srv, nil, 0)
	store := mongo.NewStore(nil)
	defer store.Close()
	ctx := context.Background()
	m := session.Meta{ID: "id", Expires: time.Now().Add(time.Hour), MaxAge: time.Hour, Created: time.Now()}
	calls := map[string]func() error{
		"Load":        func() error { _, err := store.Load(ctx, "id", nil); return err },
		"Create":      func() error { _, err := store.Create(ctx, m, session.Update{}); return err },
		"Apply":       func() error { _, err := store.Apply(ctx, "id", upd(m.Expires)); return err },
		"Delete":      func() error { return store.Delete(ctx, "id") },
		"Sweep":       func() error { _, err := store.Sweep(ctx); return err },
		"EnsureIndex": func() error { return store.EnsureIndex(ctx) },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, session.ErrUnavailable) || !errors.Is(err, mongo.ErrCollectionNotSet) || !strings.Contains(err.Error(), "collection not set") {
			t.Errorf("%s before SetCollection: err = %v, want ErrUnavailable saying collection not set", name, err)
		}
	}
	coll := newCollection(t, client)
	store.SetCollection(coll)
	if store.Collection() != coll {
		t.Fatalf("Collection() does not return the collection set")
	}
	if _, err := store.Create(ctx, m, session.Update{Commands: []session.Command{set("late", true)}}); err != nil {
		t.Fatalf("Create after SetCollection: %v", err)
	}
	if doc, err := store.Load(ctx, "id", nil); err != nil || doc["late"] != true {
		t.Fatalf("Load after SetCollection: %v, %v", doc, err)
	}
}

func TestUnsupportedStoredValueIsAnError(t *testing.T) {
	f := newFixture(t)
	m, _ := f.create(t)
	_, err := f.coll.UpdateOne(context.Background(), bson.D{{Key: "_id", Value: m.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "oid", Value: bson.NewObjectID()}}}})
	if err != nil {
		t.Fatalf("write an ObjectID behind the store's back: %v", err)
	}
	_, err = f.store.Load(context.Background(), m.ID, nil)
	if !errors.Is(err, session.ErrInvalidValue) || !strings.Contains(err.Error(), `"oid"`) {
		t.Fatalf("Load of a document holding an ObjectID: err = %v, want ErrInvalidValue naming the field", err)
	}
}

func TestZeroStoreIsNewStoreNil(t *testing.T) {
	var store mongo.Store
	if _, err := store.Load(context.Background(), "id", nil); !errors.Is(err, mongo.ErrCollectionNotSet) {
		t.Fatalf("Load on a zero Store: err = %v, want ErrCollectionNotSet", err)
	}
	srv := testServer(t)
	store.SetCollection(newCollection(t, connect(t, srv, nil, 0)))
	m := (&fixture{clock: newClock()}).meta()
	if _, err := store.Create(context.Background(), m, session.Update{}); err != nil {
		t.Fatalf("Create on a zero Store after SetCollection: %v", err)
	}
	if n, err := store.Sweep(context.Background()); err != nil || n != 0 {
		t.Fatalf("Sweep = %d, %v; want 0, nil", n, err)
	}
	if err := store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
