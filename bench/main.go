// Command bench measures atomicsession against SCS v2.9.0 and
// gorilla/sessions v1.4.0, side by side, on the same servers, in one run:
// lost updates under concurrency, throughput and latency, store round trips
// and bytes per request, and the cost of futures.
//
// Run it from this directory:
//
//	cd bench && go run .              # the default run, a few minutes
//	cd bench && go run . -quick       # everything in under 90 seconds
//	cd bench && go run . -out ../docs # also write docs/benchmarks.svg and docs/benchmarks-results.md
//	cd bench && go run . -soak 60s    # the soak: the example's routes for 60 s per store
//	cd bench && go run . -quick -only throughput -stores redis # one scenario, one store
//
// It starts the servers it needs and stops them: an embedded FerretDB
// (MongoDB wire protocol, SQLite backend) in a temporary directory, a
// redis-server child on a free loopback port with persistence off, and a
// PostgreSQL 15 child (initdb + postgres from /usr/lib/postgresql/15/bin,
// as the postgres user when run as root) in a temporary directory on a
// free loopback port. Without redis-server or PostgreSQL it says so and
// skips their rows.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command's flags.
type cmdOptions struct {
	Quick bool
	Out   string
	Only  map[string]bool
	// Stores selects the backends by key; empty selects every one.
	Stores map[string]bool
	Soak   time.Duration // > 0: run the soak instead of the benchmark
}

// scenarios are the names -only accepts, in the order they run.
var scenarios = []string{"lost", "throughput", "trips", "futures"}

func parseFlags(args []string, stderr io.Writer) (cmdOptions, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o cmdOptions
	var only, stores string
	fs.BoolVar(&o.Quick, "quick", false, "run everything in under 90 seconds (shorter windows, fewer repetitions)")
	fs.StringVar(&o.Out, "out", "", "also write benchmarks.svg and benchmarks-results.md into this `directory`")
	fs.StringVar(&only, "only", "", "run only these comma-separated scenarios: lost, throughput, trips, futures")
	fs.StringVar(&stores, "stores", "", "run only on these comma-separated stores: redis, postgres, mongo (default all)")
	fs.DurationVar(&o.Soak, "soak", 0, "instead of the benchmark, run the example's routes at full speed for this `duration` against each store, printing every 10 s")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.Soak < 0 {
		return o, fmt.Errorf("-soak %v: want a positive duration", o.Soak)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	sel, err := parseOnly(only)
	o.Only = sel
	if err != nil {
		return o, err
	}
	o.Stores, err = parseStores(stores)
	return o, err
}

// storeKeys are the names -stores accepts.
var storeKeys = []string{"redis", "postgres", "mongo"}

func parseStores(s string) (map[string]bool, error) {
	return parseList("-stores", "store", s, storeKeys)
}

// wantStore says whether -stores selects the backend of key.
func (o cmdOptions) wantStore(key string) bool { return len(o.Stores) == 0 || o.Stores[key] }

func parseOnly(s string) (map[string]bool, error) {
	if s == "" {
		s = strings.Join(scenarios, ",")
	}
	return parseList("-only", "scenario", s, scenarios)
}

// parseList returns the set of the comma-separated names in s, each of
// which must be one of known; flag and what name them in the error.
func parseList(flag, what, s string, known []string) (map[string]bool, error) {
	sel := map[string]bool{}
	for _, n := range splitComma(s) {
		if !slices.Contains(known, n) {
			return nil, fmt.Errorf("%s: unknown %s %q (want some of %v)", flag, what, n, known)
		}
		sel[n] = true
	}
	return sel, nil
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opts.Soak > 0 {
		if err := runSoak(ctx, opts.Soak, opts.Out, opts.wantStore, stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		return 0
	}
	if err := runBench(ctx, opts, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

func runBench(ctx context.Context, opts cmdOptions, stdout, stderr io.Writer) error {
	began := time.Now()
	cfg := defaultConfig()
	if opts.Quick {
		cfg = quickConfig()
	}
	h := &harness{cfg: cfg, out: stdout}
	if opts.Only["futures"] {
		if err := h.measureFutures(ctx); err != nil {
			return err
		}
	}
	env, backends, stopServers, err := startBackends(ctx, stderr, opts.wantStore)
	if err != nil {
		return err
	}
	defer stopServers()
	h.backends = backends
	env.Mode = "default"
	if opts.Quick {
		env.Mode = "-quick"
	}
	env.write(stdout)
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"lost", h.lostUpdates}, {"throughput", h.throughput}, {"trips", h.roundTrips}, {"futures", h.futures},
	}
	for _, s := range steps {
		if !opts.Only[s.name] {
			continue
		}
		t0 := time.Now()
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(stdout, "  (%s took %.1f s)\n", s.name, time.Since(t0).Seconds())
	}
	if opts.Only["throughput"] || opts.Only["lost"] {
		h.emit(targetsTable(h.res))
	}
	env.Took = time.Since(began)
	env.LoadAt[1] = loadAvg()
	fmt.Fprintf(stdout, "\nTotal: %.1f s, servers included. Load average at the end: %s.\n", env.Took.Seconds(), env.LoadAt[1])
	if opts.Out != "" {
		if err := writeOutputs(opts.Out, env, h); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Wrote %s, %s and %s.\n", pagePath(opts.Out), svgPath(opts.Out), mdPath(opts.Out))
	}
	return nil
}
