package memory_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/session"
)

// clock is a settable time source for WithClock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func meta(id string, now time.Time, maxAge time.Duration) session.Meta {
	return session.Meta{ID: id, Created: now, Expires: now.Add(maxAge), MaxAge: maxAge}
}

func mustPrepare(t *testing.T, c session.Command) []session.Command {
	t.Helper()
	p, err := session.PrepareCommand(c)
	if err != nil {
		t.Fatal(err)
	}
	return []session.Command{p}
}

// sweepRunning reports whether a sweep goroutine of some Store is alive.
// A goroutine that has not run yet shows only where it was created.
func sweepRunning() bool {
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	return strings.Contains(stacks, "memory.(*Store).sweepLoop") ||
		strings.Contains(stacks, "created by github.com/atomicsession/atomicsession/memory.NewStore")
}

func TestCloseStopsSweep(t *testing.T) {
	s := memory.NewStore(memory.WithSweepInterval(time.Millisecond))
	if !sweepRunning() {
		t.Fatal("NewStore started no sweep goroutine")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The goroutine has finished its work when Close returns; give it the
	// moment it takes to exit.
	goleak.VerifyNone(t)
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNoSweepGoroutineWhenDisabled(t *testing.T) {
	s := memory.NewStore(memory.WithSweepInterval(0))
	defer s.Close()
	goleak.VerifyNone(t) // fails if a goroutine runs before Close

}

func TestUsableAfterClose(t *testing.T) {
	s := memory.NewStore()
	s.Close()
	ctx := context.Background()
	m := meta("a", time.Now(), time.Hour)
	if _, err := s.Create(ctx, m, session.Update{Commands: mustPrepare(t, session.Command{Op: session.OpSet, Path: "k", Value: "v"})}); err != nil {
		t.Fatalf("Create after Close: %v", err)
	}
	doc, err := s.Load(ctx, "a", nil)
	if err != nil || doc["k"] != "v" {
		t.Fatalf("Load after Close = %v, %v; want k = v", doc, err)
	}
}

func TestExpiredNotServedBeforeSweep(t *testing.T) {
	c := newClock()
	s := memory.NewStore(memory.WithSweepInterval(0), memory.WithClock(c.Now))
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Create(ctx, meta("a", c.Now(), time.Minute), session.Update{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "a", nil); err != nil {
		t.Fatalf("Load before expiry: %v", err)
	}
	c.Advance(time.Minute) // expires == now: expired
	if _, err := s.Load(ctx, "a", nil); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Load at expiry: %v; want session.ErrNotFound", err)
	}
	if _, err := s.Apply(ctx, "a", session.Update{Expires: c.Now().Add(time.Hour)}); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Apply at expiry: %v; want session.ErrNotFound", err)
	}
}

func TestCreateReplacesExpired(t *testing.T) {
	c := newClock()
	s := memory.NewStore(memory.WithSweepInterval(0), memory.WithClock(c.Now))
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Create(ctx, meta("a", c.Now(), time.Minute), session.Update{Commands: mustPrepare(t, session.Command{Op: session.OpSet, Path: "old", Value: true})}); err != nil {
		t.Fatal(err)
	}
	c.Advance(2 * time.Minute)
	doc, err := s.Create(ctx, meta("a", c.Now(), time.Minute), session.Update{})
	if err != nil {
		t.Fatalf("Create over an expired session: %v; want nil", err)
	}
	if _, ok := doc["old"]; ok {
		t.Errorf("the new session kept a key of the expired one: %v", doc)
	}
}

func TestSweepRemovesExpired(t *testing.T) {
	c := newClock()
	s := memory.NewStore(memory.WithSweepInterval(time.Millisecond), memory.WithClock(c.Now))
	defer s.Close()
	ctx := context.Background()
	for _, id := range []string{"short1", "short2"} {
		if _, err := s.Create(ctx, meta(id, c.Now(), time.Minute), session.Update{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Create(ctx, meta("long", c.Now(), time.Hour), session.Update{}); err != nil {
		t.Fatal(err)
	}
	if n := s.Len(); n != 3 {
		t.Fatalf("Len = %d; want 3", n)
	}
	c.Advance(2 * time.Minute)
	// Wait for the sweep (a condition, not a time limit on it): nothing
	// else reads the expired sessions, so only the sweep can remove them.
	for deadline := time.Now().Add(10 * time.Second); s.Len() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Len = %d ten seconds after expiry; want 1: the sweep did not run", s.Len())
		}
	}
	if _, err := s.Load(ctx, "long", nil); err != nil {
		t.Errorf("the sweep removed a live session: %v", err)
	}
}

func TestReturnedDocsAreCopies(t *testing.T) {
	s := memory.NewStore()
	defer s.Close()
	ctx := context.Background()
	value := map[string]any{"list": []any{"a"}}
	cmds := mustPrepare(t, session.Command{Op: session.OpSet, Path: "m", Value: value})
	created, err := s.Create(ctx, meta("a", time.Now(), time.Hour), session.Update{Commands: cmds})
	if err != nil {
		t.Fatal(err)
	}
	loaded, _ := s.Load(ctx, "a", nil)
	applied, _ := s.Apply(ctx, "a", session.Update{Expires: time.Now().Add(time.Hour), FetchAll: true})
	for _, doc := range []session.Doc{created, loaded, applied} {
		inner := doc["m"].(map[string]any)
		inner["list"].([]any)[0] = "changed"
		inner["new"] = true
		doc["top"] = true
	}
	cmds[0].Value.(map[string]any)["list"].([]any)[0] = "changed"
	value["list"].([]any)[0] = "changed"

	got, _ := s.Load(ctx, "a", nil)
	want := session.Doc{"m": map[string]any{"list": []any{"a"}}}
	if !session.Equal(map[string]any(got.User()), map[string]any(want)) {
		t.Errorf("stored session changed through a returned document or a command: %v", got.User())
	}
}

func TestTimesStoredAsUTCMilliseconds(t *testing.T) {
	s := memory.NewStore()
	defer s.Close()
	ctx := context.Background()
	zone := time.FixedZone("UTC+3", 3*3600)
	created := time.Now().In(zone).Add(123456 * time.Nanosecond)
	if _, err := s.Create(ctx, meta("a", created, time.Hour), session.Update{}); err != nil {
		t.Fatal(err)
	}
	exp := created.Add(2 * time.Hour)
	doc, err := s.Apply(ctx, "a", session.Update{Expires: exp})
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.MetaOf(doc)
	if err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2]time.Time{"created": {m.Created, created}, "expires": {m.Expires, exp}} {
		got, in := pair[0], pair[1]
		if got.Location() != time.UTC || !got.Equal(time.UnixMilli(in.UnixMilli())) {
			t.Errorf("%s = %v; want %v in UTC, truncated to the millisecond", name, got, in)
		}
	}
}

func TestCreateRejectsEmptyID(t *testing.T) {
	s := memory.NewStore()
	defer s.Close()
	if _, err := s.Create(context.Background(), meta("", time.Now(), time.Hour), session.Update{}); err == nil {
		t.Fatal("Create with an empty id succeeded")
	}
}
