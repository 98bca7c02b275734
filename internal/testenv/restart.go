package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Restartable is a server child of the test binary that a test may stop,
// by a signal of its choice, and start again on the same port with the same
// data directory: the tool of outage tests. Each Restartable is its own
// server, not shared with other tests. Its methods are safe for concurrent
// use. RestartableRedis, RestartablePostgres and RestartableFerret make one.
type Restartable struct {
	name  string
	addr  string
	url   string
	dir   string
	spawn func() (*child, error) // starts the server and waits until it serves

	mu     sync.Mutex
	c      *child // nil while stopped
	last   *child // the latest process, running or not
	starts int
}

// Output returns what the latest server process printed (standard output
// and error), for failure messages and for tests of what the server said,
// such as PostgreSQL's crash recovery.
func (s *Restartable) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return ""
	}
	return s.last.stderr.String()
}

// Addr returns the server's address, "127.0.0.1:PORT"; it does not change
// across restarts.
func (s *Restartable) Addr() string { return s.addr }

// URL returns the URL a client of the server connects with, such as
// "redis://127.0.0.1:PORT/0"; it does not change across restarts.
func (s *Restartable) URL() string { return s.url }

// Dir returns the server's data directory, kept across restarts and
// removed when the test ends.
func (s *Restartable) Dir() string { return s.dir }

// Running reports whether the server runs (Start was the last to succeed
// of Start and Stop).
func (s *Restartable) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c != nil
}

// Starts returns how many times the server has started, the first start
// included.
func (s *Restartable) Starts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

// Stop sends sig to the server's process (os.Kill: SIGKILL, a crash;
// syscall.SIGQUIT: PostgreSQL's immediate shutdown; syscall.SIGTERM: an
// orderly stop) and returns when it has exited, killing it if it has not
// within 30 seconds. The port is free when Stop returns. Stopping a stopped
// server does nothing.
func (s *Restartable) Stop(sig os.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return nil
	}
	c := s.c
	s.c = nil
	if err := c.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", s.name, err)
	}
	select {
	case <-c.waited:
	case <-time.After(stopTimeout):
		_ = c.cmd.Process.Kill()
		<-c.waited
		return fmt.Errorf("stop %s: still running %v after %v, killed; its output:\n%s", s.name, stopTimeout, sig, c.stderr.String())
	}
	return waitPortFree(s.addr)
}

