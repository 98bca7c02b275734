package session_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/future"
	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/session"
)

// counting wraps a real store and counts the calls that reach it.
type counting struct {
	session.Store
	mu      sync.Mutex
	calls   []string
	cmds    [][]session.Command
	loads   [][]string
	updates []session.Update
}

func (c *counting) note(name string, cmds []session.Command) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, name)
	c.cmds = append(c.cmds, cmds)
}

func (c *counting) Load(ctx context.Context, id string, keys []string) (session.Doc, error) {
	c.note("Load", nil)
	c.mu.Lock()
	c.loads = append(c.loads, keys)
	c.mu.Unlock()
	return c.Store.Load(ctx, id, keys)
}

func (c *counting) Create(ctx context.Context, m session.Meta, u session.Update) (session.Doc, error) {
	c.note("Create", u.Commands)
	c.noteUpdate(u)
	return c.Store.Create(ctx, m, u)
}

func (c *counting) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	c.note("Apply", u.Commands)
	c.noteUpdate(u)
	return c.Store.Apply(ctx, id, u)
}

func (c *counting) noteUpdate(u session.Update) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.updates = append(c.updates, u)
}

func (c *counting) Delete(ctx context.Context, id string) error {
	c.note("Delete", nil)
	return c.Store.Delete(ctx, id)
}

func (c *counting) reset() ([]string, [][]session.Command) {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls, cmds := c.calls, c.cmds
	c.calls, c.cmds, c.loads, c.updates = nil, nil, nil, nil
	return calls, cmds
}

func newStore(t *testing.T) *counting {
	t.Helper()
	mem := memory.NewStore()
	t.Cleanup(func() { mem.Close() })
	return &counting{Store: mem}
}

