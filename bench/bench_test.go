package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaks a goroutine: every app server,
// HTTP client, store client and child server must be stopped. The cleanup
// goroutine of the memory store that scs.New makes by default runs until
// the process ends (SCS's StopCleanup races with its start), so it is
// ignored.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/alexedwards/scs/v2/memstore.(*MemStore).startCleanup")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// memoryPair returns the store clients of two app instances on one memory
// backend.
func memoryPair(t *testing.T) [2]*storeConn {
	t.Helper()
	b, closeMem := memoryBackend()
	t.Cleanup(closeMem)
	conns, closeConns, err := connectPair(context.Background(), b, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeConns)
	return conns
}

// TestAtomicKeepsEveryIncrement runs the full lost-update scenario (32
// clients × 50, two instances) for atomicsession on the memory store: the
// accounting must find 1600 acknowledged and 1600 kept.
func TestAtomicKeepsEveryIncrement(t *testing.T) {
	cfg := lostConfig{Clients: 32, PerClient: 50, Timeout: time.Minute}
	for _, lib := range atomicLibs() {
		r := runLost(context.Background(), lostIncrements, lib, memoryPair(t), cfg)
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if r.Requests != 1600 || r.OK != 1600 || r.Expected != 1600 || r.Kept != 1600 || r.Lost() != 0 {
			t.Fatalf("%s: got requests %d, ok %d, expected %d, kept %d, lost %d; want 1600 of each and 0 lost (first error: %s)",
				lib.Name, r.Requests, r.OK, r.Expected, r.Kept, r.Lost(), r.FirstErr)
		}
	}
}

// atomicLibs are atomicsession's rows this build can run: the plain one,
// and the fast path where the library has it.
func atomicLibs() []library {
	if hasAttach {
		return []library{atomicLib, atomicFast}
	}
	return []library{atomicLib}
}

// TestAtomicKeepsEveryOwnKey runs the own-keys scenario for atomicsession
// on the memory store: all 32 keys must hold their last value.
func TestAtomicKeepsEveryOwnKey(t *testing.T) {
	cfg := lostConfig{Clients: 32, PerClient: 10, Timeout: time.Minute}
	r := runLost(context.Background(), lostOwnKeys, atomicLib, memoryPair(t), cfg)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Expected != 32 || r.Kept != 32 || r.Present != 32 {
		t.Fatalf("got expected %d, kept %d, present %d; want 32 each (first error: %s)", r.Expected, r.Kept, r.Present, r.FirstErr)
	}
}

// TestSequentialClientLosesNothing checks the accounting of every library
// where nothing races: one client's increments and key writes are all kept,
// so a loss reported under concurrency is the library's, not the harness'.
func TestSequentialClientLosesNothing(t *testing.T) {
	cfg := lostConfig{Clients: 1, PerClient: 30, Timeout: time.Minute}
	for _, lib := range []library{atomicLib, scsLib, gorillaLib} {
		for _, kind := range []lostKind{lostIncrements, lostOwnKeys} {
			t.Run(lib.Name+"/"+string(kind), func(t *testing.T) {
				r := runLost(context.Background(), kind, lib, memoryPair(t), cfg)
				if r.Err != nil {
					t.Fatal(r.Err)
				}
				want := 30
				if kind == lostOwnKeys {
					want = 1
				}
				if r.OK != 30 || r.Expected != want || r.Kept != want || r.Lost() != 0 {
					t.Fatalf("got ok %d, expected %d, kept %d, lost %d; want 30 ok, %d expected and kept (first error: %s)",
						r.OK, r.Expected, r.Kept, r.Lost(), want, r.FirstErr)
				}
			})
		}
	}
}

// TestConcurrentAccountingIsConsistent runs SCS and gorilla under
// concurrency: whatever they lose, the harness must never report more kept
// than acknowledged, nor a failed request.
func TestConcurrentAccountingIsConsistent(t *testing.T) {
	cfg := lostConfig{Clients: 8, PerClient: 10, Timeout: time.Minute}
	for _, lib := range []library{scsLib, gorillaLib} {
		r := runLost(context.Background(), lostIncrements, lib, memoryPair(t), cfg)
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if r.OK != 80 || r.Kept < 1 || r.Kept > r.Expected {
			t.Fatalf("%s: got ok %d, expected %d, kept %d; want 80 ok and 1 <= kept <= expected", lib.Name, r.OK, r.Expected, r.Kept)
		}
	}
}

