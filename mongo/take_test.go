package mongo_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

func TestTakeReturnsValueBeforeAndRemovesIt(t *testing.T) {
	f := newFixture(t)
	flash := map[string]any{"kind": "info", "text": "saved"}
	m, _ := f.create(t, set("flash", flash), set("cart", map[string]any{"msg": "added", "n": int64(1)}), set("big", strings.Repeat("x", 1024)))
	later := m.Expires.Add(time.Hour)
	u := upd(later, take("flash"))
	u.MaxAge, u.Label = 2*time.Hour, "tablet"
	f.rec.reset()
	doc, err := f.store.Apply(context.Background(), m.ID, u)
	if err != nil {
		t.Fatalf("Apply(Take): %v", err)
	}
	cmds := f.rec.take()
	if len(cmds) != 1 || cmds[0].name != "findAndModify" {
		t.Fatalf("Take sent %v, want one findAndModify", cmds)
	}
	m.Expires, m.MaxAge, m.Label = later, 2*time.Hour, "tablet"
	want := m.Doc()
	want["flash"] = flash
	if !reflect.DeepEqual(doc, want) {
		t.Fatalf("Take returned %#v, want the value before and the reserved fields as written: %#v", doc, want)
	}
	loaded, err := f.store.Load(context.Background(), m.ID, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, ok := loaded["flash"]; ok {
		t.Fatalf("flash still stored after Take: %v", loaded)
	}
	if got, err := session.MetaOf(loaded); err != nil || got != m {
		t.Fatalf("stored reserved fields after Take = %+v, %v; want %+v", got, err, m)
	}

	// A dotted path returns its top-level key as it was, and removes only
	// the path.
	doc, err = f.store.Apply(context.Background(), m.ID, upd(later, take("cart.msg")))
	if err != nil {
		t.Fatalf("Apply(Take cart.msg): %v", err)
	}
	if !reflect.DeepEqual(doc["cart"], map[string]any{"msg": "added", "n": int64(1)}) || len(doc.User()) != 1 {
		t.Fatalf("Take of cart.msg returned %v, want cart before", doc.User())
	}
	if loaded, _ := f.store.Load(context.Background(), m.ID, []string{"cart"}); !reflect.DeepEqual(loaded["cart"], map[string]any{"n": int64(1)}) {
		t.Fatalf("cart after Take of cart.msg = %v", loaded["cart"])
	}

	// Taking what is not there returns nothing, and is no error.
	doc, err = f.store.Apply(context.Background(), m.ID, upd(later, take("flash")))
	if err != nil || len(doc.User()) != 0 {
		t.Fatalf("second Take = %v, %v; want no value", doc.User(), err)
	}
}

func TestTakeOfMissingSessionIsNotFound(t *testing.T) {
	f := newFixture(t)
	_, err := f.store.Apply(context.Background(), "no-such-session", upd(f.clock.Now().Add(time.Hour), take("flash")))
	if !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Take on a missing session: err = %v, want ErrNotFound", err)
	}
	if n := f.count(t); n != 0 {
		t.Fatalf("Take on a missing session left %d documents", n)
	}
}

// TestTakeWithOtherCommands: a Take batched with commands on other keys
// is still one findAndModify; the result holds the Take's value before and
// the other keys after (computed from the document before).
func TestTakeWithOtherCommands(t *testing.T) {
	f := newFixture(t)
	m, _ := f.create(t, set("flash", "hi"), set("n", int64(1)), set("recent", []any{int64(1), int64(2)}), set("big", "untouched"))
	f.rec.reset()
	doc, err := f.store.Apply(context.Background(), m.ID, upd(m.Expires, take("flash"), inc("n", int64(1)), set("seen", true), pushLast("recent", 2, int64(3))))
	if err != nil {
		t.Fatalf("Take batched with other commands: %v", err)
	}
	want := m.Doc()
	want["flash"] = "hi"
	want["n"] = int64(2)
	want["seen"] = true
	want["recent"] = []any{int64(2), int64(3)}
	if !reflect.DeepEqual(doc, want) {
		t.Fatalf("Take with others returned %#v, want %#v", doc, want)
	}
	cmds := f.rec.take()
	// The findAndModify, then (for the PushLast only) a find of the array,
	// as the document before cannot show whether $slice was applied, and
	// on FerretDB an update that trims it.
	if len(cmds) < 2 || cmds[0].name != "findAndModify" || cmds[1].name != "find" || (!f.srv.ferret && len(cmds) != 2) {
		t.Fatalf("Take with others sent %v, want a findAndModify and a find", cmds)
	}
	t.Logf("Take batched with a PushLast and others: %v", cmds)
	loaded, err := f.store.Load(context.Background(), m.ID, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want = m.Doc()
	want["n"] = int64(2)
	want["seen"] = true
	want["big"] = "untouched"
	want["recent"] = []any{int64(2), int64(3)}
	if !reflect.DeepEqual(loaded, want) {
		t.Fatalf("stored after Take with others: %#v, want %#v", loaded, want)
	}
}

func TestTakeInCreateFindsNothing(t *testing.T) {
	f := newFixture(t)
	m := f.meta()
	doc, err := f.store.Create(context.Background(), m, session.Update{Commands: []session.Command{take("flash")}})
	if err != nil || !reflect.DeepEqual(doc, m.Doc()) {
		t.Fatalf("Create with a Take = %#v, %v; want the reserved fields only", doc, err)
	}
}

func TestPushLastKeepsTheLastN(t *testing.T) {
	f := newFixture(t)
	m, _ := f.create(t, set("recent", []any{int64(1), int64(2)}))
	f.rec.reset()
	doc, err := f.store.Apply(context.Background(), m.ID, upd(m.Expires, pushLast("recent", 3, int64(3), int64(4)), pushLast("fresh", 2, "a", "b", "c")))
	if err != nil {
		t.Fatalf("Apply(PushLast): %v", err)
	}
	if !reflect.DeepEqual(doc["recent"], []any{int64(2), int64(3), int64(4)}) || !reflect.DeepEqual(doc["fresh"], []any{"b", "c"}) {
		t.Fatalf("PushLast left recent %v and fresh %v", doc["recent"], doc["fresh"])
	}
	cmds := f.rec.take()
	switch {
	case f.srv.ferret && len(cmds) == 3:
		t.Logf("FerretDB 1.x ignores $slice: the push and then one compare-and-set trim of each array: %v", cmds)
	case len(cmds) != 1:
		t.Fatalf("PushLast sent %v, want one command", cmds)
	}
	op := cmds[0].body.Lookup("update", "$push", "recent")
	if slice, ok := op.Document().Lookup("$slice").AsInt64OK(); !ok || slice != -3 {
		t.Fatalf("PushLast sent $push %v, want $each with $slice: -3", op)
	}
	// Without Slice the array keeps everything.
	doc, err = f.store.Apply(context.Background(), m.ID, upd(m.Expires, push("recent", int64(5))))
	if err != nil || len(doc["recent"].([]any)) != 4 {
		t.Fatalf("Push without Slice = %v, %v", doc["recent"], err)
	}
}

func TestPushLastNegativeSliceIsInvalid(t *testing.T) {
	f := newFixture(t)
	m, _ := f.create(t)
	_, err := f.store.Apply(context.Background(), m.ID, upd(m.Expires, pushLast("recent", -1, "x")))
	if !errors.Is(err, session.ErrInvalidValue) {
		t.Fatalf("PushLast with a negative length: err = %v, want ErrInvalidValue", err)
	}
}
