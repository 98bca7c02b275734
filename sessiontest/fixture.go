package sessiontest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("sessiontest: random secret: %v", err)
	}
	now := msNow()
	return session.Meta{
		ID:      newID(t),
		Created: now,
		Expires: now.Add(maxAge),
		MaxAge:  maxAge,
		Secret:  base64.RawURLEncoding.EncodeToString(b),
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

// create makes a session on st, failing the test on an error.
func create(t testing.TB, st session.Store, m session.Meta, cmds []session.Command) session.Doc {
	t.Helper()
	doc, err := st.Create(context.Background(), m, cmds)
	if err != nil {
		t.Fatalf("Create(%s): %v", m.ID, err)
	}
	return doc
}

// load reads session id from st, failing the test on an error.
func load(t testing.TB, st session.Store, id string) session.Doc {
	t.Helper()
	doc, err := st.Load(context.Background(), id)
	if err != nil {
		t.Fatalf("Load(%s): %v", id, err)
	}
	return doc
}

// apply runs cmds on session id, failing the test on an error.
func apply(t testing.TB, st session.Store, id string, expires time.Time, cmds []session.Command) session.Doc {
	t.Helper()
	doc, err := st.Apply(context.Background(), id, expires, cmds)
	if err != nil {
		t.Fatalf("Apply(%s, %s): %v", id, showCommands(cmds), err)
	}
	return doc
}

// wantNotFound checks that session id is not served: Load gives
// session.ErrNotFound.
func wantNotFound(t testing.TB, st session.Store, id, when string) {
	t.Helper()
	doc, err := st.Load(context.Background(), id)
	if !errorIs(err, session.ErrNotFound) {
		t.Errorf("%s: Load = %s, %v; want an error wrapping session.ErrNotFound", when, show(doc), err)
	}
}

// wantApplyNotFound checks that Apply on session id gives
// session.ErrNotFound, and then that Apply did not create the session.
func wantApplyNotFound(t testing.TB, st session.Store, id, when string) {
	t.Helper()
	doc, err := st.Apply(context.Background(), id, later(), prepare(t, inc("n", 1)))
	if !errorIs(err, session.ErrNotFound) {
		t.Errorf("%s: Apply = %s, %v; want an error wrapping session.ErrNotFound", when, show(doc), err)
	}
	wantNotFound(t, st, id, when+", then Apply")
}
