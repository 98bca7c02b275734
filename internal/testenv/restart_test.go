package testenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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

// psql runs one SQL command on s and returns its unaligned output.
func psql(t *testing.T, s *Restartable, sql string) string {
	t.Helper()
	binDir, err := restartPGBinDir()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(binDir, "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", s.URL(), "-c", sql).CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
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
