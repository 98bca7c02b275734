package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atomicsession/atomicsession/future"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/session"
)

// The soak (-soak D) runs the routes of examples/koa-style at full speed
// for D against each store and prints, every soakInterval, the requests
// per second, p99, errors, the Go heap in use and the goroutines of the
// process, so that a leak shows as a figure that keeps growing after the
// first interval. It is not part of the test suite's time budget.

// soakInterval is how often the soak prints a line.
const soakInterval = 10 * time.Second

// soakClients is the number of concurrent visitors, each with a cookie of
// its own.
const soakClients = 16

// soakVisit is what one visitor does, over and over: log in (a new
// session), then soakRounds times look at the page, leave a message, add
// to the cart and read the session as JSON, then log out.
const soakRounds = 5

// soakApp serves the example's routes on store, without its templates
// and CSRF guard (the soak sends no forms): GET requests answering 200
// instead of redirects, so that every request is one round of work.
//
//	/             views += 1, then the page's values
//	/message?m=   message = m
//	/login?u=     a new session (Regenerate) with user = u
//	/logout       Destroy
//	/cart?i=      push i to cart, cartCount += 1, lastItem = i, together
//	/api/session  the session's keys as JSON
func soakApp(store session.Store) (http.Handler, error) {
	m, err := middleware.New(store, middleware.Options{
		Keys:   [][]byte{signingKey},
		Secure: middleware.SecureNever,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, fmt.Errorf("atomicsession middleware: %w", err)
	}
	mux := http.NewServeMux()
	route := func(path string, fn func(ctx context.Context, s *session.Session, r *http.Request) (any, error)) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			s, err := middleware.Session(r).Await(r.Context())
			if err == nil {
				var out any
				if out, err = fn(r.Context(), s, r); err == nil {
					writeJSON(w, out)
					return
				}
			}
			fail(w, err)
		})
	}
	route("/", func(ctx context.Context, s *session.Session, r *http.Request) (any, error) {
		if _, err := s.Inc("views", 1).Then(s.Update).Await(ctx); err != nil {
			return nil, err
		}
		return map[string]any(s.Values()), nil
	})
	route("/message", func(ctx context.Context, s *session.Session, r *http.Request) (any, error) {
		_, err := s.Set("message", r.URL.Query().Get("m")).Then(s.Update).Await(ctx)
		return "ok", err
	})
	route("/login", func(ctx context.Context, s *session.Session, r *http.Request) (any, error) {
		fresh := future.Chain(s.Regenerate(), func(n *session.Session) *future.Future[session.Doc] {
			return n.Set("user", r.URL.Query().Get("u")).Then(n.Update)
		})
		_, err := fresh.Await(ctx)
		return "ok", err
	})
	route("/logout", func(ctx context.Context, s *session.Session, r *http.Request) (any, error) {
		_, err := s.Destroy().Await(ctx)
		return "ok", err
	})
	route("/cart", func(ctx context.Context, s *session.Session, r *http.Request) (any, error) {
		item := r.URL.Query().Get("i")
		docs, err := future.All(s.Push("cart", item), s.Inc("cartCount", 1), s.Set("lastItem", item)).Await(ctx)
		if err != nil {
			return nil, err
		}
		_, _ = s.Update(docs[len(docs)-1])
		return "ok", nil
	})
	route("/api/session", func(ctx context.Context, s *session.Session, r *http.Request) (any, error) {
		return map[string]any(s.Values()), nil
	})
	return m.Handler(mux), nil
}

// soakSample is one interval of a soak.
type soakSample struct {
	At         time.Duration // since the soak's start, at the interval's end
	Requests   int
	Errors     int
	P99        time.Duration
	HeapInuse  uint64
	Goroutines int
	FirstErr   string
}

// soakStats collects the latencies and errors of the current interval.
type soakStats struct {
	mu       sync.Mutex
	lat      []time.Duration
	errs     int
	firstErr string
}

func (s *soakStats) add(d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs++
		if s.firstErr == "" {
			s.firstErr = err.Error()
		}
		return
	}
	s.lat = append(s.lat, d)
}

// take returns the interval's figures and starts a new interval.
func (s *soakStats) take() (lat []time.Duration, errs int, firstErr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lat, errs, firstErr = s.lat, s.errs, s.firstErr
	s.lat, s.errs, s.firstErr = make([]time.Duration, 0, len(lat)), 0, ""
	return lat, errs, firstErr
}

