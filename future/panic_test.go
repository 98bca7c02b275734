package future_test

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atomicsession/atomicsession/future"
)

// requirePanic checks that err is a *PanicError with the value and a stack
// that shows where the panic happened.
func requirePanic(t *testing.T, err error, value any, frame string) {
	t.Helper()
	var pe *future.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, value, pe.Value)
	assert.Contains(t, string(pe.Stack), frame)
	assert.Contains(t, pe.Error(), "panic")
}

func panicInFn(context.Context) (int, error) { panic("in fn") }

func panicInThen(int) (int, error) { panic("in then") }

func TestPanicInFnBecomesPanicError(t *testing.T) {
	for name, ctx := range map[string]context.Context{"inline": context.Background(), "goroutine": cancellable(t)} {
		t.Run(name, func(t *testing.T) {
			_, err := future.New(context.Background(), panicInFn).Await(ctx)
			requirePanic(t, err, "in fn", "panicInFn")
		})
	}
	_, err := future.Go(context.Background(), panicInFn).Await(context.Background())
	requirePanic(t, err, "in fn", "panicInFn")
}

func TestPanicInContinuationBecomesPanicError(t *testing.T) {
	ctx := context.Background()
	f := future.Resolve(1).Then(panicInThen)
	_, err := f.Await(ctx)
	requirePanic(t, err, "in then", "panicInThen")
	_, err = f.Then(mustNotRun[int, int](t)).Await(ctx)
	requirePanic(t, err, "in then", "panicInThen")

	_, err = future.Map(future.Resolve(1), func(int) (string, error) { panic("in map") }).Await(ctx)
	requirePanic(t, err, "in map", "TestPanicInContinuation")
	_, err = future.Reject[int](errBoom).Catch(func(error) (int, error) { panic("in catch") }).Await(ctx)
	requirePanic(t, err, "in catch", "TestPanicInContinuation")
	_, err = future.Chain(future.Resolve(1), func(int) *future.Future[int] { panic("in chain") }).Await(ctx)
	requirePanic(t, err, "in chain", "TestPanicInContinuation")
}

func TestPanicErrorUnwrapsErrorValue(t *testing.T) {
	_, err := future.New(context.Background(), func(context.Context) (int, error) { panic(errBoom) }).
		Await(context.Background())
	assert.ErrorIs(t, err, errBoom)
	assert.Nil(t, (&future.PanicError{Value: "text"}).Unwrap())
}

func TestGoexitBecomesErrGoexit(t *testing.T) {
	p, settle := future.NewPromise[int](nil)
	exits := p.Then(func(int) (int, error) { runtime.Goexit(); return 0, nil })
	after := p.Then(func(v int) (int, error) { return v + 1, nil })
	go settle(1, nil) // the goroutine that runs the continuations ends in the first
	_, err := exits.Await(context.Background())
	assert.ErrorIs(t, err, future.ErrGoexit)
	v, err := after.Await(context.Background())
	require.NoError(t, err, "the continuations after one that called Goexit still run")
	assert.Equal(t, 2, v)

	_, err = future.Go(context.Background(), func(context.Context) (int, error) {
		runtime.Goexit()
		return 0, errors.New("unreachable")
	}).Await(context.Background())
	assert.ErrorIs(t, err, future.ErrGoexit)
}
