package redis

import (
	"strconv"
	"strings"
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/session"
)

// The benchmarks print figures (ops/s, retries/op, bytes/op) for every
// layout of layouts_test.go; they assert nothing about speed.

const clients = 32

// workloads are the batches the concurrent benchmarks send: goroutine i
// sends workload(i). "n" increments a top-level key (the script path of the
// hash layouts), "c.n" a dotted key (their Go path), "mixed" does one or the
// other by goroutine, "push" appends to a top-level array.
var workloads = []struct {
	name  string
	batch func(i int) []session.Command
}{
	{"n", func(int) []session.Command { return []session.Command{inc("n", int64(1))} }},
	{"c.n", func(int) []session.Command { return []session.Command{inc("c.n", int64(1))} }},
	{"mixed", func(i int) []session.Command {
		if i%2 == 0 {
			return []session.Command{inc("n", int64(1))}
		}
		return []session.Command{inc("c.n", int64(1))}
	}},
	{"push", func(int) []session.Command {
		return []session.Command{{Op: session.OpPush, Path: "list", Values: []any{int64(1)}}}
	}},
}

// BenchmarkHotSession: 32 goroutines hammer one session through two Stores
// on two clients (two app instances).
func BenchmarkHotSession(b *testing.B) {
	for _, l := range layouts {
		for _, w := range workloads {
			b.Run(l.name+"/"+w.name, func(b *testing.B) {
				prefix := testenv.RedisPrefix(b)
				stores := []session.Store{l.make(newClient(b), prefix), l.make(newClient(b), prefix)}
				m := newMeta(b)
				if _, err := stores[0].Create(ctx, m, session.Update{}); err != nil {
					b.Fatal(err)
				}
				runClients(b, func(i int) (session.Store, session.Meta) { return stores[i%2], m }, w.batch)
				retries := l.retries(stores[0]) + l.retries(stores[1])
				b.ReportMetric(float64(retries)/float64(b.N), "retries/op")
				if s0, ok := stores[0].(*Store); ok {
					reads := s0.Stats().Reads + stores[1].(*Store).Stats().Reads
					b.ReportMetric(float64(reads)/float64(b.N), "reads/op")
				}
			})
		}
	}
}

// BenchmarkSpreadSessions: 32 goroutines, each on a session of its own,
// through two Stores on two clients.
func BenchmarkSpreadSessions(b *testing.B) {
	for _, l := range layouts {
		for _, w := range workloads[:2] {
			b.Run(l.name+"/"+w.name, func(b *testing.B) {
				prefix := testenv.RedisPrefix(b)
				stores := []session.Store{l.make(newClient(b), prefix), l.make(newClient(b), prefix)}
				metas := make([]session.Meta, clients)
				for i := range metas {
					metas[i] = newMeta(b)
					if _, err := stores[0].Create(ctx, metas[i], session.Update{}); err != nil {
						b.Fatal(err)
					}
				}
				runClients(b, func(i int) (session.Store, session.Meta) { return stores[i%2], metas[i%clients] }, w.batch)
				retries := l.retries(stores[0]) + l.retries(stores[1])
				b.ReportMetric(float64(retries)/float64(b.N), "retries/op")
			})
		}
	}
}

// runClients runs b.N batches from 32 goroutines, each sending its share
// (so the slowest client bounds the time, as it would for 32 real
// clients); goroutine i sends batch(i) to the store and session that pick
// returns for i. It reports ops/s.
func runClients(b *testing.B, pick func(i int) (session.Store, session.Meta), batch func(i int) []session.Command) {
	var wg sync.WaitGroup
	b.ResetTimer()
	for i := range clients {
		n := b.N / clients
		if i < b.N%clients {
			n++
		}
		s, m := pick(i)
		cmds := batch(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				if _, err := s.Apply(ctx, m.ID, upd(m.Expires, cmds)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkBigSessionWrite: one small write to a session of 64 KB (64 keys
// of 1 KB). B-sent/op is what the client sent to Redis per write, from
// INFO stats total_net_input_bytes; B-recv/op what Redis answered (the
// Store returns the whole document after each write).
func BenchmarkBigSessionWrite(b *testing.B) {
	cmds := map[string]session.Command{
		"set":        set("small", int64(7)),
		"inc":        inc("n", int64(1)),
		"set-dotted": set("d.small", int64(7)),
		"push":       {Op: session.OpPush, Path: "list", Values: []any{"x"}},
	}
	for _, l := range layouts {
		for _, name := range []string{"set", "inc", "set-dotted", "push"} {
			b.Run(l.name+"/"+name, func(b *testing.B) {
				c := newClient(b)
				s := l.make(c, testenv.RedisPrefix(b))
				m := newMeta(b)
				var init []session.Command
				for i := range 64 {
					init = append(init, set("k"+strconv.Itoa(i), strings.Repeat("x", 1000)))
				}
				init = append(init, set("list", []any{}))
				if _, err := s.Create(ctx, m, session.Update{Commands: init}); err != nil {
					b.Fatal(err)
				}
				batch := []session.Command{cmds[name]}
				in0, out0 := netBytes(b, c)
				b.ResetTimer()
				for range b.N {
					if _, err := s.Apply(ctx, m.ID, upd(m.Expires, batch)); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				in1, out1 := netBytes(b, c)
				b.ReportMetric(float64(in1-in0)/float64(b.N), "B-sent/op")
				b.ReportMetric(float64(out1-out0)/float64(b.N), "B-recv/op")
			})
		}
	}
}

// netBytes returns the server's total_net_input_bytes and
// total_net_output_bytes from INFO stats.
func netBytes(b *testing.B, c *goredis.Client) (in, out int64) {
	info, err := c.InfoMap(ctx, "stats").Result()
	if err != nil {
		b.Fatal(err)
	}
	stats := info["Stats"]
	if in, err = strconv.ParseInt(stats["total_net_input_bytes"], 10, 64); err != nil {
		b.Fatal(err)
	}
	if out, err = strconv.ParseInt(stats["total_net_output_bytes"], 10, 64); err != nil {
		b.Fatal(err)
	}
	return in, out
}

// BenchmarkNativeOps: translating a step's commands to script operations
// takes time linear in their number (the check for two commands on one
// key included). Compare ns/op per command across the sizes.
func BenchmarkNativeOps(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		cmds := make([]session.Command, n)
		for i := range cmds {
			cmds[i] = set("k"+strconv.Itoa(i), int64(i))
		}
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				if _, native, err := nativeOps(cmds); err != nil || !native {
					b.Fatal(native, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/cmd")
		})
	}
}
