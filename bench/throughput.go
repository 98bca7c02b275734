package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"time"
)

// tputConfig sizes a throughput run.
type tputConfig struct {
	Clients     int           // concurrent clients, each with a session of its own
	Warmup      time.Duration // requests before the window are not counted
	Duration    time.Duration // the measured window of one round
	Rounds      int           // rounds per row, interleaved across rows
	MaxRequests int           // per client, a bound on the loop
}

// scenario is one request mix of the throughput table: every client
// sends Route back to back on a session of Size bytes.
type scenario struct {
	Key   string // "a", "b", "c"
	Title string
	Size  int
	Route string
}

// tputScenarios are the throughput scenarios (a), (b) and (c).
var tputScenarios = []scenario{
	{"a", "1 KB session, read one key + write one key", 1 << 10, routeRW},
	{"b", "64 KB session, read a small key + write a small key", 64 << 10, routeRW},
	{"c", "64 KB session, read the 64 KB key + write a small key", 64 << 10, routeRWBig},
}

// tputResult is the outcome of one throughput run.
type tputResult struct {
	Scenario string // scenario key
	Library  string
	Backend  string
	Size     int // session size in bytes
	Requests int // requests completed in the window
	Failed   int
	Window   time.Duration
	P50, P99 time.Duration
	Rounds   []float64 // req/s of each round, when combined from rounds
	Err      error
	FirstErr string
	// Traffic is the store traffic per request, over every request of
	// the run (warm-up included), counted as in the round-trip table.
	Traffic trafficAvg
	// WAL is the PostgreSQL WAL written per request over the same
	// requests, when HasWAL. Other work on the server (autovacuum,
	// checkpoints) lands in it too.
	WAL    float64
	HasWAL bool
	// Commands is the Redis server commands per request over the same
	// requests, from INFO commandstats, when HasCommands.
	Commands    float64
	HasCommands bool
	sent        int             // every request of the run, warm-up and failures included
	lat         []time.Duration // sorted latencies of the window
}

// RPS returns requests per second: the median of the rounds, or of the
// window when there are none.
func (r tputResult) RPS() float64 {
	if len(r.Rounds) > 0 {
		return median(r.Rounds)
	}
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Window.Seconds()
}

// combineRounds merges the rounds of one row: req/s per round, latency
// percentiles over every request of every round.
func combineRounds(rounds []tputResult) tputResult {
	out := rounds[0]
	out.Requests, out.Failed, out.Window, out.lat, out.sent = 0, 0, 0, nil, 0
	var traffic trafficAvg
	var wal, cmds float64
	for _, r := range rounds {
		if r.Err != nil {
			return r
		}
		n := float64(r.sent)
		traffic = trafficAvg{traffic.Trips + r.Traffic.Trips*n, traffic.Cmds + r.Traffic.Cmds*n, traffic.Sent + r.Traffic.Sent*n, traffic.Recv + r.Traffic.Recv*n}
		wal += r.WAL * n
		cmds += r.Commands * n
		out.sent += r.sent
		out.Requests += r.Requests
		out.Failed += r.Failed
		out.Window += r.Window
		out.Rounds = append(out.Rounds, r.RPS())
		out.lat = append(out.lat, r.lat...)
		if out.FirstErr == "" {
			out.FirstErr = r.FirstErr
		}
	}
	if n := float64(out.sent); n > 0 {
		out.Traffic = trafficAvg{traffic.Trips / n, traffic.Cmds / n, traffic.Sent / n, traffic.Recv / n}
		out.WAL = wal / n
		out.Commands = cmds / n
	}
	slices.Sort(out.lat)
	out.P50, out.P99 = percentile(out.lat, 0.50), percentile(out.lat, 0.99)
	out.lat = nil
	return out
}

