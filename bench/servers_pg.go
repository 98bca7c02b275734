package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgBinDir is where Debian's postgresql-15 package installs the server.
// PG_BINDIR overrides it.
const pgBinDir = "/usr/lib/postgresql/15/bin"

// errNoPostgres means the PostgreSQL 15 server binaries are missing.
var errNoPostgres = errors.New("PostgreSQL 15 is not installed in " + pgBinDir + " (install the Debian package postgresql-15, or set PG_BINDIR)")

// pgServer is a PostgreSQL child process on a loopback port of its own,
// with a data directory in a temporary directory that Close removes. It
// runs with the server's default settings (fsync, WAL, checkpoints) except
// for the port, the listen address and the socket directory, so that its
// WAL figures are those of a default installation.
type pgServer struct {
	Addr    string // host:port
	Port    int
	Version string // such as "15.14 (Debian 15.14-0+deb12u1)"
	cmd     *exec.Cmd
	dir     string
	exited  chan struct{}
	log     *tailBuffer
}

// URL returns the connection URL of the server's postgres database as the
// postgres superuser (trust authentication on loopback).
func (s *pgServer) URL() string {
	return "postgres://postgres@" + s.Addr + "/postgres?sslmode=disable"
}

func pgBin(name string) string {
	dir := os.Getenv("PG_BINDIR")
	if dir == "" {
		dir = pgBinDir
	}
	return filepath.Join(dir, name)
}

// startPostgres runs initdb in a new temporary directory and starts
// postgres on a free port of 127.0.0.1, as the postgres system user when
// this process runs as root (the server refuses to run as root). It tries
// another port if the one it picked was taken in between.
func startPostgres(ctx context.Context) (*pgServer, error) {
	if _, err := os.Stat(pgBin("postgres")); err != nil {
		return nil, errNoPostgres
	}
	cred, err := pgCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "atomicsession-bench-pg-")
	if err != nil {
		return nil, fmt.Errorf("postgres directory: %w", err)
	}
	data := filepath.Join(dir, "data")
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("postgres directory: %w", err)
		}
	}
	initdb := exec.CommandContext(ctx, pgBin("initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
	initdb.SysProcAttr = childAttr()
	initdb.SysProcAttr.Credential = cred
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w: %s", err, lastLines(string(out), 5))
	}
	var errs []error
	for range 3 {
		s, err := startPostgresOnce(ctx, dir, data, cred)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
	}
	_ = os.RemoveAll(dir)
	return nil, fmt.Errorf("start postgres: %w", errors.Join(errs...))
}

// pgCredential returns the postgres system user's credential when this
// process runs as root, and nil otherwise (the server then runs as the
// current user).
func pgCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses to: %w (create the postgres system user)", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres user: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func startPostgresOnce(ctx context.Context, dir, data string, cred *syscall.Credential) (*pgServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &pgServer{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port, dir: dir, exited: make(chan struct{}), log: &tailBuffer{max: 8 << 10}}
	s.cmd = exec.Command(pgBin("postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir)
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	s.cmd.SysProcAttr = childAttr()
	s.cmd.SysProcAttr.Credential = cred
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.cmd.Path, err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.stop()
		return nil, fmt.Errorf("postgres on %s: %w: %s", s.Addr, err, lastLines(s.log.String(), 5))
	}
	return s, nil
}

// waitReady connects until the server answers and reads its version.
func (s *pgServer) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(serverStartTimeout)
	delay := 10 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, s.URL())
		if err == nil {
			err = conn.QueryRow(cctx, "SELECT version()").Scan(&s.Version)
			_ = conn.Close(cctx)
			cancel()
			if err == nil {
				var v string
				if _, scanErr := fmt.Sscanf(s.Version, "PostgreSQL %s", &v); scanErr == nil {
					s.Version = v
				}
				return nil
			}
		}
		cancel()
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer after %v: %w", serverStartTimeout, err)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("exited before answering: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// stop ends the server with a fast shutdown (SIGINT), or kills it if it
// has not exited after 10 seconds.
func (s *pgServer) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// Close stops the server and removes its directory.
func (s *pgServer) Close() {
	s.stop()
	_ = os.RemoveAll(s.dir)
}

// tailBuffer keeps the last max bytes written to it: a server's log for
// an error message.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

var _ io.Writer = (*tailBuffer)(nil)

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	end := len(s)
	for end > 0 && (s[end-1] == '\n' || s[end-1] == ' ') {
		end--
	}
	i := end
	for ; i > 0 && n > 0; i-- {
		if s[i-1] == '\n' {
			n--
			if n == 0 {
				break
			}
		}
	}
	return s[i:end]
}