// runSoak starts the servers and soaks each store in turn for d. With
// outDir set it writes the figures into the soak section of
// outDir/benchmarks.md.
func runSoak(ctx context.Context, d time.Duration, outDir string, want func(string) bool, stdout, stderr io.Writer) error {
	env, backends, stopServers, err := startBackends(ctx, stderr, want)
	if err != nil {
		return err
	}
	defer stopServers()
	env.Mode = "-soak " + d.String()
	env.write(stdout)
	var tables []*table
	for _, b := range backends {
		t, err := soakBackend(ctx, b, d, stdout)
		if err != nil {
			return fmt.Errorf("soak %s: %w", b.Name, err)
		}
		tables = append(tables, t)
	}
	env.Took = time.Since(env.Started)
	env.LoadAt[1] = loadAvg()
	if outDir == "" {
		return nil
	}
	var md strings.Builder
	fmt.Fprintf(&md, "The soak of %s (`cd bench && go run . -soak %v -out ../docs`), %s, took %.0f s; load average (1, 5, 15 min) at start %s, at end %s; %s.\n\n",
		env.Started.UTC().Format(time.RFC3339), d, env.Commit, env.Took.Seconds(), env.LoadAt[0], env.LoadAt[1], env.Go)
	for _, t := range tables {
		t.writeMarkdown(&md)
	}
	if err := writeSoakSection(pagePath(outDir), md.String()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nWrote the soak section of %s.\n", pagePath(outDir))
	return nil
}

// soakBackend soaks one store for d and returns its table, printing each
// interval as it ends.
func soakBackend(ctx context.Context, b backend, d time.Duration, out io.Writer) (*table, error) {
	t := &table{
		Title:  fmt.Sprintf("Soak: the example's routes on atomicsession, %s, %d visitors, %v", b.Name, soakClients, d),
		Header: []string{"at", "req/s", "p99", "errors", "Go heap in use", "goroutines", "first error"},
		Align:  "rrrrrrl",
		Notes: []string{
			fmt.Sprintf("Each visitor: log in (Regenerate, set user), then %d × (page view: views += 1; message; cart: push + inc + set together; read the session as JSON), then log out (Destroy); again, with no pause. One app instance over HTTP on loopback; heap in use (runtime.MemStats.HeapInuse) and goroutines are the whole process's, servers' clients and the embedded FerretDB included.", soakRounds),
		},
	}
	conn, err := b.connect(ctx, newNamespace())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if conn.atomic == nil {
		t.add("", errCell(conn.atomicErr))
		t.writeText(out)
		return t, nil
	}
	h, err := soakApp(conn.atomic)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := newHTTPClient()
	defer client.CloseIdleConnections()

	fmt.Fprintf(out, "\n== %s\n\n", t.Title)
	// The visitors run until the last figures are taken, so that every
	// interval, the last one included, is measured under full load.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stats := &soakStats{}
	var wg sync.WaitGroup
	for i := range soakClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			soakVisitor(runCtx, client, srv.URL, i, stats)
		}()
	}
	start := time.Now()
	tick := time.NewTicker(soakInterval)
	defer tick.Stop()
	end := time.NewTimer(d)
	defer end.Stop()
	var samples []soakSample
	sample := func() {
		lat, errs, firstErr := stats.take()
		slices.Sort(lat)
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		s := soakSample{At: time.Since(start), Requests: len(lat), Errors: errs, P99: percentile(lat, 0.99),
			HeapInuse: mem.HeapInuse, Goroutines: runtime.NumGoroutine(), FirstErr: firstErr}
		prev := time.Duration(0)
		if len(samples) > 0 {
			prev = samples[len(samples)-1].At
		}
		rps := float64(s.Requests) / (s.At - prev).Seconds()
		samples = append(samples, s)
		row := []string{strconv.FormatFloat(s.At.Seconds(), 'f', 0, 64) + " s", count(int64(rps + 0.5)), ms(s.P99),
			strconv.Itoa(s.Errors), mib(s.HeapInuse), strconv.Itoa(s.Goroutines), truncate(s.FirstErr, 80)}
		t.add(row...)
		fmt.Fprintf(out, "  %6s  %7s req/s  p99 %9s  errors %4s  heap in use %9s  goroutines %5s  %s\n", row[0], row[1], row[2], row[3], row[4], row[5], row[6])
	}
loop:
	for {
		select {
		case <-tick.C:
			sample()
		case <-end.C:
			// A last interval shorter than half of one is left out.
			if time.Since(start)-lastAt(samples) >= soakInterval/2 {
				sample()
			}
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	cancel()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

func lastAt(s []soakSample) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1].At
}

// soakVisitor is visitor i: it runs its visits until ctx ends, recording
// each request into stats. A request cut off by the end of the soak is
// not counted.
func soakVisitor(ctx context.Context, client *http.Client, base string, i int, stats *soakStats) {
	box := &cookieBox{name: middleware.DefaultCookieName}
	do := func(path string) bool {
		t0 := time.Now()
		_, err := get(ctx, client, base, path, box)
		if ctx.Err() != nil {
			return false
		}
		stats.add(time.Since(t0), err)
		return true
	}
	for visit := 0; ctx.Err() == nil; visit++ {
		if !do("/login?u=visitor" + strconv.Itoa(i)) {
			return
		}
		for r := range soakRounds {
			v := strconv.Itoa(visit*soakRounds + r)
			for _, path := range []string{"/", "/message?m=hello+" + v, "/cart?i=item" + v, "/api/session"} {
				if !do(path) {
					return
				}
			}
		}
		if !do("/logout") {
			return
		}
	}
}

// mib formats n bytes in MiB.
func mib(n uint64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
}

// truncate returns s cut to n runes.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// soakValues decodes a /api/session answer (for the tests).
func soakValues(body []byte) (map[string]any, error) {
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("decode /api/session: %w", err)
	}
	return out, nil
}
