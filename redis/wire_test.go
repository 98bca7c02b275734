package redis

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/session"
)

// wire counts what a go-redis client moves: bytes on its connections (a
// counting net.Conn from the Dialer) and round trips (a hook: one per
// command sent alone, one per pipeline or transaction).
type wire struct {
	sent, recv, trips atomic.Int64
}

type countingConn struct {
	net.Conn
	w *wire
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.w.recv.Add(int64(n))
	return n, err
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.w.sent.Add(int64(n))
	return n, err
}

func (w *wire) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (w *wire) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		w.trips.Add(1)
		return next(ctx, cmd)
	}
}

func (w *wire) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		w.trips.Add(1)
		return next(ctx, cmds)
	}
}

// counts returns what w counted so far.
func (w *wire) counts() (sent, recv, trips int64) {
	return w.sent.Load(), w.recv.Load(), w.trips.Load()
}

// countingStore returns a Store whose client's traffic w counts.
func countingStore(t *testing.T, opts ...Option) (*Store, *wire) {
	t.Helper()
	w := &wire{}
	var d net.Dialer
	c := clientOf(t, testenv.RedisURL(t), func(o *goredis.Options) {
		o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{Conn: c, w: w}, nil
		}
	})
	c.AddHook(w)
	s := NewStore(c, append([]Option{WithPrefix(testenv.RedisPrefix(t))}, opts...)...)
	loadScripts(t, c)
	return s, w
}

// measure runs fn and returns the bytes sent and received and the round
// trips it cost.
func (w *wire) measure(fn func()) (sent, recv, trips int64) {
	s0, r0, t0 := w.counts()
	fn()
	s1, r1, t1 := w.counts()
	return s1 - s0, r1 - r0, t1 - t0
}

// bigSession creates a session holding a 64 KB string "blob", a small
// string "small" and a small document "d".
func bigSession(t *testing.T, s *Store) session.Meta {
	t.Helper()
	m := newMeta(t)
	cmds := []session.Command{
		set("blob", strings.Repeat("x", 64<<10)),
		set("small", "s"),
		set("d", map[string]any{"n": int64(1)}),
	}
	if _, err := s.Create(ctx, m, session.Update{Commands: cmds}); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBytesOnTheWire: on a session holding a 64 KB key, loading everything
// and writing a small key receives the session once (not twice, as when
// every write returned the whole session); loading only the small key and
// writing it moves less than 4 KB; fetching the big key afterwards brings
// it.
func TestBytesOnTheWire(t *testing.T) {
	s, w := countingStore(t)
	m := bigSession(t, s)
	exp := m.Expires.Add(time.Minute)

	for name, cmd := range map[string]session.Command{"native": set("small", "t"), "go path": set("d.n", int64(2))} {
		sent, recv, trips := w.measure(func() {
			if _, err := s.Load(ctx, m.ID, nil); err != nil {
				t.Fatal(err)
			}
			doc, err := s.Apply(ctx, m.ID, upd(exp, []session.Command{cmd}))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := doc["blob"]; ok {
				t.Errorf("%s: Apply returned the untouched 64 KB key", name)
			}
		})
		t.Logf("%s: load all + 1 write: sent %d B, received %d B, %d round trips", name, sent, recv, trips)
		if recv > 64<<10+8<<10 {
			t.Errorf("%s: load all + 1 write received %d B, want at most 64 KB + 8 KB", name, recv)
		}
		if trips != 2 {
			t.Errorf("%s: load all + 1 write took %d round trips, want 2", name, trips)
		}
	}

	for name, cmd := range map[string]session.Command{"native": set("small", "u"), "go path": set("d.n", int64(3))} {
		keys := []string{"small", "d"}
		sent, recv, trips := w.measure(func() {
			doc, err := s.Load(ctx, m.ID, keys)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := doc["blob"]; ok {
				t.Error("Load of small keys returned the big one")
			}
			if _, err := s.Apply(ctx, m.ID, upd(exp, []session.Command{cmd})); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("%s: load %q + 1 write: sent %d B, received %d B, %d round trips", name, keys, sent, recv, trips)
		if sent+recv >= 4<<10 {
			t.Errorf("%s: load %q + 1 write moved %d B, want less than 4 KB", name, keys, sent+recv)
		}
		if trips != 2 {
			t.Errorf("%s: load %q + 1 write took %d round trips, want 2", name, keys, trips)
		}
	}

	// Fetch the big key with a write: one round trip, and it comes back.
	_, recv, trips := w.measure(func() {
		doc, err := s.Apply(ctx, m.ID, session.Update{Commands: []session.Command{set("small", "v")}, Expires: exp, Fetch: []string{"blob"}})
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := doc["blob"].(string); len(b) != 64<<10 {
			t.Errorf("Fetch blob returned %d bytes, want 64 KB", len(b))
		}
	})
	if trips != 1 || recv < 64<<10 {
		t.Errorf("Fetch blob with a write: %d round trips, %d B received; want 1 and the blob", trips, recv)
	}
}

// TestRoundTripsOfAnyOperator: a read and then K non-overlapping commands
// of any operator cost 2 round trips: the Go path writes with the values
// the read left in the cache. Without the cache it reads them again (3).
func TestRoundTripsOfAnyOperator(t *testing.T) {
	cmds := []session.Command{
		set("d.a", "x"),
		{Op: session.OpPull, Path: "list", Value: int64(2)},
		{Op: session.OpAddToSet, Path: "tags", Values: []any{"a", "b"}},
		{Op: session.OpPop, Path: "queue", Value: int64(1)},
		{Op: session.OpRename, Path: "old", To: "new"},
		inc("f", 0.5),
		{Op: session.OpPush, Path: "recent", Values: []any{int64(9)}, Slice: 2},
		set("absent.x", true),
	}
	init := []session.Command{
		set("d", map[string]any{}), set("list", []any{int64(1), int64(2)}), set("tags", []any{"a"}),
		set("queue", []any{int64(1), int64(2)}), set("old", "o"), set("f", 1.0), set("recent", []any{int64(1), int64(2)}),
	}
	for _, tc := range []struct {
		name  string
		opts  []Option
		keys  []string
		trips int64
	}{
		{"load all", nil, nil, 2},
		{"load the touched keys", nil, []string{"d", "list", "tags", "queue", "old", "new", "f", "recent", "absent"}, 2},
		{"load other keys", nil, []string{"zzz"}, 3},
		{"no cache", []Option{WithCacheBytes(0)}, nil, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, w := countingStore(t, tc.opts...)
			m := newMeta(t)
			if _, err := s.Create(ctx, m, session.Update{Commands: init}); err != nil {
				t.Fatal(err)
			}
			s.cache.drop(m.ID) // as if another instance had created it
			var doc session.Doc
			_, _, trips := w.measure(func() {
				if _, err := s.Load(ctx, m.ID, tc.keys); err != nil {
					t.Fatal(err)
				}
				var err error
				if doc, err = s.Apply(ctx, m.ID, upd(m.Expires, cmds)); err != nil {
					t.Fatal(err)
				}
			})
			if trips != tc.trips {
				t.Errorf("read + %d commands: %d round trips, want %d (stats %+v)", len(cmds), trips, tc.trips, s.Stats())
			}
			base, err := session.ApplyCommands(session.Doc{}, init)
			if err != nil {
				t.Fatal(err)
			}
			want, err := session.ApplyCommands(base, cmds)
			if err != nil {
				t.Fatal(err)
			}
			delete(want, "old")
			if !identical(doc.User(), want.User()) {
				t.Errorf("result %#v, want %#v", doc.User(), want.User())
			}
		})
	}
}
