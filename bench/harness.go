package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// config sizes a whole run.
type config struct {
	Lost  lostConfig
	Tput  tputConfig
	Sizes []int // session sizes of the round-trip scenario
	// GorillaMaxSize is the largest session the cookie-only library is
	// run with: a cookie holds at most 4096 bytes.
	GorillaMaxSize int
	TripReps       int           // requests averaged per round-trip row
	FutureTarget   time.Duration // time per futures case and round
	FutureRounds   int           // rounds of the futures cases
	// UnsharedFerret adds a lost-update row of atomicsession whose two
	// instances each have their own client (two connections) on a
	// backend that needs a shared one, to show what the server does then.
	UnsharedFerret bool
}

// quickConfig runs everything in under 90 seconds on 2 cores.
func quickConfig() config {
	return config{
		Lost:           lostConfig{Clients: 32, PerClient: 20, Timeout: 20 * time.Second},
		Tput:           tputConfig{Clients: 16, Warmup: 200 * time.Millisecond, Duration: time.Second, Rounds: 1, MaxRequests: 1 << 18},
		Sizes:          []int{1 << 10, 64 << 10},
		GorillaMaxSize: 1 << 10,
		TripReps:       10,
		FutureTarget:   100 * time.Millisecond,
		FutureRounds:   3,
	}
}

// defaultConfig is longer and steadier.
func defaultConfig() config {
	c := quickConfig()
	c.Lost.PerClient, c.Lost.Timeout = 50, 2*time.Minute
	c.Tput.Warmup, c.Tput.Duration, c.Tput.Rounds = 500*time.Millisecond, 4*time.Second, 3
	c.TripReps = 50
	c.FutureTarget, c.FutureRounds = 300*time.Millisecond, 7
	c.UnsharedFerret = true
	return c
}

// harness runs the scenarios on its backends and prints each table as it
// is done.
type harness struct {
	cfg      config
	backends []backend
	out      io.Writer
	res      results
	tables   []*table
}

// results holds every measurement of a run.
type results struct {
	Lost    []lostResult
	Tput    []tputResult
	Trips   []tripResult
	Futures []futureResult
}

// storeLibs are the libraries that use a server-side store.
var storeLibs = []library{atomicLib, scsLib}

// tputLibs are the rows of each store and scenario in the throughput
// table, in the order they run.
var tputLibs = []library{scsLib, atomicLib, atomicFast, atomicUnbatched, rawLib}

const cookieOnly = "cookie only (no store)"

func (h *harness) emit(t *table) {
	h.tables = append(h.tables, t)
	t.writeText(h.out)
}