// Start starts the server again on the same port with the same data
// directory and returns when it serves requests (for Redis: answers PING,
// after loading its append-only file; for PostgreSQL: accepts connections,
// after crash recovery). Starting a running server does nothing.
func (s *Restartable) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil {
		return nil
	}
	// The port may be held for a moment by a connection that a client is
	// closing; try for a while before giving up.
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := s.spawn()
		if err == nil {
			s.c, s.last = c, c
			s.starts++
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("start %s on %s: %w", s.name, s.addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopForGood is the Cleanup of a Restartable: an orderly stop, then the
// data directory goes.
func (s *Restartable) stopForGood(sig os.Signal) {
	_ = s.Stop(sig)
	_ = os.RemoveAll(s.dir)
}

// newRestartable starts a server with spawn on addr and stops it (by
// cleanupSig) and removes dir when tb ends.
func newRestartable(tb testing.TB, name, addr, url, dir string, cleanupSig os.Signal, spawn func() (*child, error)) *Restartable {
	tb.Helper()
	s := &Restartable{name: name, addr: addr, url: url, dir: dir, spawn: spawn}
	tb.Cleanup(func() { s.stopForGood(cleanupSig) })
	if err := s.Start(); err != nil {
		tb.Fatal(err)
	}
	return s
}

// RestartableRedis starts a redis-server of its own for tb on a free
// loopback port, durable: appendonly yes, appendfsync always, so that
// every write it acknowledged survives Stop(os.Kill) and the next Start.
// The server stops and its directory goes when tb ends.
//
// If redis-server is not in PATH then RestartableRedis skips tb, or fails
// it when CI is "true".
func RestartableRedis(tb testing.TB) *Restartable {
	tb.Helper()
	bin := lookTool(tb, redisBinary, "redis-server")
	port, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "",
		"--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
	}
	return newRestartable(tb, redisBinary, addr, "redis://"+addr+"/0", dir, syscall.SIGTERM, func() (*child, error) {
		c, err := spawnChild(redisBinary, bin, args, nil)
		if err != nil {
			return nil, err
		}
		if err := waitRedis(addr, c.waited); err != nil {
			_ = c.cmd.Process.Kill()
			<-c.waited
			return nil, fmt.Errorf("%w; its output:\n%s", err, c.stderr.String())
		}
		return c, nil
	})
}

// PostgresBinDirEnv names the directory of the PostgreSQL server programs
// (initdb, postgres, pg_isready) that RestartablePostgres runs; the
// default is the first of /usr/lib/postgresql/{17,16,15}/bin that exists,
// else the directory of initdb in PATH.
const PostgresBinDirEnv = "POSTGRES_BINDIR"

// RestartablePostgres starts a PostgreSQL server of its own for tb: a new
// cluster made by initdb (user postgres, trust authentication on loopback)
// on a free loopback port. Stop(syscall.SIGQUIT) is an immediate shutdown,
// like a crash: the next Start runs crash recovery. Its URL is
// "postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable". The server
// stops (fast shutdown) and its directory goes when tb ends. When the test
// runs as root the server runs as the system user postgres, since
// PostgreSQL refuses to run as root.
//
// If the PostgreSQL programs are not found then RestartablePostgres skips
// tb, or fails it when CI is "true".
func RestartablePostgres(tb testing.TB) *Restartable {
	tb.Helper()
	binDir, err := restartPGBinDir()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatal(err)
		}
		tb.Skip(err)
	}
	cred, err := restartPGCredential()
	if err != nil {
		tb.Fatal(err)
	}
	root, err := os.MkdirTemp("", "testenv-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	data, sock := filepath.Join(root, "data"), filepath.Join(root, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	if cred != nil {
		for _, d := range []string{root, data, sock} {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	initdb := exec.Command(filepath.Join(binDir, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = root
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(root)
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	url := "postgres://postgres@" + addr + "/postgres?sslmode=disable"
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-k", sock,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=100",
		"-c", "shared_buffers=32MB", "-c", "logging_collector=off"}
	return newRestartable(tb, "postgres", addr, url, root, syscall.SIGINT, func() (*child, error) {
		c, err := spawnChild("postgres", filepath.Join(binDir, "postgres"), args, cred)
		if err != nil {
			return nil, err
		}
		if err := waitPostgres(binDir, port, c.waited); err != nil {
			_ = c.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-c.waited:
			case <-time.After(stopTimeout):
				_ = c.cmd.Process.Kill()
				<-c.waited
			}
			return nil, fmt.Errorf("%w; its output:\n%s", err, c.stderr.String())
		}
		return c, nil
	})
}

// RestartableFerret starts an embedded FerretDB (devtools/cmd/mongodev,
// built as MongoURI does) of its own for tb on a free loopback port, its
// SQLite files in a directory kept across restarts. Stop(syscall.SIGTERM)
// stops it in order, Stop(os.Kill) kills it. Its URL is
// "mongodb://127.0.0.1:PORT/". It stops and its directory goes when tb
// ends. If it cannot be built then RestartableFerret fails tb.
func RestartableFerret(tb testing.TB) *Restartable {
	tb.Helper()
	bin, err := buildTool("devtools", "./cmd/mongodev", "mongodev")
	if err != nil {
		tb.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"-addr", addr, "-dir", dir}
	return newRestartable(tb, "mongodev", addr, "mongodb://"+addr+"/", dir, syscall.SIGTERM, func() (*child, error) {
		c, err := spawnChild("mongodev", bin, args, nil)
		if err != nil {
			return nil, err
		}
		if err := waitListening(addr, c.waited); err != nil {
			_ = c.cmd.Process.Kill()
			<-c.waited
			return nil, fmt.Errorf("%w; its output:\n%s", err, c.stderr.String())
		}
		return c, nil
	})
}

// spawnChild starts bin with args (as the user of cred, if not nil), its
// standard output and error kept together for error messages, its
// standard input an open pipe (mongodev exits when it closes, as when the
// test binary dies), killed with the test binary on Linux.
func spawnChild(name, bin string, args []string, cred *syscall.Credential) (*child, error) {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if cred != nil {
		cmd.Dir = "/" // the test's directory may be closed to that user
	}
	killWithParent(cmd.SysProcAttr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, stderr: &lockedBuffer{}, waited: make(chan struct{})}
	cmd.Stdout = c.stderr
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		_ = cmd.Wait()
		_ = stdin.Close()
		close(c.waited)
	}()
	return c, nil
}

// waitListening polls addr until it accepts a TCP connection, the process
// exits or startTimeout passes.
func waitListening(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before listening on %s", addr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %v: %w", addr, startTimeout, err)
		}
	}
}

// waitPortFree waits until nothing accepts connections on addr.
func waitPortFree(addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return nil
		}
		_ = conn.Close()
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still accepts connections after its server exited", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitPostgres runs pg_isready until the server accepts connections, the
// process exits or startTimeout passes (crash recovery included).
func waitPostgres(binDir string, port int, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var out []byte
	for {
		var err error
		out, err = exec.CommandContext(ctx, filepath.Join(binDir, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres", "-d", "postgres", "-t", "1").CombinedOutput()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited before accepting connections")
		case <-ctx.Done():
			return fmt.Errorf("not accepting connections after %v: %s", startTimeout, out)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// restartPGBinDir finds the PostgreSQL server programs (PostgresBinDirEnv).
func restartPGBinDir() (string, error) {
	if dir := os.Getenv(PostgresBinDirEnv); dir != "" {
		return dir, nil
	}
	for _, v := range []string{"17", "16", "15"} {
		dir := "/usr/lib/postgresql/" + v + "/bin"
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("PostgreSQL server programs not found in /usr/lib/postgresql/{17,16,15}/bin or PATH (install the Debian package postgresql, or set %s)", PostgresBinDirEnv)
}

// restartPGCredential is nil, or the system user postgres when the test
// runs as root.
func restartPGCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses to: no user postgres to run it as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user postgres: uid %q, gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
