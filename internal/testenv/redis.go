package testenv

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisURLEnv is the environment variable that names the Redis server the
// tests use, such as "redis://127.0.0.1:6379/0".
const RedisURLEnv = "REDIS_URL"

// redisBinary is the server that RedisURL starts when RedisURLEnv is unset.
const redisBinary = "redis-server"

// RedisClusterEnv is the environment variable that names a node of the
// Redis Cluster the tests use, such as "127.0.0.1:7000".
const RedisClusterEnv = "REDIS_CLUSTER_ADDR"

// redisServer and redisCluster are the redis-server children of this test
// binary, each started once.
var redisServer, redisCluster struct {
	once sync.Once
	addr string
	err  error
}

// RedisURL returns the URL of a Redis server for tests, such as
// "redis://127.0.0.1:40123/0".
//
// If REDIS_URL is set then RedisURL returns it. Else it starts a
// redis-server child, once per test binary, on a free loopback port with
// persistence off, and returns its URL; it never uses a server that happens
// to run on the machine already. The child stops at Cleanup (see Main), and
// on Linux also when the test binary dies.
//
// If redis-server is not in PATH then RedisURL skips tb, or fails it when
// the environment variable CI is "true". If the server does not start then
// RedisURL fails tb with the server's output.
//
// Tests share the server: give each one its own key space with RedisPrefix.
func RedisURL(tb testing.TB) string {
	tb.Helper()
	if url := os.Getenv(RedisURLEnv); url != "" {
		return url
	}
	bin := redisBin(tb, RedisURLEnv)
	redisServer.once.Do(func() {
		redisServer.addr, redisServer.err = startRedis(bin, nil)
	})
	if redisServer.err != nil {
		tb.Fatalf("%s not set, and %s did not start: %v", RedisURLEnv, redisBinary, redisServer.err)
	}
	return "redis://" + redisServer.addr + "/0"
}

// RedisClusterAddr returns the address of a node of a Redis Cluster for
// tests, such as "127.0.0.1:40123".
//
// If REDIS_CLUSTER_ADDR is set then RedisClusterAddr returns it. Else it
// starts, once per test binary, a redis-server child in cluster mode as
// RedisURL does, gives it all 16384 slots (a cluster of one node, enough to
// run a client's Cluster code paths) and returns its address. It skips or
// fails tb as RedisURL does.
func RedisClusterAddr(tb testing.TB) string {
	tb.Helper()
	if addr := os.Getenv(RedisClusterEnv); addr != "" {
		return addr
	}
	bin := redisBin(tb, RedisClusterEnv)
	redisCluster.once.Do(func() {
		redisCluster.addr, redisCluster.err = startRedis(bin, clusterArgs)
		if redisCluster.err == nil {
			redisCluster.err = assignAllSlots(redisCluster.addr)
		}
	})
	if redisCluster.err != nil {
		tb.Fatalf("%s not set, and %s in cluster mode did not start: %v", RedisClusterEnv, redisBinary, redisCluster.err)
	}
	return redisCluster.addr
}

// clusterArgs are the arguments that put a redis-server in cluster mode,
// its nodes file in its own directory (the working directory, see --dir).
var clusterArgs = []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}

// redisBin returns the path of redis-server, or skips tb (fails it under
// CI=true) if it is not installed.
func redisBin(tb testing.TB, env string) string {
	tb.Helper()
	bin, err := exec.LookPath(redisBinary)
	if err != nil {
		msg := fmt.Sprintf("%s not set and %s not in PATH (install the Debian package redis-server, or set %s)", env, redisBinary, env)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return bin
}

// RedisPrefix returns a key prefix that no other test, and no other run of
// the same test, uses: "test:" and tb's name (letters, digits, '_', '-' and
// '/' only; never a Redis Cluster hash tag brace), a random part and ':'.
func RedisPrefix(tb testing.TB) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString("test:")
	for _, r := range tb.Name() {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '/':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	var nonce [6]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		tb.Fatalf("redis prefix: %v", err)
	}
	b.WriteByte(':')
	b.WriteString(hex.EncodeToString(nonce[:]))
	b.WriteByte(':')
	return b.String()
}

