package future_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atomicsession/atomicsession/future"
)

func TestPromiseSettles(t *testing.T) {
	p, settle := future.NewPromise[string](nil)
	select {
	case <-p.Done():
		t.Fatal("pending promise is done")
	default:
	}
	settle("first", nil)
	settle("second", errBoom) // no-op
	v, err := p.Await(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "first", v)
}

func TestPromiseOnDemandRunsOnceSynchronously(t *testing.T) {
	var calls atomic.Int32
	ran := false // plain bool: the race detector checks it is set in this goroutine
	var settle func(int, error)
	var p *future.Future[int]
	p, settle = future.NewPromise[int](func() {
		calls.Add(1)
		ran = true
	})
	assert.Zero(t, calls.Load(), "onDemand ran before anyone awaited")
	_ = p.Done()
	assert.True(t, ran, "onDemand must have run in the Done call")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := p.Await(context.Background())
			assert.NoError(t, err)
			assert.Equal(t, 1, v)
		}()
	}
	settle(1, nil)
	wg.Wait()
	assert.EqualValues(t, 1, calls.Load())
}

func TestPromiseOnDemandViaDerivedFutures(t *testing.T) {
	derive := map[string]func(*future.Future[int]) interface{ Done() <-chan struct{} }{
		"Then": func(p *future.Future[int]) interface{ Done() <-chan struct{} } {
			return p.Then(func(v int) (int, error) { return v, nil })
		},
		"Catch": func(p *future.Future[int]) interface{ Done() <-chan struct{} } {
			return p.Catch(func(error) (int, error) { return 0, nil })
		},
		"Map": func(p *future.Future[int]) interface{ Done() <-chan struct{} } {
			return future.Map(p, func(v int) (string, error) { return "", nil })
		},
		"Chain": func(p *future.Future[int]) interface{ Done() <-chan struct{} } {
			return future.Chain(p, future.Resolve[int])
		},
		"All": func(p *future.Future[int]) interface{ Done() <-chan struct{} } {
			return future.All(future.Resolve(0), p)
		},
		"Any": func(p *future.Future[int]) interface{ Done() <-chan struct{} } { return future.Any(p) },
	}
	for name, d := range derive {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int32
			var settle func(int, error)
			var p *future.Future[int]
			p, settle = future.NewPromise[int](func() {
				calls.Add(1)
				settle(5, nil) // settling from onDemand itself is allowed
			})
			g := d(p)
			assert.Zero(t, calls.Load())
			<-g.Done()
			<-g.Done()
			assert.EqualValues(t, 1, calls.Load())
		})
	}
}

func TestPromiseOnDemandSkippedWhenSettled(t *testing.T) {
	var calls atomic.Int32
	p, settle := future.NewPromise[int](func() { calls.Add(1) })
	settle(1, nil)
	_, err := p.Then(func(v int) (int, error) { return v, nil }).Await(context.Background())
	require.NoError(t, err)
	assert.Zero(t, calls.Load())
}

func TestPromiseOnDemandPanic(t *testing.T) {
	p, _ := future.NewPromise[int](func() { panic("on demand") })
	_, err := p.Await(context.Background())
	requirePanic(t, err, "on demand", "TestPromiseOnDemandPanic")
}

func TestPromiseConcurrentSettleFirstWins(t *testing.T) {
	p, settle := future.NewPromise[int](nil)
	derived := p.Then(func(v int) (int, error) { return v, nil })
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			settle(i, nil)
		}()
	}
	wg.Wait()
	v, err := p.Await(context.Background())
	require.NoError(t, err)
	w, err := derived.Await(context.Background())
	require.NoError(t, err)
	assert.Equal(t, v, w, "the derived future saw the one result that won")
}

func TestDeferredPromiseObserveHook(t *testing.T) {
	var demanded, observed int
	f, settle := future.NewDeferredPromise[int](func() { demanded++ }, func() { observed++ })
	settle(1, nil)() // settled before anyone looked
	if v, err := f.Await(context.Background()); v != 1 || err != nil {
		t.Fatalf("Await = %v, %v", v, err)
	}
	f.Await(context.Background())
	if demanded != 0 || observed != 1 {
		t.Fatalf("after settling then awaiting twice: demanded %d, observed %d; want 0 and 1", demanded, observed)
	}
	g, _ := future.NewDeferredPromise[int](nil, func() { observed++ })
	g.Then(func(v int) (int, error) { return v, nil }) // deriving counts as looking
	if observed != 2 {
		t.Fatalf("deriving from a pending promise did not observe it (%d)", observed)
	}
}
