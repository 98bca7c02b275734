package redis_test

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/internal/testenv"
)

// client returns a client of the test Redis, closed when t ends.
func client(t testing.TB) *goredis.Client {
	opt, err := goredis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	opt.ContextTimeoutEnabled = true
	c := goredis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
