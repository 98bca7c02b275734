package redis_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/redis"
	"github.com/atomicsession/atomicsession/session"
)

// clusterClient returns a Cluster client of the test cluster, closed when
// t ends.
func clusterClient(t testing.TB) *goredis.ClusterClient {
	c := goredis.NewClusterClient(&goredis.ClusterOptions{
		Addrs:                 []string{testenv.RedisClusterAddr(t)},
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestClusterSlotIsTheID: in a real cluster, a session's key hashes to the
// slot of its id alone, so the hash tag holds whatever the prefix.
func TestClusterSlotIsTheID(t *testing.T) {
	ctx := context.Background()
	c := clusterClient(t)
	s := redis.NewStore(c, redis.WithPrefix("some:prefix:"))
	m := session.Meta{ID: session.IDOf(strconv.FormatInt(time.Now().UnixNano(), 10)), Expires: time.Now().Add(time.Hour), MaxAge: time.Hour, Created: time.Now()}
	if _, err := s.Create(ctx, m, session.Update{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Delete(ctx, m.ID) })
	got, err := c.ClusterKeySlot(ctx, s.Key(m.ID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	want, err := c.ClusterKeySlot(ctx, m.ID).Result()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("slot of %q = %d, slot of the id = %d", s.Key(m.ID), got, want)
	}
}

// TestClusterLargeFetch: a fetch of a large key, which goes in a
// MULTI/EXEC after the script, works through a Cluster and a Ring client.
func TestClusterLargeFetch(t *testing.T) {
	ctx := context.Background()
	opt, err := goredis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	ring := goredis.NewRing(&goredis.RingOptions{Addrs: map[string]string{"a": opt.Addr, "b": opt.Addr}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = ring.Close() })
	for name, c := range map[string]goredis.UniversalClient{"cluster": clusterClient(t), "ring": ring} {
		s := redis.NewStore(c, redis.WithPrefix(testenv.RedisPrefix(t)))
		blob := strings.Repeat("x", 64<<10)
		m := session.Meta{ID: session.IDOf(name + strconv.FormatInt(time.Now().UnixNano(), 10)), Expires: time.Now().Add(time.Hour), MaxAge: time.Hour, Created: time.Now()}
		if _, err := s.Create(ctx, m, session.Update{Commands: []session.Command{{Op: session.OpSet, Path: "blob", Value: blob}}}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Delete(ctx, m.ID) })
		doc, err := s.Apply(ctx, m.ID, session.Update{
			Commands: []session.Command{{Op: session.OpSet, Path: "seen", Value: int64(1)}},
			Expires:  time.Now().Add(time.Hour),
			Fetch:    []string{"blob"},
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if doc["blob"] != blob || doc["seen"] != int64(1) {
			t.Errorf("%s: result seen %v, blob present %v", name, doc["seen"], doc["blob"] != nil)
		}
	}
}
