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
// ContextTimeoutEnabled and then the options that adjust sets, closed when
// t ends.
func clientOf(t testing.TB, url string, adjust ...func(*goredis.Options)) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.ContextTimeoutEnabled = true
	for _, f := range adjust {
		f(opt)
	}
	c := goredis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
