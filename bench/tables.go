package main

import (
	"fmt"
	"strconv"
	"strings"
)

func lostTable(rs []lostResult, cfg lostConfig) *table {
	t := &table{
		Title:  "(d) Lost updates: two app instances on one store, one session cookie shared by concurrent clients",
		Header: []string{"scenario", "library", "store", "instances → store", "requests ok", "expected", "kept", "lost", "lost %", "time", "detail"},
		Align:  "llllrrrrrrl",
		Notes: []string{
			fmt.Sprintf("increments: %d clients × %d requests of n += 1, alternating between the two instances; expected = increments answered 200, kept = n read back.", cfg.Clients, cfg.PerClient),
			fmt.Sprintf("own keys: %d clients each set a key of their own %d times (values 1..%d) in the same session; expected = keys whose last write was answered 200, kept = keys read back with their last value.", cfg.Clients, cfg.PerClient, cfg.PerClient),
			"The clients share one cookie as tabs of one browser do: each response's Set-Cookie replaces it. gorilla keeps the session in that cookie, so its lost updates are responses overwriting each other's cookie.",
		},
	}
	for _, r := range rs {
		if strings.HasSuffix(r.Setup, unsharedConns) {
			t.Notes = append(t.Notes, "\""+unsharedConns+"\" rows: each instance has its own client, so the updates reach FerretDB over two connections. FerretDB 1.x applies update operators as read-modify-write without a lock across connections, so the server itself loses updates that a real MongoDB applies atomically. The other FerretDB rows share one connection, which the server serializes.")
			break
		}
	}
	for _, r := range rs {
		if r.Err != nil {
			t.add(string(r.Kind), r.Library, r.Backend, r.Setup, errCell(r.Err))
			continue
		}
		detail := ""
		if r.Kind == lostOwnKeys {
			detail = plural(float64(r.Present), "key") + " present"
		}
		if r.OK < r.Requests {
			if detail != "" {
				detail += "; "
			}
			detail += fmt.Sprintf("%d failed: %.80s", r.Requests-r.OK, r.FirstErr)
		}
		t.add(string(r.Kind), r.Library, r.Backend, r.Setup,
			count(int64(r.OK))+"/"+count(int64(r.Requests)),
			count(int64(r.Expected)), count(int64(r.Kept)), count(int64(r.Lost())), percent(r.Lost(), r.Expected),
			strconv.FormatFloat(r.Took.Seconds(), 'f', 1, 64)+" s", detail)
	}
	return t
}

// tputTables returns one throughput table per scenario.
func tputTables(rs []tputResult, cfg config) []*table {
	var out []*table
	for _, sc := range tputScenarios {
		var rows []tputResult
		for _, r := range rs {
			if r.Scenario == sc.Key {
				rows = append(rows, r)
			}
		}
		if len(rows) > 0 {
			out = append(out, tputTable(sc, rows, cfg))
		}
	}
	return out
}

