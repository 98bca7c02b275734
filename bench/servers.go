package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/atomicsession/atomicsession/devtools/ferretdb"
)

// serverStartTimeout bounds how long a server may take to accept
// connections. It guards against a hung server; it is not a measurement.
const serverStartTimeout = 30 * time.Second

// startFerret starts the embedded FerretDB in a temporary directory that
// its Close removes.
func startFerret(ctx context.Context) (*ferretdb.Server, error) {
	srv, err := ferretdb.Start(ctx, ferretdb.Options{})
	if err != nil {
		return nil, fmt.Errorf("start embedded FerretDB: %w", err)
	}
	return srv, nil
}

// redisServer is a redis-server child process with persistence off, on a
// loopback port of its own.
type redisServer struct {
	Addr    string
	Version string // such as "7.0.15"
	cmd     *exec.Cmd
	dir     string
	exited  chan struct{}
	stderr  strings.Builder
}

// errNoRedis means redis-server is not in PATH.
var errNoRedis = errors.New("redis-server is not in PATH (install the Debian package redis-server)")

// startRedis starts redis-server on a free port of 127.0.0.1 and waits until
// it answers PING. It tries again on another port if the one it picked was
// taken in between.
func startRedis() (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errNoRedis
	}
	var errs []error
	for range 3 {
		s, err := startRedisOnce(bin)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("start redis-server: %w", errors.Join(errs...))
}

func startRedisOnce(bin string) (*redisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "atomicsession-bench-redis-")
	if err != nil {
		return nil, fmt.Errorf("redis data directory: %w", err)
	}
	s := &redisServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, exited: make(chan struct{})}
	s.cmd = exec.Command(bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--loglevel", "warning")
	s.cmd.Stdout = io.Discard
	s.cmd.Stderr = &s.stderr
	s.cmd.SysProcAttr = childAttr()
	if err := s.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(); err != nil {
		s.Close()
		return nil, fmt.Errorf("%s on %s: %w", bin, s.Addr, err)
	}
	return s, nil
}

// waitReady polls the server with PING until it answers and reads its
// version from INFO.
func (s *redisServer) waitReady() error {
	deadline := time.Now().Add(serverStartTimeout)
	delay := 5 * time.Millisecond
	for {
		version, err := redisVersion(s.Addr)
		if err == nil {
			s.Version = version
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer after %v: %w", serverStartTimeout, err)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("exited before answering: %w", err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// redisVersion asks the server at addr for INFO server over a plain
// connection and returns its redis_version.
func redisVersion(addr string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(conn, "INFO server\r\n"); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("read INFO: %w", err)
		}
		if strings.HasPrefix(line, "-") {
			return "", fmt.Errorf("INFO answered %q", strings.TrimSpace(line))
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v, nil
		}
	}
}

// Close stops the server with SIGTERM (it saves nothing: persistence is
// off), kills it if it has not exited after 10 seconds, and removes its
// directory.
func (s *redisServer) Close() {
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	_ = os.RemoveAll(s.dir)
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}
