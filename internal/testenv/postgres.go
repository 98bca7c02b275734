package testenv

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresURLEnv is the environment variable that names the PostgreSQL
// server the tests use, such as
// "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".
const PostgresURLEnv = "POSTGRES_URL"

// postgresGlob finds Debian's PostgreSQL server binaries, one directory per
// major version.
const postgresGlob = "/usr/lib/postgresql/*/bin"

// postgresUser is the system user that runs initdb and postgres when the
// tests run as root: both refuse to run as root.
const postgresUser = "postgres"

// pgServer is the PostgreSQL child of this test binary, started once.
var pgServer struct {
	once sync.Once
	url  string
	err  error
}

// PostgresURL returns the URL of a PostgreSQL server for tests, such as
// "postgres://postgres@127.0.0.1:40123/postgres?sslmode=disable".
//
// If POSTGRES_URL is set then PostgresURL returns it. Else it starts,
// once per test binary, Debian's PostgreSQL (initdb, then postgres, from
// the newest /usr/lib/postgresql/*/bin) in a new temporary directory, on a
// free 127.0.0.1 port, with fsync off and trust authentication for the
// superuser "postgres", and returns the URL of its "postgres" database. It
// never uses a server that happens to run on the machine already (such as
// one on port 5432). When the tests run as root, both programs run as the
// postgres system user, as they refuse to run as root. The server stops
// (fast shutdown) at Cleanup (see Main), and on Linux also when the test
// binary dies; its directory is removed.
//
// If PostgreSQL is not installed then PostgresURL skips tb, or fails it
// when the environment variable CI is "true". If the server does not start
// then PostgresURL fails tb with the server's output.
//
// Tests share the server: give each one its own schema or table names.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	if u := os.Getenv(PostgresURLEnv); u != "" {
		return u
	}
	bin := postgresBin(tb)
	pgServer.once.Do(func() {
		pgServer.url, pgServer.err = startPostgres(bin)
	})
	if pgServer.err != nil {
		tb.Fatalf("%s not set, and PostgreSQL from %s did not start: %v", PostgresURLEnv, bin, pgServer.err)
	}
	return pgServer.url
}

// postgresBin returns the directory of the newest installed PostgreSQL's
// initdb and postgres, or skips tb (fails it under CI=true).
func postgresBin(tb testing.TB) string {
	tb.Helper()
	dirs, _ := filepath.Glob(postgresGlob)
	var found []string
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			found = append(found, d)
		}
	}
	if len(found) == 0 {
		msg := fmt.Sprintf("%s not set and no PostgreSQL server in %s (install the Debian package postgresql, or set %s)",
			PostgresURLEnv, postgresGlob, PostgresURLEnv)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	sort.Slice(found, func(i, j int) bool { return majorOf(found[i]) < majorOf(found[j]) })
	return found[len(found)-1]
}

// majorOf reads the major version from a path such as
// /usr/lib/postgresql/15/bin.
func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// startPostgres makes a cluster with initdb and starts postgres on it,
// trying another port if the one it picked was taken meanwhile.
func startPostgres(bin string) (string, error) {
	cred, err := postgresCredential()
	if err != nil {
		return "", err
	}
	base := "" // os.TempDir()
	if cred != nil {
		// The postgres user must reach the directory: $TMPDIR may lie
		// under root's home.
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "testenv-postgres-")
	if err != nil {
		return "", fmt.Errorf("postgres dir: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			_ = os.RemoveAll(dir)
			return "", fmt.Errorf("postgres dir: %w", err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	killWithParent(initdb.SysProcAttr)
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("initdb: %w\n%s", err, out)
	}
	var errs []string
	for range 3 {
		u, err := startPostgresOnce(bin, dir, cred)
		if err == nil {
			return u, nil
		}
		errs = append(errs, err.Error())
	}
	_ = os.RemoveAll(dir)
	return "", fmt.Errorf("start postgres:\n%s", strings.Join(errs, "\n"))
}

// postgresCredential returns the credential of the postgres system user
// when the tests run as root, and nil otherwise.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(postgresUser)
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses to: no %s system user to run it as: %w", postgresUser, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %s has uid %q, gid %q", postgresUser, u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func startPostgresOnce(bin, dir string, cred *syscall.Credential) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"),
		"-D", filepath.Join(dir, "data"), "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "max_connections=200", "-c", "log_min_messages=warning", "-c", "logging_collector=off")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	killWithParent(cmd.SysProcAttr)
	c := &child{name: "postgres", cmd: cmd, stderr: &lockedBuffer{}, waited: make(chan struct{})}
	c.stdin = fastShutdown{c}
	cmd.Stdout = c.stderr
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start postgres: %w", err)
	}
	var started atomic.Bool // then the cluster directory goes with the server
	go func() {
		_ = cmd.Wait()
		if started.Load() {
			_ = os.RemoveAll(dir) // before waited closes, so that Cleanup waits for it
		}
		close(c.waited)
	}()
	u := (&url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}).String()
	if err := waitPostgres(u, c.waited); err != nil {
		c.stop()
		return "", fmt.Errorf("postgres on port %d: %w; its output:\n%s", port, err, c.stderr.String())
	}
	started.Store(true)
	children.mu.Lock()
	children.procs = append(children.procs, c)
	children.mu.Unlock()
	return u, nil
}

// fastShutdown is the stdin of a postgres child: closing it sends SIGINT,
// PostgreSQL's fast shutdown, which ends open connections at once (SIGTERM
// would wait for every client to disconnect).
type fastShutdown struct{ c *child }

func (f fastShutdown) Close() error {
	select {
	case <-f.c.waited:
		return nil
	default:
	}
	if err := f.c.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return f.c.cmd.Process.Kill()
	}
	return nil
}

// waitPostgres connects to u until a query succeeds, the server exits
// (exited closes) or startTimeout passes.
func waitPostgres(u string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	delay := 10 * time.Millisecond
	var last error
	for time.Now().Before(deadline) {
		if last = pingPostgres(u); last == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before accepting connections (%v)", last)
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
	return fmt.Errorf("not accepting connections after %v: %w", startTimeout, last)
}

func pingPostgres(u string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}
