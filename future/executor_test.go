package future_test

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/atomicsession/atomicsession/future"
)

// inflight counts running tasks and remembers the most at once.
type inflight struct{ now, max atomic.Int32 }

func (c *inflight) enter() {
	n := c.now.Add(1)
	for m := c.max.Load(); n > m && !c.max.CompareAndSwap(m, n); m = c.max.Load() {
	}
}

func (c *inflight) leave() { c.now.Add(-1) }

func TestExecutorLimitBoundsConcurrency(t *testing.T) {
	const limit, tasks = 3, 24
	e := future.NewExecutor(limit)
	var c inflight
	started := make(chan struct{}, tasks)
	gate := make(chan struct{})
	fs := make([]*future.Future[int], tasks)
	for i := range fs {
		fs[i] = future.GoOn(e, context.Background(), func(context.Context) (int, error) {
			c.enter()
			defer c.leave()
			started <- struct{}{}
			<-gate
			return i, nil
		})
	}
	for range limit {
		<-started
	}
	runtime.Gosched()
	close(gate)
	v, err := future.All(fs...).Await(context.Background())
	require.NoError(t, err)
	assert.Len(t, v, tasks)
	e.Wait()
	assert.EqualValues(t, limit, c.max.Load(), "most tasks in flight at once")
}

func TestExecutorUnboundedRunsAllAtOnce(t *testing.T) {
	// Each of n tasks waits until all n have started: only possible without a bound.
	const n = 8
	var e future.Executor // the zero Executor has no limit
	var started atomic.Int32
	all := make(chan struct{})
	fs := make([]*future.Future[int], n)
	for i := range fs {
		fs[i] = future.GoOn(&e, context.Background(), func(context.Context) (int, error) {
			if started.Add(1) == n {
				close(all)
			}
			<-all
			return i, nil
		})
	}
	_, err := future.All(fs...).Await(context.Background())
	require.NoError(t, err)
	e.Wait()
}

func TestNewOnIsLazy(t *testing.T) {
	e := future.NewExecutor(1)
	var calls atomic.Int32
	f := future.NewOn(e, context.Background(), counting(&calls, 1))
	e.Wait()
	assert.Zero(t, calls.Load())
	v, err := f.Await(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, v)
	e.Wait()
	assert.EqualValues(t, 1, calls.Load())
}

func TestExecutorRecoversPanicsPerTask(t *testing.T) {
	e := future.NewExecutor(1)
	_, err := future.GoOn(e, context.Background(), panicInFn).Await(context.Background())
	requirePanic(t, err, "in fn", "panicInFn")
	exited := future.GoOn(e, context.Background(), func(context.Context) (int, error) { runtime.Goexit(); return 0, nil })
	after := future.GoOn(e, context.Background(), func(context.Context) (int, error) { return 2, nil })
	_, err = exited.Await(context.Background())
	assert.ErrorIs(t, err, future.ErrGoexit)
	v, err := after.Await(context.Background())
	require.NoError(t, err, "the executor goes on after a panic and a Goexit")
	assert.Equal(t, 2, v)
	e.Wait()
}

func TestExecutorSkipsQueuedWorkOfCancelledCaller(t *testing.T) {
	e := future.NewExecutor(1)
	gate := make(chan struct{})
	busy := future.GoOn(e, context.Background(), func(context.Context) (int, error) { <-gate; return 1, nil })
	ctx, cancel := context.WithCancelCause(context.Background())
	var calls atomic.Int32
	queued := future.GoOn(e, ctx, counting(&calls, 2))
	other := future.GoOn(e, context.Background(), counting(&calls, 3))
	cancel(errBoom)
	close(gate)
	_, err := queued.Await(context.Background())
	assert.ErrorIs(t, err, errBoom)
	v, err := other.Await(context.Background())
	require.NoError(t, err, "another caller's work is not affected")
	assert.Equal(t, 3, v)
	_, err = busy.Await(context.Background())
	require.NoError(t, err)
	e.Wait()
	assert.EqualValues(t, 1, calls.Load())
}

func TestBatchFailureCancelsOnlyItsOwnBatch(t *testing.T) {
	e := future.NewExecutor(4)
	otherStarted := make(chan struct{})
	gate := make(chan struct{})
	other := e.Batch(context.Background(), func(ctx context.Context) error {
		close(otherStarted)
		<-gate
		return ctx.Err() // nil unless something outside the batch cancelled it
	})
	<-otherStarted
	failing := e.Batch(context.Background(),
		func(context.Context) error { return errBoom },
		func(ctx context.Context) error {
			<-ctx.Done() // cancelled by its sibling's failure
			assert.ErrorIs(t, context.Cause(ctx), errBoom)
			return ctx.Err()
		})
	_, err := failing.Await(context.Background())
	assert.ErrorIs(t, err, errBoom)
	close(gate)
	_, err = other.Await(context.Background())
	require.NoError(t, err)
	e.Wait()
}

func TestBatchCancelledCallerDoesNotFailOthers(t *testing.T) {
	e := future.NewExecutor(2)
	ctx, cancel := context.WithCancelCause(context.Background())
	gate := make(chan struct{})
	started := make(chan struct{}, 2)
	wait := func(ctx context.Context) error {
		started <- struct{}{}
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	cancelled := e.Batch(ctx, wait)
	other := e.Batch(context.Background(), wait)
	<-started
	<-started
	cancel(errBoom)
	_, err := cancelled.Await(context.Background())
	assert.ErrorIs(t, err, errBoom)
	close(gate)
	_, err = other.Await(context.Background())
	require.NoError(t, err)
	e.Wait()
}

func TestBatchSkipsTasksAfterFailure(t *testing.T) {
	e := future.NewExecutor(1) // tasks run one after the other
	var calls atomic.Int32
	second := errors.New("second")
	_, err := e.Batch(context.Background(),
		func(context.Context) error { return errBoom },
		func(context.Context) error { calls.Add(1); return second },
	).Await(context.Background())
	assert.ErrorIs(t, err, errBoom)
	assert.NotErrorIs(t, err, second)
	e.Wait()
	assert.Zero(t, calls.Load())
}

func TestBatchPanicsAndNils(t *testing.T) {
	e := future.NewExecutor(2)
	ctx := context.Background()
	_, err := e.Batch(ctx, func(context.Context) error { panic("in task") }).Await(ctx)
	requirePanic(t, err, "in task", "TestBatchPanicsAndNils")
	_, err = e.Batch(ctx, func(context.Context) error { runtime.Goexit(); return nil }).Await(ctx)
	assert.ErrorIs(t, err, future.ErrGoexit)
	_, err = e.Batch(ctx, nil).Await(ctx)
	assert.ErrorIs(t, err, future.ErrNil)
	_, err = e.Batch(ctx).Await(ctx)
	require.NoError(t, err, "an empty batch succeeds")

	var nilExec *future.Executor
	_, err = nilExec.Batch(ctx).Await(ctx)
	assert.ErrorIs(t, err, future.ErrNil)
	_, err = future.GoOn(nilExec, ctx, panicInFn).Await(ctx)
	assert.ErrorIs(t, err, future.ErrNil)
	_, err = future.NewOn(nilExec, ctx, panicInFn).Await(ctx)
	assert.ErrorIs(t, err, future.ErrNil)
	e.Wait()
}

func TestExecutorWaitLeavesNoGoroutine(t *testing.T) {
	e := future.NewExecutor(2)
	for range 10 {
		future.GoOn(e, context.Background(), func(context.Context) (int, error) { return 0, nil })
	}
	e.Wait()
	goleak.VerifyNone(t)
}
