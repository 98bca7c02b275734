package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strconv"
)

// tripRequest is one kind of request in the round-trip scenario.
type tripRequest struct {
	Name string
	Path string
	Raw  bool // the raw store serves it too
}

// Names of the round-trip requests that other code refers to.
const (
	tripUntouched = "untouched, with cookie"
	tripWrite     = "one write"
	tripRW        = "read a small key + write one"
	tripRWBig     = "read the large key + write one"
)

// tripRequests are the requests whose store traffic is counted, on a
// session that exists.
var tripRequests = []tripRequest{
	{tripUntouched, routeUntouched, true},
	{"read-only", routeRead, false},
	{tripWrite, routeWrite, false},
	{"read + 4 commands", routeRead4, false},
	{tripRW, routeRW, true},
	{tripRWBig, routeRWBig, true},
}

// tripResult is the average store traffic of one kind of request.
type tripResult struct {
	Library string
	Backend string
	Size    int
	Request string
	Traffic trafficAvg
	Cookie  float64 // bytes of Set-Cookie headers in the response
	WAL     float64 // PostgreSQL WAL bytes per request, when HasWAL
	HasWAL  bool
	// Commands are the commands the server ran for the requests (Redis
	// only), over Reps requests.
	Commands serverCommands
	Reps     int
	Err      error
}

// trafficAvg is a traffic count averaged over requests.
type trafficAvg struct {
	Trips, Cmds, Sent, Recv float64
}

// runTrips counts, for each of tripRequests, the store round trips,
// commands and bytes of lib on conn (nil for a cookie-only library) for a
// session of size bytes, averaged over reps requests, after one request of
// each kind that is not counted (it loads scripts into Redis).
func runTrips(ctx context.Context, lib library, conn *storeConn, size, reps int) []tripResult {
	h, err := lib.newApp(conn)
	if err != nil {
		return []tripResult{{Library: lib.Name, Size: size, Err: err}}
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := newHTTPClient()
	defer client.CloseIdleConnections()
	box := &cookieBox{name: lib.Cookie}
	if _, err := get(ctx, client, srv.URL, routeFill+"?bytes="+strconv.Itoa(size), box); err != nil {
		return []tripResult{{Library: lib.Name, Size: size, Err: fmt.Errorf("start the session: %w", err)}}
	}
	walf := conn.walFunc()
	var out []tripResult
	for _, req := range tripRequests {
		if lib.Name == libRaw && !req.Raw {
			continue
		}
		res := tripResult{Library: lib.Name, Size: size, Request: req.Name}
		var sum trafficSnapshot
		var cookie int
		var wal int64
		for i := -1; i < reps && res.Err == nil; i++ {
			path := req.Path + "?v=" + strconv.Itoa(i+2)
			var wal0 int64
			if i >= 0 && walf != nil {
				if wal0, err = walf(ctx); err != nil {
					res.Err = err
					break
				}
			}
			before := conn.snapshot()
			cmds0, err := conn.serverCommands(ctx)
			if err != nil {
				res.Err = err
				break
			}
			r, err := get(ctx, client, srv.URL, path, box)
			if err != nil {
				res.Err = err
				break
			}
			if i < 0 {
				continue // the warm-up request
			}
			d := conn.snapshot().minus(before)
			if err := res.addCommands(ctx, conn, cmds0); err != nil {
				res.Err = err
				break
			}
			if walf != nil {
				wal1, err := walf(ctx)
				if err != nil {
					res.Err = err
					break
				}
				wal += wal1 - wal0
			}
			sum = trafficSnapshot{sum.Trips + d.Trips, sum.Cmds + d.Cmds, sum.Sent + d.Sent, sum.Recv + d.Recv}
			cookie += r.CookieSize
		}
		n := float64(max(reps, 1))
		res.Reps = max(reps, 1)
		res.Traffic = trafficAvg{float64(sum.Trips) / n, float64(sum.Cmds) / n, float64(sum.Sent) / n, float64(sum.Recv) / n}
		res.Cookie = float64(cookie) / n
		if walf != nil {
			res.WAL, res.HasWAL = float64(wal)/n, true
		}
		out = append(out, res)
	}
	return out
}

// snapshot returns the traffic of c so far; zero for no client or a
// client that counts nothing.
func (c *storeConn) snapshot() trafficSnapshot {
	if c == nil || c.traffic == nil {
		return trafficSnapshot{}
	}
	return c.traffic.snapshot()
}

// walFunc returns c's WAL position function, nil for no client or a
// server without one.
func (c *storeConn) walFunc() func(context.Context) (int64, error) {
	if c == nil {
		return nil
	}
	return c.wal
}

// serverCommands returns the commands c's server has run so far, nil when
// the server does not count them.
func (c *storeConn) serverCommands(ctx context.Context) (serverCommands, error) {
	if c == nil || c.commands == nil {
		return nil, nil
	}
	return c.commands(ctx)
}

// addCommands adds the commands the server ran since before (nil: the
// server does not count them) to r.Commands.
func (r *tripResult) addCommands(ctx context.Context, conn *storeConn, before serverCommands) error {
	if before == nil {
		return nil
	}
	after, err := conn.serverCommands(ctx)
	if err != nil {
		return err
	}
	if r.Commands == nil {
		r.Commands = serverCommands{}
	}
	for name, n := range after.minus(before) {
		r.Commands[name] += n
	}
	return nil
}
