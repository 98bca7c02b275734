package future_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/atomicsession/atomicsession/future"
)

var errBoom = errors.New("boom")

// counting returns fn that counts its calls and returns v.
func counting[T any](calls *atomic.Int32, v T) func(context.Context) (T, error) {
	return func(context.Context) (T, error) {
		calls.Add(1)
		return v, nil
	}
}

// cancellable returns a context that can be cancelled (so Await does not run
// lazy work inline) and is cancelled at the end of the test.
func cancellable(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

func TestNewIsLazy(t *testing.T) {
	var calls atomic.Int32
	gate := make(chan struct{})
	f := future.New(context.Background(), func(context.Context) (int, error) {
		calls.Add(1)
		<-gate // a goroutine started for f would block here and show up
		return 7, nil
	})
	_ = f.Then(func(v int) (int, error) { return v, nil })
	goleak.VerifyNone(t)
	assert.Zero(t, calls.Load(), "fn ran before anyone awaited")
	close(gate)

	for range 3 {
		v, err := f.Await(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 7, v)
	}
	assert.EqualValues(t, 1, calls.Load(), "fn must run once")
}

func TestNewRunsOnceForConcurrentAwaiters(t *testing.T) {
	var calls atomic.Int32
	f := future.New(context.Background(), counting(&calls, "v"))
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			if i%2 == 0 {
				ctx = cancellable(t)
			}
			v, err := f.Await(ctx)
			assert.NoError(t, err)
			assert.Equal(t, "v", v)
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 1, calls.Load())
}

func TestAwaitingDerivedFutureStartsParent(t *testing.T) {
	for name, ctx := range map[string]context.Context{"background": context.Background(), "cancellable": cancellable(t)} {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int32
			f := future.New(context.Background(), counting(&calls, 2))
			g := future.Map(f.Then(func(v int) (int, error) { return v * 10, nil }),
				func(v int) (string, error) { return string(rune('a' + v)), nil })
			v, err := g.Await(ctx)
			require.NoError(t, err)
			assert.Equal(t, "u", v)
			assert.EqualValues(t, 1, calls.Load())
		})
	}
}

func TestDoneStartsLazyFuture(t *testing.T) {
	var calls atomic.Int32
	f := future.New(context.Background(), counting(&calls, 1))
	select {
	case <-f.Done():
	case <-t.Context().Done():
		t.Fatal("Done never closed")
	}
	assert.EqualValues(t, 1, calls.Load())
	v, err := f.Await(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, v)
}

func TestLazyWorkRunsUnderCreationContext(t *testing.T) {
	ctx := context.WithValue(context.Background(), ctxKey{}, "creator")
	f := future.New(ctx, func(ctx context.Context) (any, error) { return ctx.Value(ctxKey{}), nil })
	v, err := f.Await(context.WithValue(cancellable(t), ctxKey{}, "awaiter"))
	require.NoError(t, err)
	assert.Equal(t, "creator", v)
}

type ctxKey struct{}

func TestLazyWorkNotStartedAfterItsContextIsDone(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	var calls atomic.Int32
	f := future.New(ctx, counting(&calls, 1))
	cancel(errBoom)
	_, err := f.Await(context.Background())
	assert.ErrorIs(t, err, errBoom)
	assert.Zero(t, calls.Load())
}

func TestGoIsEager(t *testing.T) {
	started := make(chan struct{})
	f := future.Go(context.Background(), func(context.Context) (int, error) {
		close(started)
		return 3, nil
	})
	<-started // never awaited yet
	v, err := f.Await(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 3, v)
}

func TestResolveAndReject(t *testing.T) {
	v, err := future.Resolve("x").Await(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "x", v)

	_, err = future.Reject[string](errBoom).Await(context.Background())
	assert.ErrorIs(t, err, errBoom)

	_, err = future.Reject[string](nil).Await(context.Background())
	assert.ErrorIs(t, err, future.ErrNil, "Reject(nil) must not succeed")
}

