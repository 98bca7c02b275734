package redis_test

import (
	"context"
	"strconv"
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
