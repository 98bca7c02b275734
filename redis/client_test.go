package redis_test

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/internal/testenv"
)

// client returns a client of the test Redis, closed when t ends.
func client(t testing.TB) *goredis.Client {
	return clientOf(t, testenv.RedisURL(t))
}

// clientOf returns a client of the Redis at url, with
// ContextTimeoutEnabled, closed when t ends.
func clientOf(t testing.TB, url string) *goredis.Client {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.ContextTimeoutEnabled = true
	c := goredis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
