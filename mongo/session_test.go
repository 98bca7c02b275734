package mongo_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/atomicsession/atomicsession/session"
)

// These tests drive the MongoDB store through package session, as a
// request does, and count what crosses the wire.

func TestSessionPartialLoadOn64KBSession(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s, err := session.New(ctx, f.store, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	blob := strings.Repeat("b", blobSize)
	if _, err := s.Set("blob", blob).Await(ctx); err != nil {
		t.Fatalf("Set blob: %v", err)
	}
	if _, err := s.Set("small", int64(1)).Await(ctx); err != nil {
		t.Fatalf("Set small: %v", err)
	}

	f.rec.reset()
	s, err = session.Open(ctx, f.store, s.Token(), session.Options{}, "small")
	if err != nil {
		t.Fatalf("Open(small): %v", err)
	}
	if v, ok := s.Get("small"); !ok || v != int64(1) {
		t.Fatalf("Get(small) = %v, %v", v, ok)
	}
	if s.Loaded("blob") {
		t.Fatalf("blob is loaded after Open(small)")
	}
	if _, err := s.Inc("small", 1).Await(ctx); err != nil {
		t.Fatalf("Inc: %v", err)
	}
	cmds := f.rec.take()
	t.Logf("Open(small) + Inc(small) on a 64 KB session: %v; %d B sent, %d B received", cmds, sent(cmds), received(cmds))
	if len(cmds) != 2 {
		t.Fatalf("Open(small) + Inc took %d round trips, want 2", len(cmds))
	}
	if n := cmds[0].bytes + cmds[0].reply; n >= 4*kb {
		t.Errorf("Open(small) moved %d B, want < 4 KB", n)
	}
	if !f.srv.ferret && sent(cmds)+received(cmds) >= 4*kb {
		t.Errorf("Open(small) + Inc moved %d B, want < 4 KB", sent(cmds)+received(cmds))
	}
	if v, _ := s.Get("small"); v != int64(2) {
		t.Fatalf("Get(small) after Inc = %v, want 2 (own write visible)", v)
	}
	if _, err := s.Fetch("blob").Await(ctx); err != nil {
		t.Fatalf("Fetch(blob): %v", err)
	}
	if v, _ := s.Get("blob"); v != blob {
		t.Fatalf("blob not loaded by Fetch")
	}
}

func TestSessionLoginListsAndRevokes(t *testing.T) {
	f := newFixture(t)
	f.ensureIndex(t)
	ctx := context.Background()
	var sessions []*session.Session
	for range 3 {
		s, err := session.New(ctx, f.store, session.Options{})
		if err != nil {
			t.Fatal(err)
		}
		f.rec.reset()
		login := s.Login("alice")
		set := s.Set("cart", int64(1))
		if err := s.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if _, err := login.Await(ctx); err != nil {
			t.Fatalf("Login: %v", err)
		}
		if _, err := set.Await(ctx); err != nil {
			t.Fatalf("Set after Login: %v", err)
		}
		if cmds := f.rec.take(); len(cmds) != 1 || cmds[0].name != "findAndModify" {
			t.Fatalf("Login of a new visitor + Set sent %v, want one findAndModify (the bound session created with its first command)", cmds)
		}
		sessions = append(sessions, s)
	}
	metas, err := f.store.UserSessions(ctx, "alice")
	if err != nil || len(metas) != 3 {
		t.Fatalf("after three logins UserSessions = %v, %v; want 3", metas, err)
	}
	keep := sessions[0].ID()
	if n, err := f.store.DeleteUserSessions(ctx, "alice", keep); err != nil || n != 2 {
		t.Fatalf("DeleteUserSessions = %d, %v; want 2", n, err)
	}
	metas, err = f.store.UserSessions(ctx, "alice")
	if err != nil || len(metas) != 1 || metas[0].ID != keep {
		t.Fatalf("after logging out the others UserSessions = %v, %v; want just %s", metas, err, keep)
	}
	// A revoked session's next request gets a fresh, unbound session.
	s, err := session.Open(ctx, f.store, sessions[1].Token(), session.Options{})
	if err != nil {
		t.Fatalf("Open of a revoked session: %v", err)
	}
	if s.ID() == sessions[1].ID() || s.UserID() != "" {
		t.Fatalf("a revoked session opened as %s bound to %q, want a new unbound session", s.ID(), s.UserID())
	}
}

func TestSessionTakeAndPushLastConcurrently(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s, err := session.New(ctx, f.store, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set("flash", "saved").Await(ctx); err != nil {
		t.Fatalf("Set: %v", err)
	}
	token := s.Token()
	var got atomic.Int32
	var wg sync.WaitGroup
	for i := range 33 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := session.Attach(ctx, f.store, token, session.Options{})
			if err != nil {
				t.Errorf("Attach: %v", err)
				return
			}
			v, err := r.Take("flash").Await(ctx)
			if err != nil {
				t.Errorf("Take: %v", err)
				return
			}
			if v == "saved" {
				got.Add(1)
			}
			if _, err := r.PushLast("recent", 5, int64(i)).Await(ctx); err != nil {
				t.Errorf("PushLast: %v", err)
			}
		}()
	}
	wg.Wait()
	if g := got.Load(); g != 1 {
		t.Fatalf("%d of 33 concurrent requests took the flash message, want 1", g)
	}
	doc, err := f.store.Load(ctx, s.ID(), []string{"recent", "flash"})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if recent, _ := doc["recent"].([]any); len(recent) != 5 || doc["flash"] != nil {
		t.Fatalf("after 33 concurrent PushLast(5) and Takes: recent %v, flash %v", doc["recent"], doc["flash"])
	}
}
