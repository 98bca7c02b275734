package redis

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/atomicsession/atomicsession/session"
)

// These tests run session.Session, as the middleware does for each
// request, on the Redis store, counting the round trips and bytes of each
// request on the wire.

// request runs fn as one request on the session with token (a new session
// if ""), flushes it and returns its token afterwards.
func request(t *testing.T, s *Store, token string, keys []string, fn func(sess *session.Session)) string {
	t.Helper()
	var sess *session.Session
	var err error
	if keys == nil {
		sess, err = session.Attach(ctx, s, token, session.Options{})
	} else {
		sess, err = session.Open(ctx, s, token, session.Options{}, keys...)
	}
	if err != nil {
		t.Fatal(err)
	}
	fn(sess)
	if err := sess.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return sess.Token()
}

func TestSessionRoundTripsAndBytes(t *testing.T) {
	s, w := countingStore(t)
	var token string
	_, _, trips := w.measure(func() {
		token = request(t, s, "", nil, func(sess *session.Session) {
			sess.Set("blob", strings.Repeat("x", 64<<10))
			sess.Set("small", "s")
			sess.Set("cart", map[string]any{"items": []any{"a", "b"}, "total": 1.5})
			sess.Set("tags", []any{"x"})
			sess.Set("old", int64(1))
		})
	})
	if trips != 1 {
		t.Errorf("a new session's first request: %d round trips, want 1", trips)
	}

	// Read everything, then six commands that need Go semantics: 2.
	var got session.Doc
	sent, recv, trips := w.measure(func() {
		request(t, s, token, []string{}, func(sess *session.Session) {
			sess.Set("cart.note", "hi")
			sess.Pull("tags", "x")
			sess.AddToSet("labels", "new")
			sess.Rename("old", "renamed")
			sess.PushLast("recent", 3, int64(1), int64(2), int64(3), int64(4))
			f := sess.Inc("counter.f", 0.5)
			var err error
			if got, err = f.Await(ctx); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Logf("load all + 6 Go-path commands: %d round trips, sent %d B, received %d B", trips, sent, recv)
	if trips != 2 {
		t.Errorf("load all + 6 Go-path commands: %d round trips, want 2", trips)
	}
	if recv > 64<<10+8<<10 {
		t.Errorf("load all + 6 commands received %d B, want at most 64 KB + 8 KB", recv)
	}
	if c, _ := got["counter"].(map[string]any); c["f"] != 0.5 {
		t.Errorf("counter = %#v, want {f: 0.5}", got["counter"])
	}

	// Load one small key, write it: less than 4 KB, 2 round trips.
	sent, recv, trips = w.measure(func() {
		request(t, s, token, []string{"small"}, func(sess *session.Session) {
			if v, _ := sess.GetString("small"); v != "s" {
				t.Errorf("small = %q", v)
			}
			if sess.Loaded("blob") {
				t.Error("the big key was loaded")
			}
			sess.Set("small", "t")
		})
	})
	t.Logf("load small + 1 write: %d round trips, sent %d B, received %d B", trips, sent, recv)
	if trips != 2 || sent+recv >= 4<<10 {
		t.Errorf("load small + 1 write: %d round trips, %d B; want 2 and less than 4 KB", trips, sent+recv)
	}

	// Fetch with commands, without a prior load: 1.
	_, _, trips = w.measure(func() {
		request(t, s, token, nil, func(sess *session.Session) {
			sess.Set("cart.note", "again")
			f := sess.Fetch("small", "tags")
			if _, err := f.Await(ctx); err != nil {
				t.Fatal(err)
			}
			if v, _ := sess.GetString("small"); v != "t" {
				t.Errorf("fetched small = %q", v)
			}
		})
	})
	if trips != 1 {
		t.Errorf("fetch 2 keys + 1 command without a load: %d round trips, want 1", trips)
	}
}

// TestSessionTakeAndPushLast: 32 requests on one session Take a flash
// message: exactly one gets it; 33 PushLast(recent, 5) leave 5.
func TestSessionTakeAndPushLast(t *testing.T) {
	s, _ := newStore(t)
	token := request(t, s, "", nil, func(sess *session.Session) { sess.Set("flash", "saved") })
	var wg sync.WaitGroup
	var got atomic.Int32
	for i := range 33 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sess, err := session.Attach(context.Background(), s, token, session.Options{})
			if err != nil {
				t.Error(err)
				return
			}
			if i < 32 {
				v, err := sess.Take("flash").Await(ctx)
				if err != nil {
					t.Error(err)
				}
				if v == "saved" {
					got.Add(1)
				}
			}
			if _, err := sess.PushLast("recent", 5, int64(i)).Await(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := got.Load(); n != 1 {
		t.Errorf("%d of 32 Takes got the flash message, want 1", n)
	}
	request(t, s, token, []string{"recent", "flash"}, func(sess *session.Session) {
		if v, ok := sess.Get("flash"); ok {
			t.Errorf("the flash message is still there: %v", v)
		}
		if a, _ := sess.Get("recent"); len(a.([]any)) != 5 {
			t.Errorf("recent = %v, want 5 elements", a)
		}
	})
}