// startRedis starts bin with extra arguments on a free loopback port,
// waits until it answers PING and returns its address. Picking a free port
// and binding it are two steps, so another process may take the port in
// between: then it tries another port.
func startRedis(bin string, extra []string) (string, error) {
	var errs []string
	for range 3 {
		addr, err := startRedisOnce(bin, extra)
		if err == nil {
			return addr, nil
		}
		errs = append(errs, err.Error())
	}
	return "", fmt.Errorf("start %s:\n%s", bin, strings.Join(errs, "\n"))
}

func startRedisOnce(bin string, extra []string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "testenv-redis-")
	if err != nil {
		return "", fmt.Errorf("redis dir: %w", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
	}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	killWithParent(cmd.SysProcAttr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("redis stdout: %w", err)
	}
	c := &child{name: redisBinary, cmd: cmd, stderr: &lockedBuffer{}, waited: make(chan struct{})}
	c.stdin = terminator{c}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	out := &lockedBuffer{}
	go func() {
		c.wait(io.TeeReader(stdout, out))
		_ = os.RemoveAll(dir)
	}()
	if err := waitRedis(addr, c.waited); err != nil {
		c.stop()
		return "", fmt.Errorf("%s on %s: %w; its output:\n%s%s", bin, addr, err, out.String(), c.stderr.String())
	}
	children.mu.Lock()
	children.procs = append(children.procs, c)
	children.mu.Unlock()
	return addr, nil
}

// terminator is the stdin of a redis-server child: redis-server does not
// watch its standard input, so closing it sends SIGTERM, which makes the
// server exit at once (persistence is off, so it saves nothing).
type terminator struct{ c *child }

func (t terminator) Close() error {
	select {
	case <-t.c.waited:
		return nil
	default:
	}
	if err := t.c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return t.c.cmd.Process.Kill()
	}
	return nil
}

// killWithParent asks the kernel to kill the child when the test binary
// dies (Linux's Pdeathsig), so that a test binary that crashes leaves no
// server behind. The field exists on Linux only, hence reflection: on other
// systems this does nothing and Cleanup alone stops the server.
func killWithParent(attr *syscall.SysProcAttr) {
	f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig")
	if f.IsValid() && f.CanSet() && f.Type() == reflect.TypeOf(syscall.SIGKILL) {
		f.Set(reflect.ValueOf(syscall.SIGKILL))
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
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

// waitRedis polls addr with PING until it answers PONG, the server exits
// (exited closes) or startTimeout passes.
func waitRedis(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	delay := 5 * time.Millisecond
	var last error
	for time.Now().Before(deadline) {
		if last = pingRedis(addr); last == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before answering PING (%v)", last)
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
	return fmt.Errorf("no PONG after %v: %w", startTimeout, last)
}

// pingRedis sends PING to addr and checks for PONG.
func pingRedis(addr string) error {
	reply, err := redisCommand(addr, "PING")
	if err == nil && reply != "PONG" {
		err = fmt.Errorf("PING answered %q", reply)
	}
	return err
}

// assignAllSlots gives the cluster-mode server at addr every hash slot and
// waits until it reports cluster_state:ok.
func assignAllSlots(addr string) error {
	if reply, err := redisCommand(addr, "CLUSTER ADDSLOTSRANGE 0 16383"); err != nil || reply != "OK" {
		return fmt.Errorf("CLUSTER ADDSLOTSRANGE: %q, %v", reply, err)
	}
	deadline := time.Now().Add(startTimeout)
	for {
		info, err := redisCommand(addr, "CLUSTER INFO")
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ok after %v: %q, %v", startTimeout, info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// redisCommand sends one inline command to addr on a new connection and
// returns a simple or bulk string reply; an error reply is an error.
func redisCommand(addr, command string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(conn, command+"\r\n"); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+"):
		return line[1:], nil
	case strings.HasPrefix(line, "-"):
		return "", fmt.Errorf("%s: %s", command, line[1:])
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("%s: bad bulk length %q", command, line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("%s: unexpected reply %q", command, line)
}
