package redis

import (
	"strings"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

// fetchCases are the read-one-key, write-another requests of the
// throughput benchmark (bench/, -only throughput): a session of a user
// key and a blob of the given size; read is the key read, written next to
// a Set of "seen".
var fetchCases = []struct {
	name string
	blob int
	read string
}{
	{"1KB/user", 1 << 10, "user"},
	{"64KB/user", 64 << 10, "user"},
	{"64KB/blob", 64 << 10, "blob"},
}

// fetchSession creates a session of a user key and a blob of n bytes.
func fetchSession(b *testing.B, s *Store, n int) session.Meta {
	b.Helper()
	m := newMeta(b)
	cmds := []session.Command{set("user", "alice"), set("n", int64(0)), set("blob", strings.Repeat("abcdefgh", n/8))}
	if _, err := s.Create(ctx, m, session.Update{Commands: cmds}); err != nil {
		b.Fatal(err)
	}
	return m
}

// fetchApply is the one-call request: Apply of Set("seen") fetching key.
func fetchApply(b *testing.B, s *Store, id, key string) {
	u := session.Update{Commands: []session.Command{set("seen", int64(1))}, Expires: time.Now().Add(time.Hour), Fetch: []string{key}}
	doc, err := s.Apply(ctx, id, u)
	if err != nil {
		b.Fatal(err)
	}
	if _, ok := doc[key]; !ok {
		b.Fatalf("Apply fetched no %q", key)
	}
}

// loadApply is the two-call request: Load of key, then Apply of Set("seen").
func loadApply(b *testing.B, s *Store, id, key string) {
	doc, err := s.Load(ctx, id, []string{key})
	if err != nil {
		b.Fatal(err)
	}
	if _, ok := doc[key]; !ok {
		b.Fatalf("Load found no %q", key)
	}
	u := session.Update{Commands: []session.Command{set("seen", int64(1))}, Expires: time.Now().Add(time.Hour)}
	if _, err := s.Apply(ctx, id, u); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFetch times, one call after the other on one connection, the
// request that reads one key and writes another in one Apply (Fetch next
// to the command) and the same request as a Load and then an Apply. Its
// sub-benchmarks give ns/op and allocs/op of each alone; the "ratio" ones
// alternate both in one loop and report fetch/load+apply, the time of the
// one-call form over the two-call form's (below 1: the one call is
// cheaper).
func BenchmarkFetch(b *testing.B) {
	for _, c := range fetchCases {
		b.Run(c.name+"/apply-fetch", func(b *testing.B) {
			s, _ := newStore(b)
			m := fetchSession(b, s, c.blob)
			b.ResetTimer()
			for range b.N {
				fetchApply(b, s, m.ID, c.read)
			}
		})
		b.Run(c.name+"/load+apply", func(b *testing.B) {
			s, _ := newStore(b)
			m := fetchSession(b, s, c.blob)
			b.ResetTimer()
			for range b.N {
				loadApply(b, s, m.ID, c.read)
			}
		})
		b.Run(c.name+"/ratio", func(b *testing.B) {
			s, _ := newStore(b)
			m := fetchSession(b, s, c.blob)
			var one, two time.Duration
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				fetchApply(b, s, m.ID, c.read)
				t1 := time.Now()
				loadApply(b, s, m.ID, c.read)
				one, two = one+t1.Sub(t0), two+time.Since(t1)
			}
			b.ReportMetric(float64(one.Nanoseconds())/float64(b.N), "fetch-ns/op")
			b.ReportMetric(float64(two.Nanoseconds())/float64(b.N), "load+apply-ns/op")
			b.ReportMetric(float64(one)/float64(two), "fetch/load+apply")
		})
	}
}