// lostUpdates runs both lost-update scenarios on every backend for every
// library, and for gorilla's cookie.
func (h *harness) lostUpdates(ctx context.Context) error {
	for _, kind := range []lostKind{lostIncrements, lostOwnKeys} {
		for _, b := range h.backends {
			for _, lib := range storeLibs {
				if err := h.lostOn(ctx, kind, lib, b, b.SharedConn); err != nil {
					return err
				}
				if lib.Name == libAtomic && b.SharedConn && h.cfg.UnsharedFerret {
					if err := h.lostOn(ctx, kind, lib, b, false); err != nil {
						return err
					}
				}
			}
		}
		r := runLost(ctx, kind, gorillaLib, [2]*storeConn{}, h.cfg.Lost)
		r.Backend, r.Setup = cookieOnly, "2 instances, same keys"
		h.res.Lost = append(h.res.Lost, r)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	h.emit(lostTable(h.res.Lost, h.cfg.Lost))
	return nil
}

func (h *harness) lostOn(ctx context.Context, kind lostKind, lib library, b backend, shared bool) error {
	conns, closeConns, err := connectPair(ctx, b, shared)
	if err != nil {
		return err
	}
	defer closeConns()
	r := runLost(ctx, kind, lib, conns, h.cfg.Lost)
	r.Backend = b.Name
	r.Setup = setupName(b, shared)
	h.res.Lost = append(h.res.Lost, r)
	return ctx.Err()
}

// setupName says how the two app instances of a lost-update run reach the
// store.
func setupName(b backend, shared bool) string {
	switch {
	case shared:
		return "2 instances, 1 client, 1 connection"
	case b.SharedConn:
		return "2 instances, 2 clients, " + unsharedConns
	}
	return "2 instances, 2 clients"
}

// unsharedConns marks the rows whose instances reach a backend that needs
// one connection over two.
const unsharedConns = "2 connections"

// tputRow is one row of the throughput table: a library on a backend
// (nil for the cookie-only library) in a scenario.
type tputRow struct {
	lib     library
	backend *backend
	sc      scenario
}

// throughput runs the throughput scenario on every backend and size, in
// cfg.Tput.Rounds rounds that each run every row once, so that a change in
// the machine's load during the run spreads over all rows alike.
func (h *harness) throughput(ctx context.Context) error {
	var rows []tputRow
	for _, sc := range tputScenarios {
		for i := range h.backends {
			for _, lib := range tputLibs {
				rows = append(rows, tputRow{lib, &h.backends[i], sc})
			}
		}
		if sc.Size <= h.cfg.GorillaMaxSize {
			rows = append(rows, tputRow{gorillaLib, nil, sc})
		}
	}
	rounds := make([][]tputResult, len(rows))
	for range max(h.cfg.Tput.Rounds, 1) {
		for i, row := range rows {
			r, err := h.tputOnce(ctx, row)
			if err != nil {
				return err
			}
			rounds[i] = append(rounds[i], r)
		}
	}
	for _, rs := range rounds {
		h.res.Tput = append(h.res.Tput, combineRounds(rs))
	}
	for _, t := range tputTables(h.res.Tput, h.cfg) {
		h.emit(t)
	}
	return ctx.Err()
}

// tputOnce runs one round of row on a store client of its own.
func (h *harness) tputOnce(ctx context.Context, row tputRow) (tputResult, error) {
	var conn *storeConn
	name := cookieOnly
	if row.backend != nil {
		var err error
		if conn, err = row.backend.connect(ctx, newNamespace()); err != nil {
			return tputResult{}, err
		}
		defer conn.Close()
		name = row.backend.Name
	}
	r := runThroughput(ctx, row.lib, conn, row.sc, h.cfg.Tput)
	r.Backend = name
	return r, ctx.Err()
}

// roundTrips counts store traffic per request on every backend and size.
func (h *harness) roundTrips(ctx context.Context) error {
	for _, b := range h.backends {
		for _, size := range h.cfg.Sizes {
			for _, lib := range []library{atomicLib, atomicFast, scsLib, rawLib} {
				conn, err := b.connect(ctx, newNamespace())
				if err != nil {
					return err
				}
				rs := runTrips(ctx, lib, conn, size, h.cfg.TripReps)
				_ = conn.Close()
				for i := range rs {
					rs[i].Backend = b.Name
				}
				h.res.Trips = append(h.res.Trips, rs...)
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
	}
	for _, size := range h.cfg.Sizes {
		if size <= h.cfg.GorillaMaxSize {
			rs := runTrips(ctx, gorillaLib, nil, size, h.cfg.TripReps)
			for i := range rs {
				rs[i].Backend = cookieOnly
			}
			h.res.Trips = append(h.res.Trips, rs...)
		}
	}
	h.emit(tripsTable(h.res.Trips))
	return ctx.Err()
}

// measureFutures measures the futures cases; futures prints them. The
// command measures before it starts the servers, whose goroutines and heap
// would otherwise share the measurement.
func (h *harness) measureFutures(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.res.Futures = runFutures(h.cfg.FutureTarget, h.cfg.FutureRounds)
	return nil
}

// futures prints the futures table, measuring first if that was not done.
func (h *harness) futures(ctx context.Context) error {
	if h.res.Futures == nil {
		if err := h.measureFutures(ctx); err != nil {
			return err
		}
	}
	h.emit(futuresTable(h.res.Futures, h.cfg))
	return nil
}

// errCell formats a failed run, or one that could not run, for a table
// cell.
func errCell(err error) string {
	var nr notRun
	if errors.As(err, &nr) {
		return fmt.Sprintf("not run: %.100s", nr.err.Error())
	}
	return fmt.Sprintf("failed: %.100s", err.Error())
}
