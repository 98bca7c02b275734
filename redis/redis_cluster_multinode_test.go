package redis_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/internal/faultapp"
	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/redis"
	"github.com/atomicsession/atomicsession/session"
	"github.com/atomicsession/atomicsession/sessiontest"
)

// redirects counts the ASK and MOVED replies that a cluster client's node
// connections received (the cluster client follows them).
type redirects struct{ ask, moved atomic.Int64 }

func (rd *redirects) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (rd *redirects) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		err := next(ctx, cmd)
		rd.count(err)
		return err
	}
}

func (rd *redirects) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			rd.count(c.Err())
		}
		return err
	}
}

func (rd *redirects) count(err error) {
	switch {
	case err == nil:
	case strings.HasPrefix(err.Error(), "ASK "):
		rd.ask.Add(1)
	case strings.HasPrefix(err.Error(), "MOVED "):
		rd.moved.Add(1)
	}
}

// multiNodeClient returns a cluster client of the three-master test
// cluster, counting redirections in rd if not nil, closed when t ends.
func multiNodeClient(t testing.TB, rd *redirects) *goredis.ClusterClient {
	t.Helper()
	c := goredis.NewClusterClient(&goredis.ClusterOptions{
		Addrs:                 testenv.RedisCluster(t).Addrs(),
		ContextTimeoutEnabled: true,
	})
	if rd != nil {
		c.OnNewNode(func(node *goredis.Client) { node.AddHook(rd) })
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestMultiNodeConformance runs the conformance suite on a real cluster of
// three masters (with a replica each), through a ClusterClient.
func TestMultiNodeConformance(t *testing.T) {
	c := multiNodeClient(t, nil)
	sessiontest.Run(t, func(t *testing.T) session.Store {
		return redis.NewStore(c, redis.WithPrefix(testenv.RedisPrefix(t)))
	}, sessiontest.Skip("Differential", "run in TestConformance; the cluster changes nothing in it"))
}

// TestMultiNodeSessionsSpread: sessions land on every master, not on one.
func TestMultiNodeSessionsSpread(t *testing.T) {
	ctx := context.Background()
	cl := testenv.RedisCluster(t)
	c := multiNodeClient(t, nil)
	store := redis.NewStore(c, redis.WithPrefix(testenv.RedisPrefix(t)))
	perNode := map[string]int{}
	for range 30 {
		m := session.Meta{ID: session.IDOf(newToken(t)), Expires: time.Now().Add(time.Hour), MaxAge: time.Hour, Created: time.Now()}
		if _, err := store.Create(ctx, m, session.Update{}); err != nil {
			t.Fatal(err)
		}
		key := store.Key(m.ID)
		owner, err := cl.SlotOwner(ctx, testenv.KeySlot(key))
		if err != nil {
			t.Fatal(err)
		}
		// The key is really there, on its slot's master.
		node := goredis.NewClient(&goredis.Options{Addr: owner.Addr})
		n, err := node.Exists(ctx, key).Result()
		_ = node.Close()
		if err != nil || n != 1 {
			t.Fatalf("EXISTS %s on its master %s = %d, %v; want 1", key, owner.Addr, n, err)
		}
		perNode[owner.Addr]++
	}
	if len(perNode) < 2 {
		t.Fatalf("30 sessions on %d node(s): %v; want more than one", len(perNode), perNode)
	}
	t.Logf("30 sessions over the masters: %v", perNode)
}

func newToken(t testing.TB) string {
	tok, err := session.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestMultiNodeTwoInstances: two app instances on two cluster clients,
// 32 goroutines × 50 increments on one cookie, alternating instances: the
// counter is exact.
func TestMultiNodeTwoInstances(t *testing.T) {
	prefix := testenv.RedisPrefix(t)
	faultapp.IncrementTwoInstances(t, [2]http.Handler{
		faultapp.App(t, redis.NewStore(multiNodeClient(t, nil), redis.WithPrefix(prefix)), middleware.Options{Timeout: 10 * time.Second}),
		faultapp.App(t, redis.NewStore(multiNodeClient(t, nil), redis.WithPrefix(prefix)), middleware.Options{Timeout: 10 * time.Second}),
	}, 32, 50)
}

// TestMultiNodeSlotMigration moves the slot of a live session to another
// master, with a pause in the migrating state, then to the third master,
// then back, while 8 workers on two app instances increment it: the
// clients see ASK and MOVED, under 1% of the requests fail, and every
// acknowledged increment is kept.
func TestMultiNodeSlotMigration(t *testing.T) {
	ctx := context.Background()
	cl := testenv.RedisCluster(t)
	prefix := testenv.RedisPrefix(t)
	var rd redirects
	clients := []*goredis.ClusterClient{multiNodeClient(t, &rd), multiNodeClient(t, &rd)}
	var apps []http.Handler
	for _, c := range clients {
		s := redis.NewStore(c, redis.WithPrefix(prefix))
		apps = append(apps, faultapp.App(t, s, middleware.Options{Timeout: 5 * time.Second}))
	}
	code, body, cookie, errText := faultapp.Do(apps[0], http.MethodPost, "/inc", "")
	if code != http.StatusOK || body != "1" || cookie == "" {
		t.Fatalf("first increment: %d %q (%s), cookie %q", code, body, errText, cookie)
	}
	// The session's key is the only key under the test's prefix.
	var keys []string
	var mu sync.Mutex
	if err := clients[0].ForEachMaster(ctx, func(ctx context.Context, node *goredis.Client) error {
		ks, err := node.Keys(ctx, prefix+"*").Result()
		mu.Lock()
		keys = append(keys, ks...)
		mu.Unlock()
		return err
	}); err != nil || len(keys) == 0 {
		t.Fatalf("find the session's keys: %v, %v", keys, err)
	}
	slot := testenv.KeySlot(keys[0])
	for _, k := range keys[1:] {
		if testenv.KeySlot(k) != slot {
			t.Fatalf("the session's keys %v are on different slots", keys)
		}
	}
	home, err := cl.SlotOwner(ctx, slot)
	if err != nil {
		t.Fatal(err)
	}
	var others []string
	for _, m := range cl.Masters() {
		if m != home {
			others = append(others, m.Addr)
		}
	}

	const workers = 8
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var total, acked, failed atomic.Int64
	var failures sync.Map // error text → count
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last int64
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				total.Add(1)
				code, body, set, errText := faultapp.Do(apps[(w+n)%2], http.MethodPost, "/inc", cookie)
				if code != http.StatusOK {
					failed.Add(1)
					v, _ := failures.LoadOrStore(fmt.Sprintf("%d %s", code, errText), new(atomic.Int64))
					v.(*atomic.Int64).Add(1)
					continue
				}
				acked.Add(1)
				v, err := strconv.ParseInt(body, 10, 64)
				if err != nil || v <= last || (set != "" && set != cookie) {
					t.Errorf("worker %d: answer %q after %d, cookie %q: lost increment or new session", w, body, last, set)
				}
				last = v
			}
		}()
	}
	pause := func() { time.Sleep(300 * time.Millisecond) }
	pause()
	start := time.Now()
	steps := []struct {
		to    string
		pause time.Duration
	}{{others[0], 500 * time.Millisecond}, {others[1], 200 * time.Millisecond}, {home.Addr, 0}}
	for _, st := range steps {
		if err := cl.MigrateSlot(ctx, slot, st.to, st.pause); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("migrate: %v", err)
		}
		pause()
	}
	took := time.Since(start)
	close(stop)
	wg.Wait()

	code, body, _, errText = faultapp.Do(apps[1], http.MethodGet, "/n", cookie)
	stored, err := strconv.ParseInt(body, 10, 64)
	if code != http.StatusOK || err != nil {
		t.Fatalf("read n after the migrations: %d %q (%s)", code, body, errText)
	}
	if stored < 1+acked.Load() || stored > 1+total.Load() {
		t.Errorf("stored n = %d; want between 1 + %d acknowledged and 1 + %d sent", stored, acked.Load(), total.Load())
	}
	node := goredis.NewClient(&goredis.Options{Addr: home.Addr})
	n, err := node.Exists(ctx, keys...).Result()
	_ = node.Close()
	if err != nil || n != int64(len(keys)) {
		t.Errorf("EXISTS of the session's keys on %s, their slot's master again = %d, %v; want %d", home.Addr, n, err, len(keys))
	}
	if f, n := failed.Load(), total.Load(); f*100 >= n {
		t.Errorf("%d of %d requests failed (%.2f%%), want under 1%%", f, n, 100*float64(f)/float64(n))
	}
	failures.Range(func(k, v any) bool {
		t.Logf("failed %d×: %s", v.(*atomic.Int64).Load(), k)
		return true
	})
	if rd.ask.Load() == 0 || rd.moved.Load() == 0 {
		t.Errorf("clients saw %d ASK and %d MOVED redirections, want some of each: the migration did not happen under the requests", rd.ask.Load(), rd.moved.Load())
	}
	t.Logf("slot %d moved %s → %s → %s → back in %v under %d requests (%d failed): %d ASK, %d MOVED seen; n = %d",
		slot, home.Addr, others[0], others[1], took.Round(time.Millisecond), total.Load(), failed.Load(), rd.ask.Load(), rd.moved.Load(), stored)
}
