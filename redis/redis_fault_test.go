package redis_test

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/internal/faultapp"
	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/redis"
	"github.com/atomicsession/atomicsession/session"
)

// faultTimeout is the Options.Timeout of the outage tests, and faultSlack
// how much longer a failing request may take (a busy 2-core machine).
const (
	faultTimeout = time.Second
	faultSlack   = 500 * time.Millisecond
)

// TestOutageRedisKilled kills a durable redis-server (appendonly yes,
// appendfsync always) with SIGKILL under load from 8 clients and starts it
// again on the same port: 503 while it is down, served again after,
// nothing acknowledged lost (testenv.Outage checks it all).
func TestOutageRedisKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("an outage under load takes seconds")
	}
	srv := testenv.RestartableRedis(t)
	client := clientOf(t, srv.URL())
	h := faultapp.App(t, redis.NewStore(client, redis.WithPrefix(testenv.RedisPrefix(t))), middleware.Options{Timeout: faultTimeout})
	testenv.Outage(t, h, testenv.OutageOptions{
		Timeout:     faultTimeout,
		Slack:       faultSlack,
		Down:        4 * time.Second,
		StartOutage: func() error { return srv.Stop(os.Kill) },
		EndOutage:   srv.Start,
	})
}

// TestSlowRedis puts a proxy that adds 2 s of latency in front of Redis
// under load from 8 clients on an app with Options.MaxInFlight 4:
// requests end at Options.Timeout with 503, no more than 4 store calls are
// ever in flight, and all is well again when the latency goes.
func TestSlowRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("an outage under load takes seconds")
	}
	var proxy *testenv.Proxy
	client := clientOf(t, testenv.RedisURL(t), func(o *goredis.Options) {
		proxy = testenv.StartProxy(t, o.Addr)
		o.Addr = proxy.Addr()
	})
	const timeout, maxInFlight = 500 * time.Millisecond, 4
	store := &inFlightStore{Store: redis.NewStore(client, redis.WithPrefix(testenv.RedisPrefix(t)))}
	h := faultapp.App(t, store, middleware.Options{Timeout: timeout, MaxInFlight: maxInFlight})
	rep := testenv.Outage(t, h, testenv.OutageOptions{
		Timeout:     timeout,
		Slack:       faultSlack,
		Down:        3 * time.Second,
		StartOutage: func() error { proxy.SetLatency(2 * time.Second); return nil },
		EndOutage:   func() error { proxy.SetLatency(0); return nil },
	})
	if rep.MaxDuring < timeout {
		t.Errorf("the slowest request during the latency took %v, less than the timeout %v: the latency was not felt", rep.MaxDuring, timeout)
	}
	if most := store.most.Load(); most > maxInFlight {
		t.Errorf("%d store calls in flight at once, more than Options.MaxInFlight %d", most, maxInFlight)
	}
	t.Logf("store calls in flight at most: %d (MaxInFlight %d, 8 clients); connections through the proxy: %d in all, %d open at the end",
		store.most.Load(), maxInFlight, proxy.Total(), proxy.Open())
}

// inFlightStore counts the store calls in flight and keeps the most seen.
type inFlightStore struct {
	session.Store
	now, most atomic.Int64
}

func (s *inFlightStore) enter() func() {
	n := s.now.Add(1)
	for m := s.most.Load(); n > m && !s.most.CompareAndSwap(m, n); m = s.most.Load() {
	}
	return func() { s.now.Add(-1) }
}

func (s *inFlightStore) Load(ctx context.Context, id string, keys []string) (session.Doc, error) {
	defer s.enter()()
	return s.Store.Load(ctx, id, keys)
}

func (s *inFlightStore) Create(ctx context.Context, m session.Meta, u session.Update) (session.Doc, error) {
	defer s.enter()()
	return s.Store.Create(ctx, m, u)
}

func (s *inFlightStore) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	defer s.enter()()
	return s.Store.Apply(ctx, id, u)
}

func (s *inFlightStore) Delete(ctx context.Context, id string) error {
	defer s.enter()()
	return s.Store.Delete(ctx, id)
}
