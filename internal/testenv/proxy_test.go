package testenv

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoServer starts a line echo server, closed when t ends.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// roundTrip writes line to c and reads the echo, with a deadline.
func roundTrip(c net.Conn, r *bufio.Reader, line string) (string, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := r.ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

func dialProxy(t *testing.T, p *Proxy) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, bufio.NewReader(c)
}

// dialAndEcho dials p and echoes a line: a connection reset while dialing
// (the proxy refused it at once) is an error too.
func dialAndEcho(p *Proxy) error {
	c, err := net.DialTimeout("tcp", p.Addr(), 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = roundTrip(c, bufio.NewReader(c), "x")
	return err
}

func TestProxyForwardsAndDelays(t *testing.T) {
	p := StartProxy(t, echoServer(t))
	if p.Latency() != 0 {
		t.Fatalf("default latency %v, want 0", p.Latency())
	}
	c, r := dialProxy(t, p)
	if got, err := roundTrip(c, r, "hello"); err != nil || got != "hello" {
		t.Fatalf("echo through the proxy = %q, %v", got, err)
	}
	if p.Open() != 1 || p.Total() != 1 {
		t.Errorf("Open, Total = %d, %d; want 1, 1", p.Open(), p.Total())
	}
	const d = 150 * time.Millisecond
	p.SetLatency(d)
	start := time.Now()
	if got, err := roundTrip(c, r, "slow"); err != nil || got != "slow" {
		t.Fatalf("echo with latency = %q, %v", got, err)
	}
	if took := time.Since(start); took < d {
		t.Errorf("round trip with latency %v took %v", d, took)
	}
	t.Logf("round trip with %v latency: %v", d, time.Since(start))

	// Data held by a huge latency is released when the latency goes.
	p.SetLatency(time.Hour)
	if _, err := io.WriteString(c, "held\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("a line passed a proxy with an hour of latency")
	}
	p.SetLatency(0)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := r.ReadString('\n'); err != nil || got != "held\n" {
		t.Fatalf("after SetLatency(0): %q, %v; want the held line", got, err)
	}
}

func TestProxyRefusesAndRecovers(t *testing.T) {
	p := StartProxy(t, echoServer(t))
	c, r := dialProxy(t, p)
	if _, err := roundTrip(c, r, "a"); err != nil {
		t.Fatal(err)
	}
	p.SetRefuse(true)
	if _, err := roundTrip(c, r, "b"); err == nil {
		t.Fatal("an open connection still echoes after SetRefuse(true)")
	}
	if err := dialAndEcho(p); err == nil {
		t.Fatal("a new connection echoes while the proxy refuses")
	}
	p.SetRefuse(false)
	c3, r3 := dialProxy(t, p)
	if got, err := roundTrip(c3, r3, "d"); err != nil || got != "d" {
		t.Fatalf("after SetRefuse(false): %q, %v", got, err)
	}
	p.Drop()
	if _, err := roundTrip(c3, r3, "e"); err == nil {
		t.Fatal("a connection still echoes after Drop")
	}
	c4, r4 := dialProxy(t, p)
	if got, err := roundTrip(c4, r4, "f"); err != nil || got != "f" {
		t.Fatalf("a new connection after Drop: %q, %v", got, err)
	}
}

// TestProxyCloseEndsEverything: Close returns with data held by latency and
// a client idle, and the proxy's goroutines are gone (goleak in TestMain).
func TestProxyCloseEndsEverything(t *testing.T) {
	p, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c, r := dialProxy(t, p)
	if _, err := roundTrip(c, r, "x"); err != nil {
		t.Fatal(err)
	}
	p.SetLatency(time.Hour)
	_, _ = io.WriteString(c, "held\n")
	idle, _ := dialProxy(t, p)
	_ = idle
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if p.Open() != 0 {
		t.Errorf("Open after Close = %d", p.Open())
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.ReadString('\n'); err == nil {
		t.Error("read after Close succeeded")
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		_ = c.Close()
		t.Error("the proxy still accepts after Close")
	}
}

func TestProxyTargetDown(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	p := StartProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	err = dialAndEcho(p)
	if err == nil {
		t.Fatal("echo through a proxy to nothing succeeded")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a proxy to nothing hangs the client (%v) instead of cutting it", err)
	}
}