func tputTable(sc scenario, rs []tputResult, cfg config) *table {
	t := &table{
		Title: fmt.Sprintf("(%s) Throughput and latency: %s, %d clients, each with a session of its own", sc.Key, sc.Title, cfg.Tput.Clients),
		Header: []string{"store", "library", "req/s", "rounds (req/s)", "p50", "p99", "failed",
			"round trips", "server cmds", "bytes sent", "bytes received", "WAL bytes", "req/s ours/SCS", "req/s ours/raw", "p99 ours/SCS"},
		Align: "llrrrrrrrrrrrrr",
		Notes: []string{
			fmt.Sprintf("Each row: %d round(s), each %v of warm-up and %v measured; the rounds run every row of every scenario in turn, so that a change in the machine's load spreads over all rows alike. req/s is the median round; p50 and p99 are over every request of every round. Over HTTP on loopback (httptest servers), one app instance, a new store client per round; the load generator, the app and the servers share the machine's cores.", max(cfg.Tput.Rounds, 1), cfg.Tput.Warmup, cfg.Tput.Duration),
			"Round trips, server commands (Redis: INFO commandstats, commands called by scripts included), bytes sent to and received from the store, and (PostgreSQL) WAL bytes are per request, over every request of the row's rounds, warm-up included; WAL is pg_current_wal_insert_lsn() after minus before, so autovacuum and checkpoints (full-page images) land in it as they would in production. With batching across requests, one round trip carries several requests' store calls: the round trips per request fall below one.",
			rawMongoNoProjection,
			"Ratios are atomicsession over SCS, and over the raw store, from this same run: above ×1 req/s and below ×1 p99 favour atomicsession. A req/s ratio is the median of the per-round ratios (round i of one row over round i of the other, measured seconds apart), which machine noise that comes and goes moves less than the ratio of the medians. The raw store is the limit: the least store work for the same request with no session library (Redis: one pipeline of HMGET + HINCRBY + PEXPIRE on a hash per session; PostgreSQL: one UPDATE … RETURNING on a row per session, a column per key; MongoDB: one findOneAndUpdate with a projection), an unsigned session id in the cookie.",
			"\"" + libAtomicUnbatched + "\" is the fast path with batching across requests turned off (middleware.Options.NoBatching): each request's batch is a store call of its own. Its req/s against the \"" + libAtomicFast + "\" row is what batching is worth on that store.",
		},
	}
	if sc.Size <= cfg.GorillaMaxSize {
		t.Notes = append(t.Notes, fmt.Sprintf("gorilla runs without a store and only up to %s: a cookie holds at most 4096 bytes.", sizeName(cfg.GorillaMaxSize)))
	}
	for _, r := range rs {
		if r.Err != nil {
			t.add(r.Backend, r.Library, errCell(r.Err))
			continue
		}
		var rounds []string
		for _, x := range r.Rounds {
			rounds = append(rounds, count(int64(x+0.5)))
		}
		reqRatio, rawRatio, p99Ratio := "", "", ""
		if r.Library == libAtomic || r.Library == libAtomicFast || r.Library == libAtomicUnbatched {
			if s, ok := findTput(rs, libSCS, r.Backend, r.Scenario); ok {
				reqRatio = ratioOf(rpsRatio(r, s))
				p99Ratio = ratio(float64(r.P99), float64(s.P99))
			}
			if s, ok := findTput(rs, libRaw, r.Backend, r.Scenario); ok {
				rawRatio = ratioOf(rpsRatio(r, s))
			}
		}
		trips, cmds, sent, recv, wal := "", "", "", "", ""
		if r.HasCommands {
			cmds = countf(r.Commands)
		}
		if r.Backend != cookieOnly {
			trips, sent, recv = countf(r.Traffic.Trips), count(int64(r.Traffic.Sent+0.5)), count(int64(r.Traffic.Recv+0.5))
		}
		if r.HasWAL {
			wal = count(int64(r.WAL + 0.5))
		}
		t.add(r.Backend, r.Library, count(int64(r.RPS()+0.5)), strings.Join(rounds, " "), ms(r.P50), ms(r.P99),
			strconv.Itoa(r.Failed), trips, cmds, sent, recv, wal, reqRatio, rawRatio, p99Ratio)
	}
	return t
}

func findTput(rs []tputResult, lib, backend, sc string) (tputResult, bool) {
	for _, r := range rs {
		if r.Library == lib && r.Backend == backend && r.Scenario == sc && r.Err == nil {
			return r, true
		}
	}
	return tputResult{}, false
}

