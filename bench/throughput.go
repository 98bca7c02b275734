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

// tputResult is the outcome of one throughput run.
type tputResult struct {
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
	lat      []time.Duration // sorted latencies of the window
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
	out.Requests, out.Failed, out.Window, out.lat = 0, 0, 0, nil
	for _, r := range rounds {
		if r.Err != nil {
			return r
		}
		out.Requests += r.Requests
		out.Failed += r.Failed
		out.Window += r.Window
		out.Rounds = append(out.Rounds, r.RPS())
		out.lat = append(out.lat, r.lat...)
		if out.FirstErr == "" {
			out.FirstErr = r.FirstErr
		}
	}
	slices.Sort(out.lat)
	out.P50, out.P99 = percentile(out.lat, 0.50), percentile(out.lat, 0.99)
	out.lat = nil
	return out
}

// runThroughput measures lib on conn: cfg.Clients clients, each with a
// session of size bytes, each sending read-one-key + write-one-key
// requests back to back.
func runThroughput(ctx context.Context, lib library, conn *storeConn, size int, cfg tputConfig) tputResult {
	res := tputResult{Library: lib.Name, Size: size}
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
				_, err := get(runCtx, client, srv.URL, routeRW+"?v="+strconv.Itoa(n), boxes[i])
				d := time.Since(t0)
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
