package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"
)

// lostKind is one of the two lost-update scenarios.
type lostKind string

const (
	// lostIncrements: every client increments one counter of one session.
	lostIncrements lostKind = "increments"
	// lostOwnKeys: every client sets a key of its own in one session.
	lostOwnKeys lostKind = "own keys"
)

// lostConfig sizes a lost-update run.
type lostConfig struct {
	Clients   int           // concurrent clients sharing one session cookie
	PerClient int           // requests per client
	Timeout   time.Duration // bound on the whole run
}

// lostResult is the outcome of one lost-update run.
type lostResult struct {
	Kind     lostKind
	Library  string
	Backend  string
	Setup    string        // how the two instances reach the store
	Requests int           // requests sent
	OK       int           // requests answered 200
	Expected int           // increments acknowledged, or keys whose last write was acknowledged
	Kept     int           // the counter's final value, or keys holding their last value
	Present  int           // own keys: keys present at all
	Took     time.Duration // the concurrent requests' wall time
	Err      error         // the run could not be carried out
	FirstErr string        // the first failed request, if any
}

// Lost returns how many acknowledged updates the session does not hold.
func (r lostResult) Lost() int { return max(r.Expected-r.Kept, 0) }

// runLost runs kind for lib: two app instances on conns, one shared
// session cookie, cfg.Clients clients sending cfg.PerClient requests each,
// alternating between the instances; then it reads the session back.
func runLost(ctx context.Context, kind lostKind, lib library, conns [2]*storeConn, cfg lostConfig) lostResult {
	res := lostResult{Kind: kind, Library: lib.Name}
	var urls [2]string
	for i := range conns {
		h, err := lib.newApp(conns[i])
		if err != nil {
			res.Err = err
			return res
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		urls[i] = srv.URL
	}
	client := newHTTPClient()
	defer client.CloseIdleConnections()
	box := &cookieBox{name: lib.Cookie}
	if _, err := get(ctx, client, urls[0], routeFill+"?bytes=0", box); err != nil {
		res.Err = fmt.Errorf("start the session: %w", err)
		return res
	}
	runCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	t0 := time.Now()
	acks := hammer(runCtx, kind, client, urls, box, cfg, &res)
	res.Took = time.Since(t0)
	if err := ctx.Err(); err != nil {
		res.Err = err
		return res
	}
	vals, err := getValues(ctx, client, urls[0], box)
	if err != nil {
		res.Err = fmt.Errorf("read the session back: %w", err)
		return res
	}
	res.account(kind, vals, acks, cfg)
	return res
}

// hammer sends the scenario's requests and returns, per client, the
// highest value whose write was acknowledged (own keys) or the number of
// acknowledged increments (increments).
func hammer(ctx context.Context, kind lostKind, client *http.Client, urls [2]string, box *cookieBox, cfg lostConfig, res *lostResult) []int {
	acks := make([]int, cfg.Clients)
	var sent, ok atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	for c := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 1; j <= cfg.PerClient && ctx.Err() == nil; j++ {
				path := routeInc
				if kind == lostOwnKeys {
					path = fmt.Sprintf("%s?k=%s&v=%d", routeSetKey, ownKey(c), j)
				}
				sent.Add(1)
				if _, err := get(ctx, client, urls[(c+j)%2], path, box); err != nil {
					firstErr.Do(func() { res.FirstErr = err.Error() })
					continue
				}
				ok.Add(1)
				if kind == lostOwnKeys {
					acks[c] = j
				} else {
					acks[c]++
				}
			}
		}()
	}
	wg.Wait()
	res.Requests, res.OK = int(sent.Load()), int(ok.Load())
	return acks
}

// ownKey is the key client c sets in the own-keys scenario.
func ownKey(c int) string { return fmt.Sprintf("k%02d", c) }

// account compares the session read back with what was acknowledged.
func (r *lostResult) account(kind lostKind, vals map[string]any, acks []int, cfg lostConfig) {
	if kind == lostIncrements {
		for _, a := range acks {
			r.Expected += a
		}
		n, _ := intValue(vals["n"])
		r.Kept = int(n)
		return
	}
	for c, last := range acks {
		if last != cfg.PerClient {
			continue // its last write failed or never went out: not expected
		}
		r.Expected++
		v, present := vals[ownKey(c)]
		if present {
			r.Present++
		}
		if n, ok := intValue(v); ok && int(n) == last {
			r.Kept++
		}
	}
}