func tripsTable(rs []tripResult) *table {
	t := &table{
		Title:  "(e) Store round trips, bytes and WAL per request type, on a session that exists",
		Header: []string{"store", "session", "request", "library", "round trips", "commands", "server commands (Redis)", "bytes sent", "bytes received", "WAL bytes", "Set-Cookie bytes", "sent ours/SCS", "WAL ours/SCS"},
		Align:  "llllrrlrrrrrr",
		Notes: []string{
			"Counted by wrapping each store client: MongoDB with a mongo-driver event.CommandMonitor (command and reply document sizes); go-redis (atomicsession, the raw store) with a Hook (RESP bytes written) and a counting connection (bytes read); SCS's redisstore (redigo) and every PostgreSQL client (pgx) on the connection itself: bytes each way, and a round trip for each burst of writes after a read, with commands counted by a redigo.Conn wrapper and a pgx tracer. Commands are counted as the client sends them (a Redis MULTI … EXEC pipeline is one round trip and counts MULTI and EXEC). Driver handshakes and heartbeats are not counted. WAL bytes: pg_current_wal_insert_lsn() after the request minus before, requests one at a time.",
			"one write: sets one key without reading; read + 4 commands: reads a key, then a = v, b = v, c += 1, d = \"x\"; read a small key + write one: the request of (a) and (b); read the large key + write one: the request of (c).",
			"Set-Cookie bytes are what the response sends to the browser; gorilla's session travels there instead of to a store.",
			"Server commands (Redis) are what the server ran per request, from INFO commandstats before and after each request (read on a connection of its own, and left out): every command a script calls counts, under its own name, besides the EVALSHA that ran the script; connection set-up does not count.",
		},
	}
	for _, r := range rs {
		if r.Err != nil {
			t.add(r.Backend, sizeName(r.Size), r.Request, r.Library, errCell(r.Err))
			continue
		}
		sentRatio, walRatio, wal := "", "", ""
		if r.HasWAL {
			wal = count(int64(r.WAL + 0.5))
		}
		if r.Library == libAtomic || r.Library == libAtomicFast {
			if s, ok := findTrip(rs, libSCS, r.Backend, r.Size, r.Request); ok {
				sentRatio = ratio(r.Traffic.Sent, s.Traffic.Sent)
				if r.HasWAL {
					walRatio = ratio(r.WAL, s.WAL)
				}
			}
		}
		t.add(r.Backend, sizeName(r.Size), r.Request, r.Library, countf(r.Traffic.Trips), countf(r.Traffic.Cmds), r.commandsCell(),
			count(int64(r.Traffic.Sent+0.5)), count(int64(r.Traffic.Recv+0.5)), wal, count(int64(r.Cookie+0.5)), sentRatio, walRatio)
	}
	return t
}

func findTrip(rs []tripResult, lib, backend string, size int, req string) (tripResult, bool) {
	for _, r := range rs {
		if r.Library == lib && r.Backend == backend && r.Size == size && r.Request == req && r.Err == nil {
			return r, true
		}
	}
	return tripResult{}, false
}

func futuresTable(rs []futureResult, cfg config) *table {
	t := &table{
		Title:  "Futures: three steps of work (source, +1, +1), awaited",
		Header: []string{"how", "ns/op", "allocs/op", "× goroutine + channel"},
		Align:  "lrrr",
		Notes: []string{fmt.Sprintf("Measured in this process before the servers start, as testing.B does (the count per round grows until a round takes %v), in %d rounds with the cases taking turns; ns/op is the median round. Allocations from runtime.MemStats.",
			cfg.FutureTarget, max(cfg.FutureRounds, 1))},
	}
	var base float64
	for _, r := range rs {
		if r.Name == "goroutine + channel" && r.Err == nil {
			base = r.NsOp
		}
	}
	for _, r := range rs {
		if r.Err != nil {
			t.add(r.Name, errCell(r.Err))
			continue
		}
		t.add(r.Name, strconv.FormatFloat(r.NsOp, 'f', 0, 64), strconv.FormatFloat(r.Allocs, 'f', 1, 64), ratio(r.NsOp, base))
	}
	return t
}

// target is one of issue 15's targets: a ratio of this run against a bound.
type target struct {
	Name  string
	Store string
	Value float64 // the measured ratio; NaN when not measured
	Min   bool    // Value must be >= Bound (else <= Bound)
	Bound float64
	Text  string // the measured value as printed
	Raw   string // the raw store's ratio against the same bound, as printed
}

