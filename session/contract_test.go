package session_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/session"
)

// failingDelete is a real store whose Delete fails, as a store that is down
// for a moment would.
type failingDelete struct{ session.Store }

var errDeleteDown = errors.New("delete: store down")

func (failingDelete) Delete(context.Context, string) error { return errDeleteDown }

// Issue 9, scenario 1: Regenerate must fail closed. An attacker plants a
// session; the store cannot delete it at login; the commands after
// Regenerate must not log the attacker's session in.
func TestRegenerateFailsClosed(t *testing.T) {
	for _, name := range []string{"Regenerate", "Login", "Destroy"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := newStore(t)
			planted := stored(t, st)
			s, err := session.Open(ctx, failingDelete{st.Store}, planted.Token(), session.Options{})
			if err != nil {
				t.Fatal(err)
			}
			switch name {
			case "Regenerate":
				s.Regenerate()
			case "Login":
				s.Login("victim")
			case "Destroy":
				s.Destroy()
			}
			after := s.Set("user", "victim")
			if err := s.Flush(ctx); !errors.Is(err, errDeleteDown) {
				t.Fatalf("Flush = %v, want the Delete failure", err)
			}
			if _, err := after.Await(ctx); !errors.Is(err, errDeleteDown) {
				t.Fatalf("command after the failed %s = %v, want the Delete failure", name, err)
			}
			if _, err := s.Set("later", 1).Await(ctx); !errors.Is(err, errDeleteDown) {
				t.Fatalf("command issued after the failure = %v, want it refused", err)
			}
			doc, err := st.Store.Load(ctx, planted.ID(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := doc["user"]; ok {
				t.Fatalf("the planted session was written to after a failed %s: %v", name, doc)
			}
			if err := s.Flush(ctx); !errors.Is(err, errDeleteDown) {
				t.Fatalf("a later Flush = %v, want the failure again (the response stays 5xx)", err)
			}
		})
	}
}

// Issue 9, scenario 2: a continuation may await a sibling of its batch.
func TestContinuationMayAwaitASiblingOfItsBatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := stored(t, newStore(t))
	a, b := s.Set("a", 1), s.Set("b", 2)
	doc, err := a.Then(func(session.Doc) (session.Doc, error) { return b.Await(ctx) }).Await(ctx)
	if err != nil || doc["b"] != int64(2) {
		t.Fatalf("continuation awaiting its sibling: %v, %v", doc, err)
	}
}

// Issue 9, scenario 3: a command queued by a continuation while the queue
// is being sent is sent too, by the same Flush.
func TestFlushSendsCommandsQueuedByContinuations(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	s.Set("a", 1).Then(func(d session.Doc) (session.Doc, error) {
		s.Set("b", 2).Then(func(d session.Doc) (session.Doc, error) {
			s.Set("c", 3)
			return d, nil
		})
		return d, nil
	})
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	doc, err := st.Store.Load(ctx, s.ID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("%s queued by a continuation was not stored: %v", k, doc)
		}
	}
}

// failingWrites is a real store whose writes fail.
type failingWrites struct {
	*counting
}

var errWriteDown = errors.New("write: store down")

func (f failingWrites) Create(ctx context.Context, m session.Meta, u session.Update) (session.Doc, error) {
	f.note("Create", u.Commands)
	return nil, errWriteDown
}