// TestRedisRoundTrips counts the store traffic of both libraries on a real
// redis-server: the figures the documentation claims.
func TestRedisRoundTrips(t *testing.T) {
	rs, err := startRedis()
	if errors.Is(err, errNoRedis) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	b := redisBackend(rs.Addr, "Redis")
	ctx := context.Background()
	trips := map[string]map[string]tripResult{}
	for _, lib := range append(atomicLibs(), scsLib) {
		conn, err := b.connect(ctx, newNamespace())
		if err != nil {
			t.Fatal(err)
		}
		rows := runTrips(ctx, lib, conn, 64<<10, 3)
		if err := conn.Close(); err != nil {
			t.Fatal(err)
		}
		trips[lib.Name] = map[string]tripResult{}
		for _, r := range rows {
			if r.Err != nil {
				t.Fatalf("%s %s: %v", lib.Name, r.Request, r.Err)
			}
			trips[lib.Name][r.Request] = r
		}
	}
	want := map[string]map[string]float64{
		libAtomic: {"untouched, with cookie": 0, "read-only": 1, "one write": 2, "read + 4 commands": 2, tripRW: 2},
		libSCS:    {"untouched, with cookie": 1, "read-only": 1, "one write": 2, "read + 4 commands": 2, tripRW: 2},
	}
	if hasAttach {
		// The fast path: a write needs no load, and a Fetch joins the
		// commands' batch.
		want[libAtomicFast] = map[string]float64{"untouched, with cookie": 0, "read-only": 1, "one write": 1, "read + 4 commands": 1, tripRW: 1, tripRWBig: 1}
	}
	for lib, reqs := range want {
		for req, n := range reqs {
			if got := trips[lib][req].Traffic.Trips; got != n {
				t.Errorf("%s, %s: %v round trips, want %v", lib, req, got, n)
			}
		}
	}
	if sent := trips[libAtomic]["one write"].Traffic.Sent; sent <= 0 || sent >= 4096 {
		t.Errorf("atomicsession sent %v bytes for a one-key write on a 64 KB session, want 1..4095", sent)
	}
	if sent := trips[libSCS]["one write"].Traffic.Sent; sent < 64<<10 {
		t.Errorf("SCS sent %v bytes for a one-key write on a 64 KB session, want the whole session (>= 65536)", sent)
	}
}

func TestRespSize(t *testing.T) {
	cases := []struct {
		args []any
		want string
	}{
		{[]any{"get", "k"}, "*2\r\n$3\r\nget\r\n$1\r\nk\r\n"},
		{[]any{"set", "key", []byte("value"), "px", int64(1500)}, "*5\r\n$3\r\nset\r\n$3\r\nkey\r\n$5\r\nvalue\r\n$2\r\npx\r\n$4\r\n1500\r\n"},
		{[]any{"evalsha", "abc", 1, "k", 2.5, true}, "*6\r\n$7\r\nevalsha\r\n$3\r\nabc\r\n$1\r\n1\r\n$1\r\nk\r\n$3\r\n2.5\r\n$1\r\n1\r\n"},
	}
	for _, c := range cases {
		if got := respSize(c.args); got != len(c.want) {
			t.Errorf("respSize(%v) = %d, want %d", c.args, got, len(c.want))
		}
	}
}