// targetsTable checks the targets against this run's results.
func targetsTable(res results) *table {
	t := &table{
		Title:  "Targets (issue 15), each a ratio from this run",
		Header: []string{"target", "store", "measured", "met", "raw store, same ratio"},
		Align:  "llrlr",
		Notes: []string{
			"Throughput and WAL targets take atomicsession's fast-path row (\"" + libAtomicFast + "\": Attach, then a Fetch queued with the write, one round trip) where it ran, else the plain row (Session(r, keys...), then the write: two round trips).",
			"The last column is the raw store's own ratio against SCS in the same run (no session library, the least store work): where it is below a target's bound, no session library on that store reaches the bound on this machine.",
			"Where a target is not met, docs/benchmarks.md says what it would take.",
		},
	}
	stores := map[string]bool{}
	var order []string
	for _, r := range res.Tput {
		if r.Backend != cookieOnly && !stores[r.Backend] {
			stores[r.Backend] = true
			order = append(order, r.Backend)
		}
	}
	// ours is the fast path's row where it ran, else the plain one.
	ours := func(store, sc string) (tputResult, bool) {
		if r, ok := findTput(res.Tput, libAtomicFast, store, sc); ok {
			return r, true
		}
		return findTput(res.Tput, libAtomic, store, sc)
	}
	tputRatio := func(sc, lib, store string) (float64, bool) {
		a, ok1 := ours(store, sc)
		b, ok2 := findTput(res.Tput, lib, store, sc)
		if !ok1 || !ok2 {
			return 0, false
		}
		return rpsRatio(a, b)
	}
	var ts []target
	add := func(name, store string, v float64, ok, isMin bool, bound float64) {
		text := "not measured"
		if ok {
			text = "×" + strconv.FormatFloat(v, 'f', 2, 64)
		}
		ts = append(ts, target{Name: name, Store: store, Value: v, Min: isMin, Bound: bound, Text: text})
		if !ok {
			ts[len(ts)-1].Value = -1
		}
	}
	// rawVsSCS is the raw store's req/s over SCS's in scenario sc.
	rawVsSCS := func(sc, store string) string {
		a, ok1 := findTput(res.Tput, libRaw, store, sc)
		b, ok2 := findTput(res.Tput, libSCS, store, sc)
		if !ok1 || !ok2 {
			return ""
		}
		return ratioOf(rpsRatio(a, b))
	}
	vsSCS := func(name, sc, st string, bound float64) {
		v, ok := tputRatio(sc, libSCS, st)
		add(name, st, v, ok, true, bound)
		ts[len(ts)-1].Raw = rawVsSCS(sc, st)
	}
	for _, st := range order {
		vsSCS("(a) 1 KB read + write: req/s ≥ ×1.5 SCS", "a", st, 1.5)
		v, ok := tputRatio("a", libRaw, st)
		add("(a) 1 KB read + write: req/s ≥ ×0.8 the raw store", st, v, ok, true, 0.8)
		vsSCS("(b) 64 KB, small read + write: req/s ≥ ×5 SCS", "b", st, 5)
		vsSCS("(c) 64 KB, large read + small write: req/s ≥ ×1.5 SCS", "c", st, 1.5)
		a, ok1 := ours(st, "b")
		s, ok2 := findTput(res.Tput, libSCS, st, "b")
		if ok1 && ok2 && a.HasWAL && s.WAL > 0 {
			add("(b) WAL bytes per request ≤ 1/10 of pgxstore's", st, a.WAL/s.WAL, true, false, 0.1)
		}
	}
	for _, r := range res.Lost {
		if r.Library != libAtomic || strings.HasSuffix(r.Setup, unsharedConns) {
			continue
		}
		name := "(d) lost updates, " + string(r.Kind) + ": 0"
		if r.Err != nil {
			ts = append(ts, target{Name: name, Store: r.Backend, Value: -1, Text: "not measured"})
			continue
		}
		ts = append(ts, target{Name: name, Store: r.Backend, Value: float64(r.Lost()), Text: count(int64(r.Lost())) + " of " + count(int64(r.Expected))})
	}
	for _, x := range ts {
		met := ""
		switch {
		case x.Value < 0:
			met = "–"
		case x.Min && x.Value >= x.Bound, !x.Min && x.Value <= x.Bound:
			met = "yes"
		default:
			met = "no"
		}
		t.add(x.Name, x.Store, x.Text, met, x.Raw)
	}
	return t
}

// ratioOf formats a ratio from rpsRatio, or "–" without one.
func ratioOf(v float64, ok bool) string {
	if !ok {
		return "–"
	}
	return "×" + strconv.FormatFloat(v, 'f', 2, 64)
}

// commandsCell formats the server commands per request: their number, then
// each command's, such as "2: evalsha 1 · hmget 1"; empty without a count.
func (r tripResult) commandsCell() string {
	if r.Commands == nil {
		return ""
	}
	n := float64(r.Reps)
	total := countf(float64(r.Commands.total()) / n)
	if len(r.Commands) == 0 {
		return total
	}
	return total + ": " + r.Commands.perRequest(n)
}