func TestManyAwaitersSeeSameResult(t *testing.T) {
	type result struct{ n int }
	gate := make(chan struct{})
	want := &result{n: 1}
	f := future.Go(context.Background(), func(context.Context) (*result, error) {
		<-gate
		return want, errBoom
	})
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := f.Await(context.Background())
			assert.Same(t, want, v)
			assert.Same(t, errBoom, err)
		}()
	}
	close(gate)
	wg.Wait()
}

func TestAwaitContextBoundsOnlyTheWait(t *testing.T) {
	gate := make(chan struct{})
	f := future.Go(context.Background(), func(ctx context.Context) (string, error) {
		<-gate
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "done", nil
	})
	cause := errors.New("caller gave up")
	ctx, cancel := context.WithCancelCause(context.Background())
	waited := make(chan error)
	go func() {
		_, err := f.Await(ctx)
		waited <- err
	}()
	cancel(cause)
	assert.ErrorIs(t, <-waited, cause)

	close(gate)
	v, err := f.Await(context.Background())
	require.NoError(t, err, "the work must go on for other awaiters")
	assert.Equal(t, "done", v)

	v, err = f.Await(ctx)
	require.NoError(t, err, "a settled future returns its result even to a done context")
	assert.Equal(t, "done", v)
}

func TestAwaitWithDoneContextDoesNotStartLazyWork(t *testing.T) {
	var calls atomic.Int32
	f := future.New(context.Background(), counting(&calls, 1))
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errBoom)
	_, err := f.Await(ctx)
	assert.ErrorIs(t, err, errBoom)
	goleak.VerifyNone(t)
	assert.Zero(t, calls.Load())
}

func TestDoneServesSelect(t *testing.T) {
	gate := make(chan struct{})
	f := future.Go(context.Background(), func(context.Context) (int, error) {
		<-gate
		return 5, nil
	})
	select {
	case <-f.Done():
		t.Fatal("Done closed before the future settled")
	default:
	}
	close(gate)
	<-f.Done()
	v, err := f.Await(cancellable(t))
	require.NoError(t, err)
	assert.Equal(t, 5, v)
}

func TestNilArguments(t *testing.T) {
	var nilFuture *future.Future[int]
	ctx := context.Background()
	checks := map[string]error{}
	_, checks["Await on nil"] = nilFuture.Await(ctx)
	//lint:ignore SA1012 a nil context is the bad input under test
	_, checks["Await nil ctx"] = future.New(ctx, counting(new(atomic.Int32), 1)).Await(nil)
	//lint:ignore SA1012 a nil context is the bad input under test
	_, checks["New nil ctx"] = future.New(nil, counting(new(atomic.Int32), 1)).Await(ctx)
	_, checks["New nil fn"] = future.New[int](ctx, nil).Await(ctx)
	_, checks["Go nil fn"] = future.Go[int](ctx, nil).Await(ctx)
	_, checks["Then nil fn"] = future.Resolve(1).Then(nil).Await(ctx)
	_, checks["Then on nil"] = nilFuture.Then(func(v int) (int, error) { return v, nil }).Await(ctx)
	_, checks["Catch nil fn"] = future.Resolve(1).Catch(nil).Await(ctx)
	_, checks["Catch on nil"] = nilFuture.Catch(func(error) (int, error) { return 0, nil }).Await(ctx)
	_, checks["Map on nil"] = future.Map(nilFuture, func(v int) (int, error) { return v, nil }).Await(ctx)
	_, checks["Map nil fn"] = future.Map[int, int](future.Resolve(1), nil).Await(ctx)
	_, checks["Chain on nil"] = future.Chain(nilFuture, future.Resolve[int]).Await(ctx)
	_, checks["Chain nil fn"] = future.Chain[int, int](future.Resolve(1), nil).Await(ctx)
	_, checks["Chain nil inner"] = future.Chain(future.Resolve(1), func(int) *future.Future[int] { return nil }).Await(ctx)
	_, checks["All nil input"] = future.All(future.Resolve(1), nil).Await(ctx)
	_, checks["Any nil input"] = future.Any(nil, future.Resolve(1)).Await(ctx)
	for name, err := range checks {
		assert.ErrorIs(t, err, future.ErrNil, name)
	}
	<-nilFuture.Done() // closed, not blocking
}
