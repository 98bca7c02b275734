package sessiontest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

// liveFor is the lifetime of the sessions the suite makes, long enough that
// none expires during a run.
const liveFor = time.Hour

// newID returns a random store id: 64 hex digits, the length of a SHA-256.
func newID(t testing.TB) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("sessiontest: random id: %v", err)
	}
	return hex.EncodeToString(b)
}

// newMeta returns the reserved fields of a new session with a random id
// that lives for maxAge from now.
func newMeta(t testing.TB, maxAge time.Duration) session.Meta {
	t.Helper()
	now := msNow()
	return session.Meta{
		ID:      newID(t),
		Created: now,
		Expires: now.Add(maxAge),
		MaxAge:  maxAge,
	}
}

// msNow returns the current time as stores keep it: UTC, milliseconds.
func msNow() time.Time {
	return time.UnixMilli(time.Now().UnixMilli()).UTC()
}

// later returns a new expiry for Apply: now plus liveFor and a bit, so that
// it differs from the one the session was created with.
func later() time.Time {
	return msNow().Add(liveFor + 7*time.Minute + 3*time.Millisecond)
}

// prepare validates and normalizes cmds with session.PrepareCommand, as the
// session package does before a store sees them. An error is a bug in the
// suite.
func prepare(t testing.TB, cmds ...session.Command) []session.Command {
	t.Helper()
	out := make([]session.Command, len(cmds))
	for i, c := range cmds {
		p, err := session.PrepareCommand(c)
		if err != nil {
			t.Fatalf("sessiontest: PrepareCommand(%s): %v", c, err)
		}
		out[i] = p
	}
	return out
}

// Builders of unprepared commands.

func set(path string, v any) session.Command {
	return session.Command{Op: session.OpSet, Path: path, Value: v}
}

func unset(path string) session.Command { return session.Command{Op: session.OpUnset, Path: path} }

func inc(path string, by any) session.Command {
	return session.Command{Op: session.OpInc, Path: path, Value: by}
}

func push(path string, vs ...any) session.Command {
	return session.Command{Op: session.OpPush, Path: path, Values: vs}
}

func pull(path string, v any) session.Command {
	return session.Command{Op: session.OpPull, Path: path, Value: v}
}

func pullAll(path string, vs ...any) session.Command {
	return session.Command{Op: session.OpPullAll, Path: path, Values: vs}
}

func addToSet(path string, vs ...any) session.Command {
	return session.Command{Op: session.OpAddToSet, Path: path, Values: vs}
}

func pop(path string, end int) session.Command {
	return session.Command{Op: session.OpPop, Path: path, Value: end}
}

func rename(from, to string) session.Command {
	return session.Command{Op: session.OpRename, Path: from, To: to}
}

func take(path string) session.Command { return session.Command{Op: session.OpTake, Path: path} }

// pushLast is Push with $slice: -n (Session.PushLast).
func pushLast(path string, n int, vs ...any) session.Command {
	return session.Command{Op: session.OpPush, Path: path, Values: vs, Slice: n}
}

// create makes a session on st with cmds as its first batch, failing the
// test on an error, and checks the result (see checkResult).
func create(t testing.TB, st session.Store, m session.Meta, cmds []session.Command) session.Doc {
	t.Helper()
	return createU(t, st, m, session.Update{Commands: cmds})
}

// createU makes a session on st with the first step u, failing the test on
// an error, and checks the result against the reference semantics.
func createU(t testing.TB, st session.Store, m session.Meta, u session.Update) session.Doc {
	t.Helper()
	doc, err := st.Create(context.Background(), m, u)
	if err != nil {
		t.Fatalf("Create(%s, %s): %v", m.ID, showUpdate(u), err)
	}
	before := m.Doc()
	if u.MaxAge > 0 {
		before[session.FieldMaxAge] = u.MaxAge.Milliseconds()
	}
	if u.Label != "" {
		before[session.FieldLabel] = u.Label
	}
	after, err := session.ApplyCommands(before, u.Commands)
	if err != nil {
		t.Fatalf("sessiontest: the reference semantics fail on Create's batch %s: %v", showCommands(u.Commands), err)
	}
	checkResult(t, "Create("+showUpdate(u)+")", doc, u, before, after)
	return doc
}

// load reads all of session id from st, failing the test on an error.
func load(t testing.TB, st session.Store, id string) session.Doc {
	t.Helper()
	doc, err := st.Load(context.Background(), id, nil)
	if err != nil {
		t.Fatalf("Load(%s, nil): %v", id, err)
	}
	return doc
}

// apply runs cmds on session id, failing the test on an error. It does not
// check the result: the caller knows what it should be.
func apply(t testing.TB, st session.Store, id string, expires time.Time, cmds []session.Command) session.Doc {
	t.Helper()
	return applyU(t, st, id, session.Update{Commands: cmds, Expires: expires})
}

// applyU applies u to session id, failing the test on an error.
func applyU(t testing.TB, st session.Store, id string, u session.Update) session.Doc {
	t.Helper()
	doc, err := st.Apply(context.Background(), id, u)
	if err != nil {
		t.Fatalf("Apply(%s, %s): %v", id, showUpdate(u), err)
	}
	return doc
}

// applyChecked applies u to session id, which holds before, failing the
// test on an error, and checks the result against the reference semantics
// and Load against the whole document after the step. It returns that
// document, as the reference has it.
func applyChecked(t testing.TB, st session.Store, id string, before session.Doc, u session.Update) session.Doc {
	t.Helper()
	after := refApply(t, before, u)
	got := applyU(t, st, id, u)
	checkResult(t, "Apply("+showUpdate(u)+")", got, u, before, after)
	checkWhole(t, "Load after Apply("+showUpdate(u)+")", load(t, st, id), after)
	return after
}

// refApply returns the whole document after u on before, by the reference
// semantics, reserved fields included. An error is a bug in the suite.
func refApply(t testing.TB, before session.Doc, u session.Update) session.Doc {
	t.Helper()
	after, err := session.ApplyCommands(before, u.Commands)
	if err != nil {
		t.Fatalf("sessiontest: the reference semantics fail on %s: %v", showCommands(u.Commands), err)
	}
	stepMeta(after, u)
	return after
}

// stepMeta sets the reserved fields that Apply's u changes in doc.
func stepMeta(doc session.Doc, u session.Update) {
	doc[session.FieldExpires] = time.UnixMilli(u.Expires.UnixMilli()).UTC()
	if u.MaxAge > 0 {
		doc[session.FieldMaxAge] = u.MaxAge.Milliseconds()
	}
	if u.Label != "" {
		doc[session.FieldLabel] = u.Label
	}
}

// wantNotFound checks that session id is not served: Load gives
// session.ErrNotFound.
func wantNotFound(t testing.TB, st session.Store, id, when string) {
	t.Helper()
	doc, err := st.Load(context.Background(), id, nil)
	if !errorIs(err, session.ErrNotFound) {
		t.Errorf("%s: Load = %s, %v; want an error wrapping session.ErrNotFound", when, show(doc), err)
	}
}

// wantApplyNotFound checks that Apply on session id gives
// session.ErrNotFound, and then that Apply did not create the session.
func wantApplyNotFound(t testing.TB, st session.Store, id, when string) {
	t.Helper()
	doc, err := st.Apply(context.Background(), id, session.Update{Commands: prepare(t, inc("n", 1)), Expires: later()})
	if !errorIs(err, session.ErrNotFound) {
		t.Errorf("%s: Apply = %s, %v; want an error wrapping session.ErrNotFound", when, show(doc), err)
	}
	wantNotFound(t, st, id, when+", then Apply")
}
