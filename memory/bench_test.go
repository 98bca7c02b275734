package memory_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/session"
)

// benchStore returns a store holding n sessions "s0" … with one key of
// valueSize bytes each.
func benchStore(b *testing.B, n, valueSize int) *memory.Store {
	b.Helper()
	s := memory.NewStore()
	b.Cleanup(func() { s.Close() })
	cmds := mustPrepareB(b, session.Command{Op: session.OpSet, Path: "blob", Value: strings.Repeat("x", valueSize)})
	for i := range n {
		if _, err := s.Create(context.Background(), meta(fmt.Sprint("s", i), time.Now(), time.Hour), session.Update{Commands: cmds}); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func mustPrepareB(b *testing.B, c session.Command) []session.Command {
	p, err := session.PrepareCommand(c)
	if err != nil {
		b.Fatal(err)
	}
	return []session.Command{p}
}

// BenchmarkApplyInc: one Inc on one small session, from one goroutine.
func BenchmarkApplyInc(b *testing.B) {
	s := benchStore(b, 1, 16)
	cmds := mustPrepareB(b, session.Command{Op: session.OpInc, Path: "n", Value: 1})
	exp := time.Now().Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Apply(context.Background(), "s0", session.Update{Commands: cmds, Expires: exp}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyIncParallel: Inc from all CPUs on 1024 sessions, which the
// shards let proceed side by side.
func BenchmarkApplyIncParallel(b *testing.B) {
	const sessions = 1024
	s := benchStore(b, sessions, 16)
	cmds := mustPrepareB(b, session.Command{Op: session.OpInc, Path: "n", Value: 1})
	exp := time.Now().Add(time.Hour)
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprint("s", next.Add(1)%sessions)
			if _, err := s.Apply(context.Background(), id, session.Update{Commands: cmds, Expires: exp}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLoad64KB: Load of a session holding a 64 KB value; the cost is
// the deep copy the caller gets.
func BenchmarkLoad64KB(b *testing.B) {
	s := benchStore(b, 1, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(context.Background(), "s0", nil); err != nil {
			b.Fatal(err)
		}
	}
}