// runThroughput measures lib on conn: cfg.Clients clients, each with a
// session of sc.Size bytes, each sending sc.Route requests back to back.
func runThroughput(ctx context.Context, lib library, conn *storeConn, sc scenario, cfg tputConfig) tputResult {
	size := sc.Size
	res := tputResult{Scenario: sc.Key, Library: lib.Name, Size: size}
	h, err := lib.newApp(conn)
	if err != nil {
		res.Err = err
		return res
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := newHTTPClient()
	defer client.CloseIdleConnections()

	boxes := make([]*cookieBox, cfg.Clients)
	for i := range boxes {
		boxes[i] = &cookieBox{name: lib.Cookie}
		if _, err := get(ctx, client, srv.URL, routeFill+"?bytes="+strconv.Itoa(size), boxes[i]); err != nil {
			res.Err = fmt.Errorf("start session %d: %w", i, err)
			return res
		}
	}
	before := conn.snapshot()
	var wal0 int64
	if conn != nil && conn.wal != nil {
		if wal0, err = conn.wal(ctx); err != nil {
			res.Err = err
			return res
		}
	}
	cmds0, err := conn.serverCommands(ctx)
	if err != nil {
		res.Err = err
		return res
	}
	sent := make([]int, cfg.Clients)
	start := time.Now().Add(cfg.Warmup)
	end := start.Add(cfg.Duration)
	runCtx, cancel := context.WithDeadline(ctx, end.Add(requestTimeout))
	defer cancel()

	lat := make([][]time.Duration, cfg.Clients)
	failed := make([]int, cfg.Clients)
	var firstErr sync.Once
	var wg sync.WaitGroup
	for i := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < cfg.MaxRequests && runCtx.Err() == nil; n++ {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				_, err := get(runCtx, client, srv.URL, sc.Route+"?v="+strconv.Itoa(n), boxes[i])
				d := time.Since(t0)
				sent[i]++
				if t0.Before(start) {
					continue
				}
				if err != nil {
					failed[i]++
					firstErr.Do(func() { res.FirstErr = err.Error() })
					continue
				}
				lat[i] = append(lat[i], d)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		res.Err = err
		return res
	}
	for _, n := range sent {
		res.sent += n
	}
	if n := float64(res.sent); n > 0 {
		d := conn.snapshot().minus(before)
		res.Traffic = trafficAvg{float64(d.Trips) / n, float64(d.Cmds) / n, float64(d.Sent) / n, float64(d.Recv) / n}
		if conn != nil && conn.wal != nil {
			wal1, err := conn.wal(ctx)
			if err != nil {
				res.Err = err
				return res
			}
			res.WAL, res.HasWAL = float64(wal1-wal0)/n, true
		}
		if cmds0 != nil {
			cmds1, err := conn.serverCommands(ctx)
			if err != nil {
				res.Err = err
				return res
			}
			res.Commands, res.HasCommands = float64(cmds1.minus(cmds0).total())/n, true
		}
	}
	res.Window = cfg.Duration
	res.lat = slices.Concat(lat...)
	slices.Sort(res.lat)
	res.Requests = len(res.lat)
	for _, f := range failed {
		res.Failed += f
	}
	res.P50, res.P99 = percentile(res.lat, 0.50), percentile(res.lat, 0.99)
	return res
}

// percentile returns the p-quantile of sorted (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// rpsRatio returns a's req/s over b's: the median of the per-round ratios
// when both ran the same rounds (each round of a row runs right next to
// the same round of the rows of its store and scenario, so machine noise
// that comes and goes hits both sides of one ratio alike), else the ratio
// of their req/s. ok is false when b made no requests.
func rpsRatio(a, b tputResult) (float64, bool) {
	if len(a.Rounds) > 0 && len(a.Rounds) == len(b.Rounds) {
		var rs []float64
		for i := range a.Rounds {
			if b.Rounds[i] > 0 {
				rs = append(rs, a.Rounds[i]/b.Rounds[i])
			}
		}
		if len(rs) == len(a.Rounds) {
			return median(rs), true
		}
	}
	if b.RPS() == 0 {
		return 0, false
	}
	return a.RPS() / b.RPS(), true
}
