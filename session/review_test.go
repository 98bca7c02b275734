package session_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

// A command refused before it is queued (a bad value, past MaxCommands)
// that nobody awaits is still reported by Flush, never dropped silently.
func TestUnawaitedRefusedCommandIsReported(t *testing.T) {
	ctx := context.Background()
	s := stored(t, newStore(t))
	s.Set("bad", make(chan int))
	if err := s.Flush(ctx); !errors.Is(err, session.ErrInvalidValue) {
		t.Fatalf("Flush = %v, want the refused command's ErrInvalidValue", err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("second Flush = %v: reported once", err)
	}
	small, _ := session.New(ctx, newStore(t), session.Options{MaxCommands: 2})
	small.Set("a", 1)
	small.Set("b", 2)
	small.Set("c", 3)
	if err := small.Flush(ctx); !errors.Is(err, session.ErrTooLarge) {
		t.Fatalf("Flush past MaxCommands = %v, want ErrTooLarge", err)
	}
	// An awaited refusal is the caller's, not Flush's.
	s.Set("bad", make(chan int)).Await(ctx)
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush after an awaited refusal = %v", err)
	}
}

// An unawaited failing command is reported even when another future of its
// batch was awaited.
func TestUnawaitedFailureInAnAwaitedBatchIsReported(t *testing.T) {
	ctx := context.Background()
	s := stored(t, newStore(t))
	if _, err := s.Set("s", "text").Await(ctx); err != nil {
		t.Fatal(err)
	}
	s.Inc("s", 1) // fails; nobody awaits it
	if _, err := s.Set("a", 1).Await(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); !errors.Is(err, session.ErrTypeMismatch) {
		t.Fatalf("Flush = %v, want the unawaited Inc's ErrTypeMismatch", err)
	}
}

