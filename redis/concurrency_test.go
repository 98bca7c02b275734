package redis

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/session"
)

// TestConcurrentIncrementsAreExact runs 32 goroutines × 50 Inc on one
// session through two Stores on two clients (two app instances), for
// every layout (the Store's only with -short) and both paths of the hash
// layouts: the top-level key runs in the script, the dotted one in Go with
// optimistic retries.
func TestConcurrentIncrementsAreExact(t *testing.T) {
	const workers, each = 32, 50
	for _, l := range layouts {
		if testing.Short() && l.name != "hash" {
			continue
		}
		for _, key := range []string{"n", "c.n"} {
			t.Run(l.name+"/"+key, func(t *testing.T) {
				prefix := testenv.RedisPrefix(t)
				stores := []session.Store{l.make(newClient(t), prefix), l.make(newClient(t), prefix)}
				m := newMeta(t)
				if _, err := stores[0].Create(ctx, m, session.Update{}); err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				errs := make(chan error, workers)
				for w := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs <- hammer(ctx, stores[w%2], m, key, each)
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
				doc, err := stores[1].Load(ctx, m.ID, nil)
				if err != nil {
					t.Fatal(err)
				}
				if got := lookup(doc, key); got != int64(workers*each) {
					t.Errorf("%s = %#v, want %d", key, got, workers*each)
				}
				retries := l.retries(stores[0]) + l.retries(stores[1])
				t.Logf("%s %s: %d retries for %d batches", l.name, key, retries, workers*each)
			})
		}
	}
}

// hammer applies n Inc of key by 1 to the session m.
func hammer(ctx context.Context, s session.Store, m session.Meta, key string, n int) error {
	for range n {
		if _, err := s.Apply(ctx, m.ID, upd(m.Expires, []session.Command{inc(key, int64(1))})); err != nil {
			return fmt.Errorf("Apply: %w", err)
		}
	}
	return nil
}

// lookup returns the value at a path of at most two segments.
func lookup(doc session.Doc, path string) any {
	if len(path) > 2 && path[1] == '.' {
		sub, _ := doc[path[:1]].(map[string]any)
		return sub[path[2:]]
	}
	return doc[path]
}
