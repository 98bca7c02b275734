package session_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/session"
)

// BenchmarkFlush reports the time to queue and flush K commands on distinct
// keys, which go out as one batch: it grows linearly in K (issue 9 measured
// 0.25 s for 1,000 and 21 s for 8,000 before the fix). Run it with
//
//	go test -run '^$' -bench Flush ./session/
func BenchmarkFlush(b *testing.B) {
	ctx := context.Background()
	for _, k := range []int{100, 1000, 8000} {
		b.Run(fmt.Sprintf("commands=%d", k), func(b *testing.B) {
			st := memory.NewStore(memory.WithSweepInterval(0))
			defer st.Close()
			keys := make([]string, k)
			for i := range keys {
				keys[i] = fmt.Sprintf("cart.k%d", i)
			}
			b.ResetTimer()
			for range b.N {
				s, err := session.New(ctx, st, session.Options{MaxCommands: k})
				if err != nil {
					b.Fatal(err)
				}
				for _, key := range keys {
					s.Set(key, 1)
				}
				if err := s.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(k), "ns/command")
		})
	}
}
