package redis_test

import (
	"context"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/redis"
	"github.com/atomicsession/atomicsession/session"
	"github.com/atomicsession/atomicsession/sessiontest"
)

func TestConformance(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store {
		return redis.NewStore(client(t), redis.WithPrefix(testenv.RedisPrefix(t)))
	})
}

// TestConformanceTwoInstances runs the suite on two Stores with their own
// clients sharing one Redis, as two app instances would, each call going
// to the next instance in turn.
func TestConformanceTwoInstances(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store {
		prefix := testenv.RedisPrefix(t)
		return &twoInstances{stores: [2]*redis.Store{
			redis.NewStore(client(t), redis.WithPrefix(prefix)),
			redis.NewStore(client(t), redis.WithPrefix(prefix)),
		}}
	})
}

// twoInstances sends each call to the next of its stores in turn.
type twoInstances struct {
	stores [2]*redis.Store
	calls  atomic.Uint64
}

func (s *twoInstances) next() *redis.Store { return s.stores[s.calls.Add(1)%2] }

func (s *twoInstances) Load(ctx context.Context, id string, keys []string) (session.Doc, error) {
	return s.next().Load(ctx, id, keys)
}

func (s *twoInstances) Create(ctx context.Context, m session.Meta, u session.Update) (session.Doc, error) {
	return s.next().Create(ctx, m, u)
}

func (s *twoInstances) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	return s.next().Apply(ctx, id, u)
}

func (s *twoInstances) Delete(ctx context.Context, id string) error {
	return s.next().Delete(ctx, id)
}

func (s *twoInstances) UserSessions(ctx context.Context, userID string) ([]session.Meta, error) {
	return s.next().UserSessions(ctx, userID)
}

func (s *twoInstances) DeleteUserSessions(ctx context.Context, userID string, keep ...string) (int, error) {
	return s.next().DeleteUserSessions(ctx, userID, keep...)
}

// TestConformanceRing runs the suite through a *redis.Ring, which the
// package documentation says the store works with: every command of a
// batch names the one session key, so a ring sends it to one shard. The
// two shard names point at the one test server: this checks that MULTI and
// the scripts go through a Ring, not how a ring spreads keys.
func TestConformanceRing(t *testing.T) {
	opt, err := goredis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	sessiontest.Run(t, func(t *testing.T) session.Store {
		ring := goredis.NewRing(&goredis.RingOptions{
			Addrs:                 map[string]string{"a": opt.Addr, "b": opt.Addr},
			DB:                    opt.DB,
			ContextTimeoutEnabled: true,
		})
		t.Cleanup(func() { _ = ring.Close() })
		return redis.NewStore(ring, redis.WithPrefix(testenv.RedisPrefix(t)))
	})
}

// TestConformanceCluster runs the suite through a ClusterClient.
func TestConformanceCluster(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store {
		return redis.NewStore(clusterClient(t), redis.WithPrefix(testenv.RedisPrefix(t)))
	}, sessiontest.Skip("Differential", "run in TestConformance; the Cluster client changes nothing in it"))
}
