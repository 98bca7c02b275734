package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/session"
)

// newClient returns a client of the test Redis (see testenv.RedisURL),
// closed when tb ends.
func newClient(tb testing.TB) *goredis.Client {
	tb.Helper()
	return clientOf(tb, testenv.RedisURL(tb), func(o *goredis.Options) { o.PoolSize = 64 })
}

// clientOf returns a client of the Redis at url, with
// ContextTimeoutEnabled and then the options that adjust sets, closed when
// tb ends.
func clientOf(tb testing.TB, url string, adjust ...func(*goredis.Options)) *goredis.Client {
	tb.Helper()
	opt, err := goredis.ParseURL(url)
	if err != nil {
		tb.Fatalf("parse %s: %v", url, err)
	}
	opt.ContextTimeoutEnabled = true
	for _, f := range adjust {
		f(opt)
	}
	c := goredis.NewClient(opt)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// loadScripts loads the Store's scripts into the cache of c's Redis, so
// that no EVALSHA meets NOSCRIPT (which costs one round trip more, once).
func loadScripts(tb testing.TB, c goredis.Scripter) {
	tb.Helper()
	for _, sc := range allScripts {
		if err := sc.Load(ctx, c).Err(); err != nil {
			tb.Fatal(err)
		}
	}
}

// newStore returns a Store on its own client with a key prefix of its own.
func newStore(tb testing.TB, opts ...Option) (*Store, *goredis.Client) {
	tb.Helper()
	c := newClient(tb)
	return NewStore(c, append([]Option{WithPrefix(testenv.RedisPrefix(tb))}, opts...)...), c
}

// newID returns a random session id.
func newID(tb testing.TB) string {
	tb.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// newMeta returns the reserved fields of a new session living for an hour.
func newMeta(tb testing.TB) session.Meta {
	now := time.Now().UTC()
	return session.Meta{
		ID:      newID(tb),
		Expires: now.Add(time.Hour),
		MaxAge:  time.Hour,
		Created: now,
	}
}

// create stores a new session without commands.
func create(tb testing.TB, s *Store) session.Meta {
	tb.Helper()
	m := newMeta(tb)
	if _, err := s.Create(context.Background(), m, session.Update{}); err != nil {
		tb.Fatalf("Create: %v", err)
	}
	return m
}

// upd returns an Update of cmds moving expires to exp.
func upd(exp time.Time, cmds []session.Command) session.Update {
	return session.Update{Commands: cmds, Expires: exp}
}

func set(key string, v any) session.Command {
	return session.Command{Op: session.OpSet, Path: key, Value: v}
}
func inc(key string, by any) session.Command {
	return session.Command{Op: session.OpInc, Path: key, Value: by}
}
func unset(key string) session.Command { return session.Command{Op: session.OpUnset, Path: key} }

func listenLoopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
