package future_test

import (
	"context"
	"testing"

	"github.com/atomicsession/atomicsession/future"
)

func inc(v int) (int, error) { return v + 1, nil }

func source(context.Context) (int, error) { return 1, nil }

// BenchmarkChain is New → Then → Then → Await with a context that can never
// be cancelled: the lazy work runs in the awaiting goroutine.
func BenchmarkChain(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v, err := future.New(ctx, source).Then(inc).Then(inc).Await(ctx)
		if v != 3 || err != nil {
			b.Fatal(v, err)
		}
	}
}

// BenchmarkChainCancellable is the same chain awaited with a context that can
// be cancelled: the work runs on a goroutine of its own and Await selects.
func BenchmarkChainCancellable(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		v, err := future.New(ctx, source).Then(inc).Then(inc).Await(ctx)
		if v != 3 || err != nil {
			b.Fatal(v, err)
		}
	}
}

// BenchmarkChainGo is the chain on an eager future: Go → Then → Then → Await.
func BenchmarkChainGo(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v, err := future.Go(ctx, source).Then(inc).Then(inc).Await(ctx)
		if v != 3 || err != nil {
			b.Fatal(v, err)
		}
	}
}

// BenchmarkChainExecutor is the chain with the work on a bounded Executor.
func BenchmarkChainExecutor(b *testing.B) {
	ctx := context.Background()
	e := future.NewExecutor(4)
	defer e.Wait()
	b.ReportAllocs()
	for b.Loop() {
		v, err := future.NewOn(e, ctx, source).Then(inc).Then(inc).Await(ctx)
		if v != 3 || err != nil {
			b.Fatal(v, err)
		}
	}
}

// BenchmarkGoroutineChannel is the baseline: the same three steps on a
// goroutine that sends the result on a channel.
func BenchmarkGoroutineChannel(b *testing.B) {
	ctx := context.Background()
	type result struct {
		v   int
		err error
	}
	b.ReportAllocs()
	for b.Loop() {
		ch := make(chan result, 1)
		go func() {
			v, err := source(ctx)
			if err == nil {
				v, err = inc(v)
			}
			if err == nil {
				v, err = inc(v)
			}
			ch <- result{v, err}
		}()
		r := <-ch
		if r.v != 3 || r.err != nil {
			b.Fatal(r)
		}
	}
}

// BenchmarkPromise is NewPromise → Then → settle → Await, the shape the
// session queue uses.
func BenchmarkPromise(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p, settle := future.NewPromise[int](nil)
		f := p.Then(inc)
		settle(1, nil)
		v, err := f.Await(ctx)
		if v != 2 || err != nil {
			b.Fatal(v, err)
		}
	}
}
