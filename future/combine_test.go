package future_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atomicsession/atomicsession/future"
)

func TestAll(t *testing.T) {
	var calls atomic.Int32
	fs := []*future.Future[int]{
		future.New(context.Background(), counting(&calls, 1)),
		future.Go(context.Background(), counting(&calls, 2)),
		future.Resolve(3),
	}
	all := future.All(fs...)
	fs[0] = nil // All keeps its own copy of the arguments
	v, err := all.Await(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2, 3}, v)
	assert.EqualValues(t, 2, calls.Load(), "awaiting All demands the lazy inputs")
}

func TestAllEmpty(t *testing.T) {
	v, err := future.All[int]().Await(context.Background())
	require.NoError(t, err)
	assert.NotNil(t, v)
	assert.Empty(t, v)
}

func TestAllFailsFastNamingTheIndex(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	blocked := future.Go(context.Background(), func(context.Context) (int, error) {
		<-gate // never settles before All has failed
		return 0, nil
	})
	failed := future.Go(context.Background(), func(context.Context) (int, error) { return 0, errBoom })
	_, err := future.All(blocked, failed, blocked).Await(context.Background())
	require.ErrorIs(t, err, errBoom)
	assert.Contains(t, err.Error(), "input 1")
}

func TestAllRunsLazyInputsInParallel(t *testing.T) {
	// Each input waits for the other to start: run one after the other, they
	// would never finish.
	started := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	input := func(me, other int) *future.Future[int] {
		return future.New(context.Background(), func(context.Context) (int, error) {
			close(started[me])
			<-started[other]
			return me, nil
		})
	}
	v, err := future.All(input(0, 1), input(1, 0)).Await(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1}, v)
}

func TestAnyFirstSuccess(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	blocked := future.Go(context.Background(), func(context.Context) (string, error) {
		<-gate
		return "late", nil
	})
	v, err := future.Any(blocked, future.Reject[string](errBoom), future.Resolve("first")).Await(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "first", v)
}

func TestAnyJoinsAllFailures(t *testing.T) {
	e1, e2 := errors.New("one"), errors.New("two")
	lazy := future.New(context.Background(), func(context.Context) (int, error) { return 0, e2 })
	_, err := future.Any(future.Reject[int](e1), lazy).Await(context.Background())
	require.ErrorIs(t, err, e1)
	require.ErrorIs(t, err, e2)
	assert.Less(t, strings.Index(err.Error(), "one"), strings.Index(err.Error(), "two"), "errors in input order")

	_, err = future.Any[int]().Await(context.Background())
	assert.Error(t, err)
}
