package future_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/atomicsession/atomicsession/future"
)

// mustNotRun returns a continuation that fails the test if called.
func mustNotRun[A, R any](t *testing.T) func(A) (R, error) {
	return func(A) (R, error) {
		t.Error("continuation ran after a failure")
		var zero R
		return zero, nil
	}
}

func TestThen(t *testing.T) {
	ctx := context.Background()
	v, err := future.Resolve(2).
		Then(func(v int) (int, error) { return v + 1, nil }).
		Then(func(v int) (int, error) { return v * 10, nil }).
		Await(ctx)
	require.NoError(t, err)
	assert.Equal(t, 30, v)

	_, err = future.Reject[int](errBoom).Then(mustNotRun[int, int](t)).Await(ctx)
	assert.ErrorIs(t, err, errBoom)

	failed := future.Resolve(1).Then(func(int) (int, error) { return 0, errBoom })
	_, err = failed.Then(mustNotRun[int, int](t)).Await(ctx)
	assert.ErrorIs(t, err, errBoom, "a Then that fails skips the next Then")
}

func TestThenRunsWhenParentSettlesWithoutAwait(t *testing.T) {
	p, settle := future.NewPromise[int](nil)
	ran := make(chan int, 1)
	_ = p.Then(func(v int) (int, error) { ran <- v; return v, nil })
	settle(4, nil)
	assert.Equal(t, 4, <-ran, "a continuation runs when its parent settles, awaited or not")
}

func TestCatch(t *testing.T) {
	ctx := context.Background()
	v, err := future.Reject[string](errBoom).Catch(func(err error) (string, error) {
		assert.ErrorIs(t, err, errBoom)
		return "recovered", nil
	}).Await(ctx)
	require.NoError(t, err)
	assert.Equal(t, "recovered", v)

	v, err = future.Resolve("fine").Catch(mustNotRun[error, string](t)).Await(ctx)
	require.NoError(t, err)
	assert.Equal(t, "fine", v)

	other := errors.New("other")
	_, err = future.Reject[string](errBoom).Catch(func(error) (string, error) { return "", other }).Await(ctx)
	assert.ErrorIs(t, err, other)
}

func TestMap(t *testing.T) {
	ctx := context.Background()
	v, err := future.Map(future.Resolve(42), func(v int) (string, error) { return strconv.Itoa(v), nil }).Await(ctx)
	require.NoError(t, err)
	assert.Equal(t, "42", v)

	_, err = future.Map(future.Reject[int](errBoom), mustNotRun[int, string](t)).Await(ctx)
	assert.ErrorIs(t, err, errBoom)
}

func TestChain(t *testing.T) {
	ctx := context.Background()
	v, err := future.Chain(future.Resolve(3), func(v int) *future.Future[string] {
		return future.Go(ctx, func(context.Context) (string, error) { return strconv.Itoa(v * 2), nil })
	}).Await(ctx)
	require.NoError(t, err)
	assert.Equal(t, "6", v)

	_, err = future.Chain(future.Reject[int](errBoom), func(int) *future.Future[string] {
		t.Error("Chain's function ran after a failure")
		return future.Resolve("")
	}).Await(ctx)
	assert.ErrorIs(t, err, errBoom)

	_, err = future.Chain(future.Resolve(3), func(int) *future.Future[string] {
		return future.Reject[string](errBoom)
	}).Await(ctx)
	assert.ErrorIs(t, err, errBoom, "the inner future's failure")
}

func TestChainDemandsInnerOnlyWhenDemanded(t *testing.T) {
	for name, ctx := range map[string]context.Context{"background": context.Background(), "cancellable": cancellable(t)} {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int32
			gate := make(chan struct{})
			inner := future.New(context.Background(), func(context.Context) (int, error) {
				calls.Add(1)
				<-gate
				return 9, nil
			})
			c := future.Chain(future.Resolve(1), func(int) *future.Future[int] { return inner })
			goleak.VerifyNone(t)
			assert.Zero(t, calls.Load(), "inner ran before the chain was awaited")
			close(gate)
			v, err := c.Await(ctx)
			require.NoError(t, err)
			assert.Equal(t, 9, v)
			assert.EqualValues(t, 1, calls.Load())
		})
	}
}

func TestChainDemandedBeforeParentSettles(t *testing.T) {
	p, settle := future.NewPromise[int](nil)
	var calls atomic.Int32
	c := future.Chain(p, func(v int) *future.Future[int] {
		return future.New(context.Background(), counting(&calls, v+1))
	})
	done := c.Done() // demanded while the inner future does not exist yet
	settle(1, nil)
	<-done
	v, err := c.Await(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 2, v)
	assert.EqualValues(t, 1, calls.Load())
}

func TestLongChainParksNoGoroutines(t *testing.T) {
	p, settle := future.NewPromise[int](nil)
	f := p
	for range 1000 {
		f = f.Then(func(v int) (int, error) { return v + 1, nil })
	}
	_ = f.Done()
	goleak.VerifyNone(t) // 1000 pending stages, no goroutine
	settle(0, nil)
	v, err := f.Await(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1000, v)
}
