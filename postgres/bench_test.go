package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/postgres"
	"github.com/atomicsession/atomicsession/session"
)

// benchSession returns a store and a session of 16 keys × 4 KB.
func benchSession(b *testing.B) (*postgres.Store, string) {
	s := newStore(b, newPool(b, 8))
	var cs []session.Command
	for i := range 16 {
		cs = append(cs, set(fmt.Sprintf("k%02d", i), randomText(b, 4096)))
	}
	m := newMeta(b, time.Hour)
	if _, err := s.Create(bg, m, cmds(append(cs, set("small", "x"), set("n", int64(0)))...)); err != nil {
		b.Fatal(err)
	}
	return s, m.ID
}

// BenchmarkApplyOneKey: one $inc on a 64 KB session, one goroutine.
func BenchmarkApplyOneKey(b *testing.B) {
	st, id := benchSession(b)
	u := cmds(inc("n", 1))
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.Apply(bg, id, u); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyFourCommands: $set on a dotted path, $inc, $push with
// $slice and $addToSet in one batch.
func BenchmarkApplyFourCommands(b *testing.B) {
	st, id := benchSession(b)
	u := cmds(set("a.b.c", int64(1)), inc("n", 1), session.Command{Op: session.OpPush, Path: "l", Values: []any{int64(1)}, Slice: 10},
		session.Command{Op: session.OpAddToSet, Path: "s", Values: []any{"x"}})
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.Apply(bg, id, u); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadOneKey: Load of one small key of a 64 KB session.
func BenchmarkLoadOneKey(b *testing.B) {
	st, id := benchSession(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.Load(bg, id, []string{"small"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadAll: Load of the whole 64 KB session.
func BenchmarkLoadAll(b *testing.B) {
	st, id := benchSession(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.Load(bg, id, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyParallel: one-key $inc on separate sessions from many
// goroutines (no two contend for a row).
func BenchmarkApplyParallel(b *testing.B) {
	s := newStore(b, newPool(b, 8))
	b.RunParallel(func(pb *testing.PB) {
		m := newMeta(b, time.Hour)
		if _, err := s.Create(bg, m, cmds(set("n", int64(0)))); err != nil {
			b.Error(err)
			return
		}
		u := cmds(inc("n", 1))
		for pb.Next() {
			if _, err := s.Apply(bg, m.ID, u); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkApplyBatch: one batch of n $set commands on n distinct keys,
// and of n $inc commands on n paths inside one key; ns/op over n shows
// whether a batch costs time linear in its commands.
func BenchmarkApplyBatch(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		for _, shape := range []string{"distinct keys", "one key"} {
			b.Run(fmt.Sprintf("%s/%d", shape, n), func(b *testing.B) {
				s := newStore(b, newPool(b, 2))
				m := newMeta(b, time.Hour)
				if _, err := s.Create(bg, m, session.Update{}); err != nil {
					b.Fatal(err)
				}
				var cs []session.Command
				for i := range n {
					if shape == "one key" {
						cs = append(cs, inc(fmt.Sprintf("d.k%04d", i), 1))
					} else {
						cs = append(cs, set(fmt.Sprintf("k%04d", i), "value value value"))
					}
				}
				u := cmds(cs...)
				b.ResetTimer()
				for b.Loop() {
					if _, err := s.Apply(bg, m.ID, u); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