// Many failing commands in one batch cost a bounded number of store calls.
func TestManyFailingCommandsCostBoundedCalls(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	var setup []string
	for i := range 200 {
		setup = append(setup, fmt.Sprintf("w%d", i))
		s.Set(setup[i], "text")
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st.reset()
	ok := s.Set("fine", 1)
	for _, k := range setup {
		s.Inc(k, 1)
	}
	s.Flush(ctx) //nolint:errcheck // failures expected
	calls, _ := st.reset()
	if len(calls) > 20 {
		t.Fatalf("200 failing commands took %d store calls, want at most about 17", len(calls))
	}
	if _, err := ok.Await(ctx); err != nil && !errors.Is(err, session.ErrTooLarge) {
		t.Fatalf("the good command = %v", err)
	}
}

// A CSRF token made after a queued Login, Regenerate or Destroy belongs to
// the session the response's cookie carries.
func TestCSRFAfterAQueuedReplace(t *testing.T) {
	for _, name := range []string{"Login", "Regenerate", "Destroy"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := newStore(t)
			s := stored(t, st)
			switch name {
			case "Login":
				s.Login("ann")
			case "Regenerate":
				s.Regenerate()
			case "Destroy":
				s.Destroy()
			}
			tok := s.CreateCSRF()
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			action, cookieToken := s.Cookie()
			if action != session.CookieSet {
				t.Fatalf("cookie action %v, want CookieSet: the token needs a session", action)
			}
			next, err := session.Open(ctx, st, cookieToken, session.Options{MaxAge: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if err := next.AssertCSRF(tok); err != nil {
				t.Fatalf("the next request refuses the token: %v", err)
			}
		})
	}
}

// Taking a dotted path leaves the rest of its top-level key in the view.
func TestTakeDottedKeepsTheRestOfTheKey(t *testing.T) {
	ctx := context.Background()
	s := stored(t, newStore(t))
	if _, err := s.Set("flash", map[string]any{"msg": "hi", "kind": "info"}).Await(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := s.Take("flash.msg").Await(ctx)
	if err != nil || v != "hi" {
		t.Fatalf("Take = %v, %v", v, err)
	}
	if k, _ := s.GetString("flash.kind"); k != "info" {
		t.Fatalf("flash.kind = %q after taking flash.msg, want info", k)
	}
	if _, ok := s.Get("flash.msg"); ok {
		t.Fatal("flash.msg still in the view")
	}
}

// A session found gone has its cookie cleared.
func TestGoneSessionClearsTheCookie(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	if err := st.Store.Delete(ctx, s.ID()); err != nil {
		t.Fatal(err)
	}
	again, err := session.Open(ctx, st, s.Token(), session.Options{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if a, _ := again.Cookie(); a != session.CookieClear {
		t.Fatalf("cookie action %v for a session found gone, want CookieClear", a)
	}
}

// failingApply is a real store whose Apply fails, after a pause.
type failingApply struct {
	session.Store
	pause time.Duration
}

func (f failingApply) Apply(context.Context, string, session.Update) (session.Doc, error) {
	time.Sleep(f.pause)
	return nil, errors.New("apply: store down")
}

// Failures of entries whose futures the library wraps (Take, Login,
// Destroy, Regenerate) are reported when nobody awaited them.
func TestUnawaitedTakeAndLoginFailuresAreReported(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s, _ := session.New(ctx, st, session.Options{})
	s.Login("")
	if err := s.Flush(ctx); !errors.Is(err, session.ErrInvalidValue) {
		t.Fatalf("an unawaited Login(\"\"): Flush = %v, want ErrInvalidValue", err)
	}
	stored := stored(t, st)
	if _, err := stored.Set("a", 1).Await(ctx); err != nil {
		t.Fatal(err)
	}
	a, _ := session.Attach(ctx, failingApply{Store: st}, stored.Token(), session.Options{MaxAge: time.Hour})
	a.Take("a")
	if err := a.Flush(ctx); err == nil {
		t.Fatal("an unawaited Take that failed: Flush reported nothing")
	}
}

// A Flush that runs while another flush of the session is still sending
// reports that flush's failures. The store holds the first call until the
// second Flush has started, so that the two always overlap.
func TestFlushReportsFailuresOfAConcurrentFlush(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s0 := stored(t, st)
	for range 5 {
		gate := gatedFailingApply{Store: st, entered: make(chan struct{}, 1), release: make(chan struct{})}
		s, _ := session.Attach(ctx, gate, s0.Token(), session.Options{MaxAge: time.Hour})
		for j := range 50 {
			s.Set(fmt.Sprintf("k%d", j), 1) // nobody awaits these
		}
		short, cancel := context.WithCancel(ctx)
		go func() { <-gate.entered; cancel() }()
		s.Set("b", 2).Await(short) // gives up once its flush is in the store; the flush goes on
		flushed := make(chan error, 1)
		go func() { flushed <- s.Flush(ctx) }()
		close(gate.release)
		if err := <-flushed; err == nil {
			t.Fatal("a Flush concurrent with a failing flush reported nothing, though 50 unawaited commands failed")
		}
	}
}

// gatedFailingApply fails every Apply; the first waits for release, after
// saying so on entered.
type gatedFailingApply struct {
	session.Store
	entered chan struct{}
	release chan struct{}
}

func (g gatedFailingApply) Apply(context.Context, string, session.Update) (session.Doc, error) {
	select {
	case g.entered <- struct{}{}:
		<-g.release
	default:
	}
	return nil, errors.New("apply: store down")
}

// The expiry correction of an attached write never stores a new session
// after a Destroy.
func TestExpiryCorrectionAfterDestroyStoresNothing(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s, _ := session.New(ctx, st, session.Options{})
	if _, err := s.SetMaxAge(time.Hour).Await(ctx); err != nil {
		t.Fatal(err)
	}
	a, _ := session.Attach(ctx, st, s.Token(), session.Options{})
	a.Set("a", 1)
	a.Destroy()
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if act, _ := a.Cookie(); act != session.CookieClear || !a.IsNew() {
		t.Fatalf("after Set+Destroy: cookie action %v, IsNew %v: a new session was stored", act, a.IsNew())
	}
}

// A Take after Destroy or Regenerate has nothing to take: it resolves with
// nil and stores no new session (found by review: it made a Create, and
// Destroy's cookie became a new session's).
func TestTakeAfterDestroyOrRegenerateStoresNothing(t *testing.T) {
	ctx := context.Background()
	for _, replace := range []string{"Destroy", "Regenerate"} {
		t.Run(replace, func(t *testing.T) {
			st := newStore(t)
			s := stored(t, st)
			if _, err := s.Set("flash", "hi").Await(ctx); err != nil {
				t.Fatal(err)
			}
			st.reset()
			if replace == "Destroy" {
				s.Destroy()
			} else {
				s.Regenerate()
			}
			v, err := s.Take("flash").Await(ctx)
			if err != nil || v != nil {
				t.Fatalf("Take after %s: %v, %v; want nil", replace, v, err)
			}
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if calls, _ := st.reset(); len(calls) != 1 || calls[0] != "Delete" {
				t.Fatalf("store calls %v, want only the Delete", calls)
			}
			act, _ := s.Cookie()
			if replace == "Destroy" && act != session.CookieClear {
				t.Fatalf("cookie action %v after Destroy + Take, want CookieClear", act)
			}
		})
	}
}

// A Fetch of keys already loaded, issued after commands still queued,
// resolves after them, as a Fetch of keys not loaded does (found by
// review: it answered from the view before the queued Set).
func TestFetchOfLoadedKeysSeesQueuedCommands(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	s := stored(t, st)
	if _, err := s.Set("a", int64(1)).Await(ctx); err != nil {
		t.Fatal(err)
	}
	s.Set("a", int64(2))
	doc, err := s.Fetch("a").Await(ctx)
	if err != nil || doc["a"] != int64(2) {
		t.Fatalf("Fetch(a) after a queued Set(a, 2): %v, %v", doc["a"], err)
	}
	st.reset()
	if _, err := s.Fetch("a").Await(ctx); err != nil {
		t.Fatal(err)
	}
	if calls, _ := st.reset(); len(calls) != 0 {
		t.Fatalf("Fetch of a loaded key with nothing queued: store calls %v, want none", calls)
	}
}

// An invalid key given to Fetch is refused, and reported by Flush when
// nobody awaits the Fetch, like any refused entry.
func TestUnawaitedInvalidFetchIsReported(t *testing.T) {
	ctx := context.Background()
	s := stored(t, newStore(t))
	s.Fetch("$bad")
	if err := s.Flush(ctx); !errors.Is(err, session.ErrInvalidKey) {
		t.Fatalf("Flush after an unawaited Fetch($bad): %v, want ErrInvalidKey", err)
	}
}

// SetMaxAge refuses a lifetime that is not positive once kept to the
// millisecond, as the store keeps it (found by review: 0 < d < 1 ms
// became a plain Touch).
func TestSetMaxAgeBelowAMillisecondIsRefused(t *testing.T) {
	ctx := context.Background()
	s := stored(t, newStore(t))
	for _, d := range []time.Duration{0, -time.Second, 500 * time.Microsecond} {
		if _, err := s.SetMaxAge(d).Await(ctx); !errors.Is(err, session.ErrInvalidValue) {
			t.Errorf("SetMaxAge(%v): %v, want ErrInvalidValue", d, err)
		}
	}
	if _, err := s.SetMaxAge(time.Millisecond).Await(ctx); err != nil || s.MaxAge() != time.Millisecond {
		t.Errorf("SetMaxAge(1ms): %v, maxAge %v", err, s.MaxAge())
	}
}

// SetLabel refuses a label with NUL, which a PostgreSQL text column cannot
// hold (found when the conformance suite's random labels gained NUL).
func TestSetLabelRefusesNUL(t *testing.T) {
	s := stored(t, newStore(t))
	if _, err := s.SetLabel("phone\x00").Await(context.Background()); !errors.Is(err, session.ErrInvalidValue) {
		t.Fatalf("SetLabel with NUL: %v, want ErrInvalidValue", err)
	}
}
