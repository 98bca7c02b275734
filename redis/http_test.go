package redis_test

import (
	"net/http"
	"testing"

	"github.com/atomicsession/atomicsession/internal/faultapp"
	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/redis"
)

// TestHTTPIncAcrossTwoInstances: 32 clients share one session and send 50
// increments each through the middleware, alternating between two app
// instances (two Stores, two Redis clients, one Redis). No update is lost.
func TestHTTPIncAcrossTwoInstances(t *testing.T) {
	prefix := testenv.RedisPrefix(t)
	faultapp.IncrementTwoInstances(t, [2]http.Handler{
		faultapp.App(t, redis.NewStore(client(t), redis.WithPrefix(prefix)), middleware.Options{}),
		faultapp.App(t, redis.NewStore(client(t), redis.WithPrefix(prefix)), middleware.Options{}),
	}, 32, 50)
}