// stored returns a session that exists in the store, and forgets the calls
// that made it.
func stored(t *testing.T, st *counting) *session.Session {
	t.Helper()
	ctx := context.Background()
	s, err := session.New(ctx, st, session.Options{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Touch().Await(ctx); err != nil {
		t.Fatal(err)
	}
	st.reset()
	return s
}

func TestSetThenUpdateMirrorsTheResult(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	doc, err := s.Set("msg", "hi").Then(s.Update).Await(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if doc["msg"] != "hi" {
		t.Fatalf("result %v lacks msg", doc)
	}
	if v, ok := s.Get("msg"); !ok || v != "hi" {
		t.Fatalf(`Get("msg") = %v, %v after Update`, v, ok)
	}
	if _, ok := s.Get(session.FieldUserID); ok {
		t.Fatal("Get returned a reserved field")
	}
}

func TestOwnWritesAreVisibleWithoutUpdate(t *testing.T) {
	ctx := context.Background()
	s := stored(t, newStore(t))
	doc, err := s.Set("a", int64(2)).Await(ctx)
	if err != nil || doc["a"] != int64(2) {
		t.Fatalf("Set: %v, %v", doc, err)
	}
	if v, _ := s.Get("a"); v != int64(2) {
		t.Fatalf("Get after an awaited Set = %v, want 2 without Update", v)
	}
	// An unawaited command's result reaches the view once it is sent.
	s.Inc("a", 1)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.GetInt("a"); n != 3 {
		t.Fatalf("Get after an unawaited Inc and Flush = %v, want 3", n)
	}
	if _, err := s.Unset("a").Await(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get("a"); ok || len(s.Values()) != 0 {
		t.Fatalf("after Unset the view is %v", s.Values())
	}
	// Update still replaces the view, as session.update did.
	if _, err := s.Update(session.Doc{"x": "y"}); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get("x"); v != "y" {
		t.Fatalf("Update did not replace the view: %v", s.Values())
	}
}

func TestNonOverlappingCommandsGoOutAsOneUpdate(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	fs := []interface {
		Await(context.Context) (session.Doc, error)
	}{
		s.Push("cart", "apple"), s.Inc("cartCount", 1), s.Set("lastItem", "apple"), s.Set("user.name", "ann"),
	}
	for i, f := range fs {
		doc, err := f.Await(ctx)
		if err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
		if doc["lastItem"] != "apple" || doc["cartCount"] != int64(1) {
			t.Fatalf("command %d resolved with %v, want the document after the whole batch", i, doc)
		}
	}
	calls, cmds := st.reset()
	if len(calls) != 1 || calls[0] != "Apply" || len(cmds[0]) != 4 {
		t.Fatalf("store calls %v with %v, want one Apply of 4 commands", calls, cmds)
	}
}

func TestOverlappingCommandsSplitInIssueOrder(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	a := s.Set("user", map[string]any{"name": "ann"})
	b := s.Set("user.age", 30)
	c := s.Set("other", true)
	d := s.Unset("user")
	docA, errA := a.Await(ctx)
	docB, errB := b.Await(ctx)
	docD, errD := d.Await(ctx)
	if err := errors.Join(errA, errB, errD); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Await(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := docA["user"].(map[string]any)["age"]; ok {
		t.Fatalf("first future saw a later update: %v", docA)
	}
	if docB["user"].(map[string]any)["age"] != int64(30) || docB["other"] != true {
		t.Fatalf("second batch result %v", docB)
	}
	if _, ok := docD["user"]; ok {
		t.Fatalf("third batch result %v still has user", docD)
	}
	calls, cmds := st.reset()
	if len(calls) != 3 || len(cmds[0]) != 1 || len(cmds[1]) != 2 || len(cmds[2]) != 1 {
		t.Fatalf("calls %v, batches %v: want [set user] [set user.age, set other] [unset user]", calls, cmds)
	}
}

func TestUnawaitedCommandIsSentAndItsFailureReported(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	s.Set("kept", "yes")
	s.Set("word", "text")
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	doc, err := st.Store.Load(ctx, s.ID(), nil)
	if err != nil || doc["kept"] != "yes" {
		t.Fatalf("unawaited command not stored: %v, %v", doc, err)
	}
	s.Inc("word", 1) // fails: word holds a string; nobody awaits it
	if err := s.Flush(ctx); !errors.Is(err, session.ErrTypeMismatch) {
		t.Fatalf("Flush = %v, want the unawaited failure (ErrTypeMismatch)", err)
	}
}

func TestAwaitedFailureIsNotReportedAgain(t *testing.T) {
	ctx := context.Background()
	s := stored(t, newStore(t))
	s.Set("word", "text")
	if _, err := s.Inc("word", 1).Await(ctx); !errors.Is(err, session.ErrTypeMismatch) {
		t.Fatalf("Inc on a string = %v, want ErrTypeMismatch", err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush = %v, want nil: the failure was seen by its awaiter", err)
	}
}

func TestBadCommandsFailWithoutAStoreCall(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	cases := []struct {
		name string
		err  error
		f    func() error
	}{
		{"reserved", session.ErrReservedKey, func() error { _, err := s.Set("expires", 1).Await(ctx); return err }},
		{"reserved nested", session.ErrReservedKey, func() error { _, err := s.Set("_user.x", 1).Await(ctx); return err }},
		{"rename to reserved", session.ErrReservedKey, func() error { _, err := s.Rename("a", "_id").Await(ctx); return err }},
		{"empty key", session.ErrInvalidKey, func() error { _, err := s.Set("", 1).Await(ctx); return err }},
		{"dollar key", session.ErrInvalidKey, func() error { _, err := s.Set("$where", 1).Await(ctx); return err }},
		{"bad value", session.ErrInvalidValue, func() error { _, err := s.Set("f", func() {}).Await(ctx); return err }},
		{"inc by string", session.ErrInvalidValue, func() error { _, err := s.Inc("n", "1").Await(ctx); return err }},
		{"oversize", session.ErrTooLarge, func() error {
			_, err := s.Set("big", string(make([]byte, session.MaxValueSize+1))).Await(ctx)
			return err
		}},
	}
	for _, c := range cases {
		if err := c.f(); !errors.Is(err, c.err) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.err)
		}
	}
	if calls, _ := st.reset(); len(calls) != 0 {
		t.Fatalf("invalid commands reached the store: %v", calls)
	}
}

func TestCommandOnDeletedSessionGoesToANewOne(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	oldID := s.ID()
	if err := st.Store.Delete(ctx, oldID); err != nil {
		t.Fatal(err)
	}
	doc, err := s.Set("a", 1).Await(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID() == oldID || doc[session.FieldID] != s.ID() {
		t.Fatalf("command went to id %v (session id %s, old %s)", doc[session.FieldID], s.ID(), oldID)
	}
	if _, err := st.Store.Load(ctx, oldID, nil); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("old session resurrected: %v", err)
	}
	if action, tok := s.Cookie(); action != session.CookieSet || session.IDOf(tok) != s.ID() {
		t.Fatalf("cookie %v for a new session", action)
	}
}

func TestDestroyThenCommandStartsANewSession(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	oldID := s.ID()
	s.Set("a", 1)
	if _, err := s.Destroy().Await(ctx); err != nil {
		t.Fatal(err)
	}
	if action, _ := s.Cookie(); action != session.CookieClear {
		t.Fatalf("cookie action after Destroy = %v, want CookieClear", action)
	}
	if _, err := st.Store.Load(ctx, oldID, nil); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("destroyed session still loads: %v", err)
	}
	calls, _ := st.reset()
	if len(calls) != 2 || calls[0] != "Apply" || calls[1] != "Delete" {
		t.Fatalf("calls %v, want the queued Apply before Delete", calls)
	}
	if _, err := s.Set("b", 2).Await(ctx); err != nil {
		t.Fatal(err)
	}
	if s.ID() == oldID {
		t.Fatal("a command after Destroy reused the old id")
	}
}

func TestRegenerate(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	if _, err := s.Set("a", 1).Then(s.Update).Await(ctx); err != nil {
		t.Fatal(err)
	}
	oldID, oldCSRF := s.ID(), s.CreateCSRF()
	got, err := s.Regenerate().Await(ctx)
	if err != nil || got != s {
		t.Fatalf("Regenerate = %p, %v; want the same *Session", got, err)
	}
	if s.ID() == oldID || len(s.Values()) != 0 {
		t.Fatalf("after Regenerate: id %s (old %s), values %v", s.ID(), oldID, s.Values())
	}
	if err := s.AssertCSRF(oldCSRF); !errors.Is(err, session.ErrInvalidCSRF) {
		t.Fatalf("a CSRF token from before Regenerate still passes: %v", err)
	}
	st.reset()
	doc, err := s.Set("user", "ann").Await(ctx)
	if err != nil || doc["user"] != "ann" || doc[session.FieldID] != s.ID() {
		t.Fatalf("Set after Regenerate: %v, %v", doc, err)
	}
	if calls, _ := st.reset(); len(calls) != 1 || calls[0] != "Create" {
		t.Fatalf("new session and its first command took %v, want one Create", calls)
	}
	if _, err := st.Store.Load(ctx, oldID, nil); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("old session survived Regenerate: %v", err)
	}
}

func TestTouchAndCommandsRollTheExpiry(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	before := s.Expires()
	time.Sleep(5 * time.Millisecond)
	doc, err := s.Touch().Await(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Expires().After(before) || !doc[session.FieldExpires].(time.Time).Equal(s.Expires()) {
		t.Fatalf("Touch: expires %v -> %v (doc %v)", before, s.Expires(), doc[session.FieldExpires])
	}
	if action, _ := s.Cookie(); action != session.CookieSet {
		t.Fatal("Touch did not ask for the cookie to be sent again")
	}
	mid := s.Expires()
	time.Sleep(5 * time.Millisecond)
	if _, err := s.Set("x", 1).Await(ctx); err != nil {
		t.Fatal(err)
	}
	if !s.Expires().After(mid) {
		t.Fatal("a command did not move expires")
	}
}

func TestOpenReadsOnceAndKeepsTheCookie(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	if _, err := s.Set("a", "b").Await(ctx); err != nil {
		t.Fatal(err)
	}
	st.reset()
	again, err := session.Open(ctx, st, s.Token(), session.Options{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := again.Get("a"); v != "b" || again.ID() != s.ID() {
		t.Fatalf("Open found %v (id %s)", again.Values(), again.ID())
	}
	if err := again.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if action, _ := again.Cookie(); action != session.CookieKeep {
		t.Fatalf("a session only read asks for cookie action %v", action)
	}
	if calls, _ := st.reset(); len(calls) != 1 || calls[0] != "Load" {
		t.Fatalf("reading a session took %v, want one Load", calls)
	}
}

func TestOpenUnknownTokenGivesANewSession(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	tok, _ := session.NewToken()
	s, err := session.Open(ctx, st, tok, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Token() == tok || s.MaxAge() != session.DefaultMaxAge {
		t.Fatalf("unknown token reused or default MaxAge not applied: %v", s.MaxAge())
	}
}

func TestConcurrentAwaitersOfOneSession(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if _, err := s.Inc("n", 1).Await(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	doc, err := st.Store.Load(ctx, s.ID(), nil)
	if err != nil || !session.Equal(doc["n"], int64(640)) {
		t.Fatalf("n = %v (%v), want 640", doc["n"], err)
	}
}

// gated is a real store whose Apply waits until gate is closed.
type gated struct {
	session.Store
	gate chan struct{}
}

func (g gated) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	<-g.gate
	return g.Store.Apply(ctx, id, u)
}

func TestAwaitContextBoundsOnlyTheWait(t *testing.T) {
	st := newStore(t)
	s := stored(t, st)
	g := gated{Store: st.Store, gate: make(chan struct{})}
	again, err := session.Attach(context.Background(), g, s.Token(), session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := again.Set("a", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := f.Await(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Await while the store is busy = %v, want the wait's deadline", err)
	}
	close(g.gate) // the work went on; it now finishes
	doc, err := f.Await(context.Background())
	if err != nil || doc["a"] != int64(1) {
		t.Fatalf("the command after the wait gave up: %v, %v", doc, err)
	}
}

func TestContinuationMayAwaitTheSameSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := stored(t, newStore(t))
	doc, err := s.Set("a", 1).Then(func(session.Doc) (session.Doc, error) {
		return s.Set("b", 2).Await(ctx) // runs as the first batch settles
	}).Await(ctx)
	if err != nil || doc["a"] != int64(1) || doc["b"] != int64(2) {
		t.Fatalf("chained await on the same session: %v, %v", doc, err)
	}
}

func TestUnawaitedRegenerateIsSentAndClearsTheCookie(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	oldID := s.ID()
	s.Regenerate() // nobody awaits it; the request's end (Flush) sends it
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Store.Load(ctx, oldID, nil); !errors.Is(err, session.ErrNotFound) || s.ID() == oldID {
		t.Fatalf("old session %s not deleted: %v", oldID, err)
	}
	// Nothing was written to the new session: it is not stored, and the
	// old cookie is cleared.
	if calls, _ := st.reset(); len(calls) != 1 || calls[0] != "Delete" {
		t.Fatalf("store calls %v, want only the Delete", calls)
	}
	if action, _ := s.Cookie(); action != session.CookieClear {
		t.Fatalf("cookie action %v after Regenerate with no write, want CookieClear", action)
	}
	s.Set("a", 1)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if action, tok := s.Cookie(); action != session.CookieSet || session.IDOf(tok) != s.ID() {
		t.Fatalf("cookie action %v after a write, want CookieSet with the new token", action)
	}
}

func TestFailureIsReportedOnceAndNotWhenItsBatchWasAwaited(t *testing.T) {
	ctx := context.Background()
	s := stored(t, newStore(t))
	if _, err := s.Set("word", "text").Await(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := s.Set("other", 1), s.Inc("word", 1) // one batch; only b does not apply
	if _, err := a.Await(ctx); err != nil {
		t.Fatalf("a = %v, want success: a command fails only for its own reason", err)
	}
	if _, err := b.Await(ctx); !errors.Is(err, session.ErrTypeMismatch) {
		t.Fatalf("b = %v", err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush = %v: the batch's failure was awaited", err)
	}
	s.Inc("word", 1) // fails, nobody awaits it
	if err := s.Flush(ctx); !errors.Is(err, session.ErrTypeMismatch) {
		t.Fatalf("Flush = %v, want the unawaited failure", err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("second Flush = %v, want nil: a failure is reported once", err)
	}
}

// panicking is a store whose Apply panics, as a buggy third-party store might.
type panicking struct{ session.Store }

func (panicking) Apply(context.Context, string, session.Update) (session.Doc, error) {
	panic("store bug")
}

func TestStorePanicBecomesAnError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := newStore(t)
	s := stored(t, st)
	again, err := session.Open(ctx, panicking{st.Store}, s.Token(), session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	first, second := again.Set("a", 1), again.Set("a", 2) // two batches
	_, err = first.Await(ctx)
	var pe *future.PanicError
	if !errors.As(err, &pe) || pe.Value != "store bug" || !strings.Contains(string(pe.Stack), "panicking") {
		t.Fatalf("first = %v, want a *future.PanicError with the store's stack", err)
	}
	if _, err := second.Await(ctx); err == nil {
		t.Fatal("the batch after the panic succeeded")
	}
}