// Issue 9, scenario 4: a failed write costs one store call and one report.
func TestFailedFlushCostsOneStoreCallAndOneReport(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s, err := session.New(ctx, failingWrites{st}, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Set("a", 1)
	if err := s.Flush(ctx); !errors.Is(err, errWriteDown) {
		t.Fatalf("Flush = %v, want the write failure", err)
	}
	if calls, _ := st.reset(); len(calls) != 1 {
		t.Fatalf("a failed flush made store calls %v, want one", calls)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("second Flush = %v, want nil: the failure was reported once", err)
	}
	if calls, _ := st.reset(); len(calls) != 0 {
		t.Fatalf("the second Flush made store calls %v", calls)
	}
}

// Issue 9, scenario 6: a new visitor who only reads costs nothing.
func TestNewSessionIsStoredOnlyWhenWritten(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	for range 20 {
		s, err := session.Open(ctx, st, "", session.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Get("anything")
		s.Fetch("cart")
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Cookie(); a != session.CookieKeep {
			t.Fatalf("a reader got cookie action %v, want none", a)
		}
	}
	if calls, _ := st.reset(); len(calls) != 0 {
		t.Fatalf("20 readers made store calls %v, want none", calls)
	}
	// CreateCSRF stores the new session: its token needs a session to
	// come back to.
	s, _ := session.New(ctx, st, session.Options{})
	s.CreateCSRF()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if calls, _ := st.reset(); len(calls) != 1 || calls[0] != "Create" {
		t.Fatalf("CreateCSRF on a new session: calls %v, want one Create", calls)
	}
	if a, _ := s.Cookie(); a != session.CookieSet {
		t.Fatalf("cookie action %v after CreateCSRF, want CookieSet", a)
	}
}

// Issue 9, scenario 8: nothing in the store can make a CSRF token.
func TestCSRFKeyIsNotInTheStore(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	tok := s.CreateCSRF()
	doc, err := st.Store.Load(ctx, s.ID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k := range doc {
		if !session.IsReserved(k) {
			t.Errorf("stored session has key %q", k)
		}
	}
	if _, ok := doc["secret"]; ok {
		t.Fatal("the stored session still has a CSRF secret")
	}
	// Another session with the same stored fields but another token
	// refuses the token.
	other := stored(t, st)
	if err := other.AssertCSRF(tok); !errors.Is(err, session.ErrInvalidCSRF) {
		t.Fatalf("another session accepted the token: %v", err)
	}
	same, err := session.Open(ctx, st, s.Token(), session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := same.AssertCSRF(tok); err != nil {
		t.Fatalf("the same cookie token in a later request refused the token: %v", err)
	}
}

// Issue 9, scenario 9 and the limit: MaxCommands, and one shared result.
func TestMaxCommandsAndSharedResults(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s, _ := session.New(ctx, st, session.Options{MaxCommands: 50})
	var last error
	fs := make([]interface {
		Await(context.Context) (session.Doc, error)
	}, 0, 50)
	for i := range 51 {
		f := s.Set(fmt.Sprintf("k%d", i), i)
		if i < 50 {
			fs = append(fs, f)
		} else {
			_, last = f.Await(ctx)
		}
	}
	if !errors.Is(last, session.ErrTooLarge) {
		t.Fatalf("command 51 of MaxCommands 50 = %v, want ErrTooLarge", last)
	}
	var first session.Doc
	for i, f := range fs {
		d, err := f.Await(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = d
		} else if reflect.ValueOf(d).UnsafePointer() != reflect.ValueOf(first).UnsafePointer() {
			t.Fatal("the futures of one batch got different Docs, want one shared Doc")
		}
	}
	if len(first) < 50 {
		t.Fatalf("shared result has %d keys", len(first))
	}
}

// Issue 9, scenario 10 (last): a command fails only for its own reason.
func TestOneMismatchFailsOnlyItsCommand(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	if _, err := s.Set("word", "text").Await(ctx); err != nil {
		t.Fatal(err)
	}
	var fs []func() error
	for i := range 9 {
		f := s.Set(fmt.Sprintf("k%d", i), i)
		fs = append(fs, func() error { _, err := f.Await(ctx); return err })
	}
	bad := s.Inc("word", 1)
	if _, err := bad.Await(ctx); !errors.Is(err, session.ErrTypeMismatch) {
		t.Fatalf("Inc on a string = %v", err)
	}
	for i, f := range fs {
		if err := f(); err != nil {
			t.Fatalf("Set k%d failed with its batch's bad command: %v", i, err)
		}
	}
	doc, _ := st.Store.Load(ctx, s.ID(), nil)
	if doc["k8"] != int64(8) || doc["word"] != "text" {
		t.Fatalf("stored %v", doc)
	}
}

// mismatchNoIndex hides which command failed, as MongoDB does: the session
// must find it by halving the batch.
type mismatchNoIndex struct{ *counting }

func (m mismatchNoIndex) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	d, err := m.counting.Apply(ctx, id, u)
	var ce *session.CommandError
	if errors.As(err, &ce) {
		return nil, fmt.Errorf("opaque: %w", session.ErrTypeMismatch)
	}
	return d, err
}

func TestMismatchWithoutIndexIsFoundByHalving(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s0 := stored(t, st)
	s0.Set("word", "text")
	s0.Flush(ctx)
	s, _ := session.Attach(ctx, mismatchNoIndex{st}, s0.Token(), session.Options{MaxAge: time.Hour})
	var oks []interface {
		Await(context.Context) (session.Doc, error)
	}
	for i := range 16 {
		oks = append(oks, s.Set(fmt.Sprintf("k%d", i), i))
	}
	bad := s.Inc("word", 1)
	s.Flush(ctx)
	if _, err := bad.Await(ctx); !errors.Is(err, session.ErrTypeMismatch) {
		t.Fatalf("bad = %v", err)
	}
	for i, f := range oks {
		if _, err := f.Await(ctx); err != nil {
			t.Fatalf("k%d: %v", i, err)
		}
	}
	calls, _ := st.reset()
	if len(calls) > 12 {
		t.Fatalf("finding one bad command among 17 took %d calls, want about 2·log2(17)", len(calls))
	}
}

// Issue 10: partial loads and one round trip for a read and a write.
func TestPartialLoads(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	s.Set("small", "s")
	s.Set("blob", "bbbbbbbb")
	s.Flush(ctx)
	st.reset()

	p, err := session.Open(ctx, st, s.Token(), session.Options{}, "small")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := p.Get("small"); v != "s" {
		t.Fatalf("small = %v", v)
	}
	if _, ok := p.Get("blob"); ok || p.Loaded("blob") || !p.Loaded("small") {
		t.Fatalf("blob loaded by a partial load: loaded=%v", p.Loaded("blob"))
	}
	if _, ok := p.Values()["blob"]; ok {
		t.Fatal("Values holds a key that was not loaded")
	}
	if _, err := p.Fetch("small").Await(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Fetch("small", "blob").Await(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := p.Get("blob"); v != "bbbbbbbb" {
		t.Fatalf("blob after Fetch = %v", v)
	}
	st.mu.Lock()
	loads := st.loads
	st.mu.Unlock()
	if len(loads) != 2 || !reflect.DeepEqual(loads[0], []string{"small"}) || !reflect.DeepEqual(loads[1], []string{"blob"}) {
		t.Fatalf("loads %v, want [small] then only the missing [blob]", loads)
	}
	st.reset()

	// A Fetch queued with commands joins their batch: one round trip.
	q, _ := session.Attach(ctx, st, s.Token(), session.Options{MaxAge: time.Hour})
	f := q.Fetch("small")
	q.Inc("n", 1)
	doc, err := f.Await(ctx)
	if err != nil || doc["small"] != "s" || doc["n"] != int64(1) {
		t.Fatalf("fetch with a command: %v, %v", doc, err)
	}
	if calls, _ := st.reset(); len(calls) != 1 || calls[0] != "Apply" {
		t.Fatalf("read + write took %v, want one Apply", calls)
	}
}

// Issue 13: typed getters, struct values, Take, PushLast, SetMaxAge, Login.
type cartItem struct {
	SKU   string    `json:"sku"`
	Qty   int       `json:"qty"`
	Added time.Time `json:"added"`
}

func TestTypedGettersAndStructs(t *testing.T) {
	ctx := context.Background()
	s := stored(t, newStore(t))
	added := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.Set("n", int32(7))
	s.Set("f", 2.5)
	s.Set("whole", 3.0)
	s.Set("ok", true)
	s.Set("at", added)
	s.Set("item", cartItem{SKU: "a1", Qty: 2, Added: added})
	s.Set("items", []cartItem{{SKU: "b", Qty: 1}})
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, ok := s.GetInt("n"); !ok || n != 7 {
		t.Errorf("GetInt(n) = %v, %v", n, ok)
	}
	if n, ok := s.GetInt("whole"); !ok || n != 3 {
		t.Errorf("GetInt(whole) = %v, %v", n, ok)
	}
	if _, ok := s.GetInt("f"); ok {
		t.Error("GetInt of 2.5 succeeded")
	}
	if f, ok := s.GetFloat("n"); !ok || f != 7 {
		t.Errorf("GetFloat(n) = %v, %v", f, ok)
	}
	if b, ok := s.GetBool("ok"); !ok || !b {
		t.Errorf("GetBool = %v, %v", b, ok)
	}
	if at, ok := s.GetTime("at"); !ok || !at.Equal(added) {
		t.Errorf("GetTime = %v, %v", at, ok)
	}
	if _, ok := s.GetString("n"); ok {
		t.Error("GetString of a number succeeded")
	}
	item, err := session.GetAs[cartItem](s, "item")
	if err != nil || item.SKU != "a1" || item.Qty != 2 || !item.Added.Equal(added) {
		t.Errorf("GetAs[cartItem] = %+v, %v", item, err)
	}
	if sku, _ := s.GetString("item.sku"); sku != "a1" {
		t.Errorf("dotted Get = %q", sku)
	}
	items, err := session.GetAs[[]cartItem](s, "items")
	if err != nil || len(items) != 1 || items[0].SKU != "b" {
		t.Errorf("GetAs[[]cartItem] = %+v, %v", items, err)
	}
	if _, err := session.GetAs[cartItem](s, "missing"); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("GetAs of a missing key = %v", err)
	}
	if _, err := session.GetAs[int](s, "item"); !errors.Is(err, session.ErrInvalidValue) {
		t.Errorf("GetAs[int] of a struct = %v", err)
	}
}

func TestTakeGivesTheValueToExactlyOneRequest(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	if _, err := s.Set("flash", "saved").Await(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []any
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := session.Attach(ctx, st, s.Token(), session.Options{MaxAge: time.Hour})
			if err != nil {
				t.Error(err)
				return
			}
			v, err := r.Take("flash").Await(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			if v != nil {
				mu.Lock()
				got = append(got, v)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(got) != 1 || got[0] != "saved" {
		t.Fatalf("32 concurrent Takes got %v, want exactly one \"saved\"", got)
	}
}

func TestPushLastKeepsTheLastN(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	var wg sync.WaitGroup
	for i := range 33 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := session.Attach(ctx, st, s.Token(), session.Options{MaxAge: time.Hour})
			if _, err := r.PushLast("recent", 5, i).Await(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	doc, _ := st.Store.Load(ctx, s.ID(), []string{"recent"})
	if l, _ := doc["recent"].([]any); len(l) != 5 {
		t.Fatalf("recent = %v, want 5 elements", doc["recent"])
	}
	if _, err := s.PushLast("recent", 0, 1).Await(ctx); !errors.Is(err, session.ErrInvalidValue) {
		t.Fatalf("PushLast with n 0 = %v", err)
	}
}

func TestSetMaxAgeAndLogin(t *testing.T) {
	ctx := context.Background()
	mem := memory.NewStore()
	defer mem.Close()
	s, _ := session.New(ctx, mem, session.Options{MaxAge: time.Hour})
	if _, err := s.Login("ann").Await(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetMaxAge(30 * 24 * time.Hour).Await(ctx); err != nil {
		t.Fatal(err)
	}
	if s.MaxAge() != 30*24*time.Hour || time.Until(s.Expires()) < 29*24*time.Hour {
		t.Fatalf("after SetMaxAge: maxAge %v, expires %v", s.MaxAge(), s.Expires())
	}
	again, err := session.Open(ctx, mem, s.Token(), session.Options{MaxAge: time.Hour}, "x")
	if err != nil {
		t.Fatal(err)
	}
	if again.MaxAge() != 30*24*time.Hour || again.UserID() != "ann" {
		t.Fatalf("loaded: maxAge %v, user %q", again.MaxAge(), again.UserID())
	}
	if _, err := again.Set("x", 1).Await(ctx); err != nil {
		t.Fatal(err)
	}
	if time.Until(again.Expires()) < 29*24*time.Hour {
		t.Fatal("a later update rolled the expiry by the default, not the session's own maxAge")
	}
	metas, err := mem.UserSessions(ctx, "ann")
	if err != nil || len(metas) != 1 || metas[0].ID != s.ID() {
		t.Fatalf("UserSessions = %v, %v", metas, err)
	}
	// Login with nothing after it still stores the bound session.
	b, _ := session.New(ctx, mem, session.Options{})
	b.Login("ann")
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if metas, _ := mem.UserSessions(ctx, "ann"); len(metas) != 2 {
		t.Fatalf("after a second login: %d sessions", len(metas))
	}
}

// A remember-me session written through Attach before any load keeps its
// own lifetime: the default one the write guessed is corrected in the same
// Flush.
func TestAttachedWriteKeepsTheSessionsOwnMaxAge(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s, _ := session.New(ctx, st, session.Options{MaxAge: time.Hour})
	if _, err := s.SetMaxAge(30 * 24 * time.Hour).Await(ctx); err != nil {
		t.Fatal(err)
	}
	a, _ := session.Attach(ctx, st, s.Token(), session.Options{MaxAge: time.Hour})
	a.Fetch("x")
	a.Set("x", 1)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	doc, err := st.Store.Load(ctx, s.ID(), []string{})
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(doc[session.FieldExpires].(time.Time)); left < 29*24*time.Hour {
		t.Fatalf("after an attached write the session expires in %v, want its own 30 days", left)
	}
	if a.MaxAge() != 30*24*time.Hour || time.Until(a.Expires()) < 29*24*time.Hour {
		t.Fatalf("session reports maxAge %v, expires in %v", a.MaxAge(), time.Until(a.Expires()))
	}
}

// Checking for a flash message costs a new visitor nothing.
func TestTakeOnANewSessionStoresNothing(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s, _ := session.New(ctx, st, session.Options{})
	v, err := s.Take("flash").Await(ctx)
	if err != nil || v != nil {
		t.Fatalf("Take on a new session = %v, %v", v, err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if calls, _ := st.reset(); len(calls) != 0 {
		t.Fatalf("Take on a new session made store calls %v", calls)
	}
	if a, _ := s.Cookie(); a != session.CookieKeep {
		t.Fatalf("cookie action %v, want none", a)
	}
	// Queued before it, a Set makes the Take go to the store.
	s.Set("flash", "hi")
	if v, err := s.Take("flash").Await(ctx); err != nil || v != "hi" {
		t.Fatalf("Take after Set on a new session = %v, %v", v, err)
	}
}
