package testenv

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// refused checks that nothing listens at addr.
func refused(t *testing.T, addr string) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = c.Close()
		t.Fatalf("%s accepts connections while its server is stopped", addr)
	}
}

// TestRestartableRedisKeepsAcknowledgedWrites kills redis-server with
// SIGKILL right after acknowledged writes: the append-only file, fsynced
// on every write, brings all of them back on the same port.
func TestRestartableRedisKeepsAcknowledgedWrites(t *testing.T) {
	s := RestartableRedis(t)
	ctx := context.Background()
	if !strings.HasPrefix(s.URL(), "redis://127.0.0.1:") || !strings.HasSuffix(s.URL(), "/0") {
		t.Errorf("URL = %q", s.URL())
	}
	const n = 200
	for range n {
		if _, err := respDo(ctx, s.Addr(), "INCR", "counter"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Stop(os.Kill); err != nil {
		t.Fatalf("Stop(os.Kill): %v", err)
	}
	if s.Running() {
		t.Error("Running after Stop")
	}
	refused(t, s.Addr())
	if err := s.Stop(os.Kill); err != nil {
		t.Errorf("Stop of a stopped server: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "appendonlydir")); err != nil {
		t.Errorf("no append-only directory in %s: %v", s.Dir(), err)
	}
	start := time.Now()
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("redis-server restarted in %v", time.Since(start))
	if got, err := respString(ctx, s.Addr(), "GET", "counter"); err != nil || got != "200" {
		t.Fatalf("counter after kill and restart = %q, %v; want 200", got, err)
	}
	if err := s.Start(); err != nil || s.Starts() != 2 || !s.Running() {
		t.Errorf("Start of a running server: %v; Starts = %d, Running = %v; want nil, 2, true", err, s.Starts(), s.Running())
	}
}

// psql runs one SQL statement on s and returns the first column of its
// first row as text ("" if none).
func psql(t *testing.T, s *Restartable, sql string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		t.Fatalf("connect to %s: %v", s.URL(), err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	out := ""
	if rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		if len(vals) > 0 {
			out = fmt.Sprint(vals[0])
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// TestRestartablePostgresCrashRecovery stops PostgreSQL by an immediate
// shutdown (SIGQUIT) with committed rows only in the WAL; the restart on
// the same port runs crash recovery and keeps them.
func TestRestartablePostgresCrashRecovery(t *testing.T) {
	s := RestartablePostgres(t)
	psql(t, s, "CREATE TABLE t (n int)")
	psql(t, s, "INSERT INTO t SELECT generate_series(1, 1000)")
	if err := s.Stop(syscall.SIGQUIT); err != nil {
		t.Fatalf("Stop(SIGQUIT): %v", err)
	}
	refused(t, s.Addr())
	start := time.Now()
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("PostgreSQL restarted with crash recovery in %v", time.Since(start))
	if got := psql(t, s, "SELECT count(*) FROM t"); got != "1000" {
		t.Fatalf("rows after the crash = %s, want 1000", got)
	}
	if out := s.Output(); !strings.Contains(out, "automatic recovery in progress") {
		t.Errorf("the restart ran no crash recovery; server output:\n%s", out)
	}
}

// TestRestartableFerretKeepsData kills the embedded FerretDB and starts it
// again on the same port: documents written before are still there.
func TestRestartableFerretKeepsData(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the embedded FerretDB")
	}
	s := RestartableFerret(t)
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI(s.URL()).SetTimeout(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(ctx) }()
	coll := client.Database("restart").Collection("docs")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 7}}); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []os.Signal{os.Kill, syscall.SIGTERM} {
		if err := s.Stop(sig); err != nil {
			t.Fatalf("Stop(%v): %v", sig, err)
		}
		refused(t, s.Addr())
		start := time.Now()
		if err := s.Start(); err != nil {
			t.Fatalf("Start: %v", err)
		}
		t.Logf("FerretDB restarted after %v in %v", sig, time.Since(start))
		var doc struct{ N int }
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Decode(&doc); err != nil || doc.N != 7 {
			t.Fatalf("after Stop(%v) and Start: %+v, %v; want n 7", sig, doc, err)
		}
	}
}

// counterApp is an app of the Outage contract on an in-process "store"
// that an outage turns off. broken makes it misbehave: "500" answers 500
// while down, "reset" forgets every counter at the end of the outage (a
// silent new session), "lose" takes 2 from every counter then, "slow"
// takes 3 s to fail.
type counterApp struct {
	mu     sync.Mutex
	down   bool
	broken string
	n      map[string]int64
	next   int
}

func (a *counterApp) setDown(down bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down && !down && a.broken == "reset" {
		a.n = map[string]int64{}
	}
	if a.down && !down && a.broken == "lose" {
		for id := range a.n {
			a.n[id] -= 2
		}
	}
	a.down = down
	return nil
}

func (a *counterApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down {
		code := http.StatusServiceUnavailable
		switch a.broken {
		case "500":
			code = http.StatusInternalServerError
		case "slow":
			a.mu.Unlock()
			time.Sleep(3 * time.Second)
			a.mu.Lock()
		}
		w.Header().Set(SessionErrorHeader, "session store unavailable")
		w.WriteHeader(code)
		return
	}
	id := ""
	if c, err := r.Cookie("sid"); err == nil {
		id = c.Value
	}
	if _, ok := a.n[id]; !ok {
		a.next++
		id = strconv.Itoa(a.next)
		a.n[id] = 0
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: id})
	}
	switch {
	case r.URL.Path == "/n":
	case r.URL.Query().Get("queue") == "1":
		a.n[id]++
		_, _ = io.WriteString(w, "queued")
		return
	default:
		a.n[id]++
	}
	fmt.Fprint(w, a.n[id])
}

// recordTB records Errorf instead of failing.
type recordTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordTB) Helper() {}
func (r *recordTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recordTB) Error(args ...any)   { r.Errorf("%s", fmt.Sprint(args...)) }
func (r *recordTB) Logf(string, ...any) {}

func TestOutageChecks(t *testing.T) {
	for _, tc := range []struct{ broken, want string }{
		{"", ""},
		{"500", "answers other than 200 and 503"},
		{"reset", "a new session was made silently"},
		{"slow", "more than Timeout"},
		{"lose", "an acknowledged increment was lost"},
	} {
		t.Run("broken="+tc.broken, func(t *testing.T) {
			a := &counterApp{broken: tc.broken, n: map[string]int64{}}
			rt := &recordTB{TB: t}
			rep := Outage(rt, a, OutageOptions{
				Clients: 3, Timeout: 100 * time.Millisecond, Slack: 100 * time.Millisecond,
				Warm: 100 * time.Millisecond, Down: 300 * time.Millisecond, RecoverWithin: 5 * time.Second,
				StartOutage: func() error { return a.setDown(true) },
				EndOutage:   func() error { return a.setDown(false) },
			})
			got := strings.Join(rt.errs, "\n")
			if tc.want == "" && got != "" {
				t.Fatalf("Outage failed a good app:\n%s", got)
			}
			if !strings.Contains(got, tc.want) {
				t.Fatalf("Outage of an app broken by %q: errors\n%s\nwant one saying %q", tc.broken, got, tc.want)
			}
			if tc.broken == "" && (rep.During < 3 || rep.Acked == 0 || rep.Stored < rep.Acked) {
				t.Errorf("report %v", rep)
			}
			t.Logf("%v", rep)
		})
	}
}