// TestOutputs renders a run's tables and chart from made-up results and
// checks that the SVG is well-formed XML and the tables hold the ratios.
func TestOutputs(t *testing.T) {
	cfg := quickConfig()
	res := results{
		Lost: []lostResult{
			{Kind: lostIncrements, Library: libAtomic, Backend: "Redis", Setup: "2 instances, 2 clients", Requests: 640, OK: 640, Expected: 640, Kept: 640},
			{Kind: lostIncrements, Library: libSCS, Backend: "Redis", Setup: "2 instances, 2 clients", Requests: 640, OK: 640, Expected: 640, Kept: 64},
			{Kind: lostIncrements, Library: libSCS, Backend: "Redis", Err: errors.New("boom")},
		},
		Tput: []tputResult{
			{Scenario: "a", Library: libSCS, Backend: "Redis", Size: 1024, Requests: 1000, Window: time.Second, P50: time.Millisecond, P99: 4 * time.Millisecond},
			{Scenario: "a", Library: libAtomic, Backend: "Redis", Size: 1024, Requests: 1500, Window: time.Second, P50: time.Millisecond, P99: 2 * time.Millisecond},
			{Scenario: "a", Library: libRaw, Backend: "Redis", Size: 1024, Requests: 3000, Window: time.Second, P50: time.Millisecond, P99: 2 * time.Millisecond},
			{Scenario: "b", Library: libSCS, Backend: "PostgreSQL", Size: 64 << 10, Requests: 100, Window: time.Second, HasWAL: true, WAL: 70000},
			{Scenario: "b", Library: libAtomic, Backend: "PostgreSQL", Size: 64 << 10, Requests: 100, Window: time.Second, HasWAL: true, WAL: 700},
		},
		Trips: []tripResult{
			{Library: libAtomic, Backend: "Redis", Size: 64 << 10, Request: "one write", Traffic: trafficAvg{Trips: 2, Cmds: 2, Sent: 360}},
			{Library: libSCS, Backend: "Redis", Size: 64 << 10, Request: "one write", Traffic: trafficAvg{Trips: 2, Cmds: 2, Sent: 65903}},
		},
		Futures: []futureResult{{Name: "goroutine + channel", NsOp: 1000, Allocs: 3}, {Name: "plain calls", NsOp: 10}},
	}
	var svg bytes.Buffer
	if err := writeSVG(&svg, "title <&>", "sub", chartPanels(res, cfg)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(svg.String(), "(b) PostgreSQL WAL bytes per request") || !strings.Contains(svg.String(), "raw store (limit)") {
		t.Errorf("chart lacks the WAL panel or the raw limit:\n%s", svg.String())
	}
	dec := xml.NewDecoder(&svg)
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
	}
	var text bytes.Buffer
	for _, tb := range append(tputTables(res.Tput, cfg), lostTable(res.Lost, cfg.Lost), tripsTable(res.Trips), futuresTable(res.Futures, cfg)) {
		tb.writeText(&text)
		tb.writeMarkdown(&text)
	}
	for _, want := range []string{"90.0%", "×1.50", "×0.50", "×0.01", "failed: boom", "×0.01 ", "70,000", "×0.50 "} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("tables lack %q:\n%s", want, text.String())
		}
	}
	var targets bytes.Buffer
	targetsTable(res).writeMarkdown(&targets)
	for _, want := range []string{
		"| (a) 1 KB read + write: req/s ≥ ×1.5 SCS | Redis | ×1.50 | yes |",
		"| (a) 1 KB read + write: req/s ≥ ×0.8 the raw store | Redis | ×0.50 | no |",
		"| (b) WAL bytes per request ≤ 1/10 of pgxstore's | PostgreSQL | ×0.01 | yes |",
		"| (b) 64 KB, small read + write: req/s ≥ ×5 SCS | PostgreSQL | ×1.00 | no |",
		"| (d) lost updates, increments: 0 | Redis | 0 of 640 | yes |",
	} {
		if !strings.Contains(targets.String(), want) {
			t.Errorf("targets lack %q:\n%s", want, targets.String())
		}
	}
}

func TestFlags(t *testing.T) {
	if _, err := parseFlags([]string{"-only", "lost,nope"}, io.Discard); err == nil {
		t.Error("-only with an unknown scenario: no error")
	}
	o, err := parseFlags([]string{"-quick", "-only", "trips,futures"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Quick || !o.Only["trips"] || !o.Only["futures"] || o.Only["lost"] || o.Soak != 0 {
		t.Errorf("got %+v", o)
	}
	if o, err := parseFlags([]string{"-soak", "60s"}, io.Discard); err != nil || o.Soak != time.Minute {
		t.Errorf("-soak 60s: got %v, %v; want 1m0s", o.Soak, err)
	}
	if _, err := parseFlags([]string{"-soak", "-1s"}, io.Discard); err == nil {
		t.Error("-soak -1s: no error")
	}
	if _, err := parseFlags([]string{"-stores", "redis,mysql"}, io.Discard); err == nil {
		t.Error("-stores with an unknown store: no error")
	}
	o, err = parseFlags([]string{"-stores", "redis"}, io.Discard)
	if err != nil || !o.wantStore("redis") || o.wantStore("postgres") || o.wantStore("mongo") {
		t.Errorf("-stores redis: got %v, %v", o.Stores, err)
	}
	if o, _ := parseFlags(nil, io.Discard); !o.wantStore("mongo") {
		t.Error("no -stores: mongo not selected")
	}
}

func TestParseCommandStats(t *testing.T) {
	text := "# Commandstats\r\ncmdstat_evalsha:calls=4,usec=40,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_hmget:calls=3,usec=3\r\ncmdstat_info:calls=9,usec=1\r\ncmdstat_client|setinfo:calls=2,usec=1\r\n"
	after, err := parseCommandStats(text)
	if err != nil {
		t.Fatal(err)
	}
	before := serverCommands{"evalsha": 2, "hmget": 3}
	d := after.minus(before)
	if d.total() != 2 || d["evalsha"] != 2 {
		t.Errorf("minus: got %v, want evalsha 2 only (hmget unchanged; info and client set-up left out)", d)
	}
	if got := (serverCommands{"evalsha": 4, "hget": 8}).perRequest(4); got != "hget 2 · evalsha 1" {
		t.Errorf("perRequest: got %q", got)
	}
}
