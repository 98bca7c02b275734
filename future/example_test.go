package future_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/atomicsession/atomicsession/future"
)

func ExampleNew() {
	ctx := context.Background()
	load := future.New(ctx, func(context.Context) (string, error) {
		fmt.Println("loading")
		return "koa", nil
	})
	fmt.Println("nothing loaded yet")

	greeting := load.Then(func(s string) (string, error) { return strings.ToUpper(s), nil }).
		Then(func(s string) (string, error) { return "hello, " + s, nil })
	v, err := greeting.Await(ctx)
	fmt.Println(v, err)
	// Output:
	// nothing loaded yet
	// loading
	// hello, KOA <nil>
}

func ExampleAll() {
	ctx := context.Background()
	square := func(n int) *future.Future[int] {
		return future.Go(ctx, func(context.Context) (int, error) { return n * n, nil })
	}
	v, err := future.All(square(1), square(2), square(3)).Await(ctx)
	fmt.Println(v, err)

	_, err = future.All(square(1), future.Reject[int](errors.New("disk full"))).Await(ctx)
	fmt.Println(err)
	// Output:
	// [1 4 9] <nil>
	// future.All: input 1: disk full
}

func ExampleNewPromise() {
	ctx := context.Background()
	var queue []func(string, error)
	flush := func() {
		for _, settle := range queue {
			settle("sent", nil)
		}
		queue = nil
	}
	enqueue := func() *future.Future[string] {
		f, settle := future.NewPromise[string](flush) // the first Await sends the queue
		queue = append(queue, settle)
		return f
	}

	a, b := enqueue(), enqueue()
	fmt.Println(len(queue), "queued")
	fmt.Println(a.Await(ctx))
	fmt.Println(len(queue), "queued")
	fmt.Println(b.Await(ctx))
	// Output:
	// 2 queued
	// sent <nil>
	// 0 queued
	// sent <nil>
}

func ExampleFuture_Catch() {
	v, err := future.Reject[string](errors.New("not found")).
		Catch(func(error) (string, error) { return "default", nil }).
		Await(context.Background())
	fmt.Println(v, err)
	// Output: default <nil>
}

func ExampleExecutor_Batch() {
	ctx := context.Background()
	e := future.NewExecutor(2) // at most two tasks at once
	defer e.Wait()
	results := make([]int, 4)
	tasks := make([]func(context.Context) error, len(results))
	for i := range tasks {
		tasks[i] = func(context.Context) error { results[i] = i * 10; return nil }
	}
	_, err := e.Batch(ctx, tasks...).Await(ctx)
	fmt.Println(results, err)
	// Output: [0 10 20 30] <nil>
}
