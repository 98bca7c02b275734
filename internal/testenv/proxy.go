package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy on a free loopback port in front of a server, for
// tests of slow and failing networks: it can delay what clients send, and
// refuse or cut connections. Its methods are safe for concurrent use.
type Proxy struct {
	l      net.Listener
	target string
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and every connection's goroutines

	mu      sync.Mutex
	latency time.Duration
	refuse  bool
	changed chan struct{} // closed and replaced when latency changes
	conns   map[*proxyConn]struct{}
	total   int
}

// proxyConn is one client connection and its connection to the target.
type proxyConn struct {
	client, server net.Conn
	once           sync.Once
	done           chan struct{}
}

func (pc *proxyConn) close() {
	pc.once.Do(func() {
		close(pc.done)
		_ = pc.client.Close()
		_ = pc.server.Close()
	})
}

// StartProxy starts a Proxy to target ("host:port") and closes it when tb
// ends. It fails tb if it cannot listen.
func StartProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	p, err := NewProxy(target)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// NewProxy starts a Proxy on a free port of 127.0.0.1 that forwards each
// connection it accepts to target ("host:port"), with no added latency. The
// caller must Close it.
func NewProxy(target string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy to %s: %w", target, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{l: l, target: target, ctx: ctx, cancel: cancel, changed: make(chan struct{}), conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the address that clients connect to, "127.0.0.1:PORT".
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// SetLatency makes every byte that a client sends reach the server d after
// the proxy received it (d <= 0: at once). Replies are not delayed, so a
// request-reply round trip takes d longer. The change applies at once to
// data already waiting in the proxy: setting 0 releases it.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = max(d, 0)
	close(p.changed)
	p.changed = make(chan struct{})
}

// Latency returns the latency that SetLatency set; the default is 0.
func (p *Proxy) Latency() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.latency
}

// SetRefuse with on true cuts every open connection and, until it is
// called with on false, resets each new connection as soon as it is
// accepted: clients see a server that is down. The default is false.
func (p *Proxy) SetRefuse(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
	if on {
		p.Drop()
	}
}

// Drop cuts every open connection (both its sides); new connections are
// served as before.
func (p *Proxy) Drop() {
	p.mu.Lock()
	conns := make([]*proxyConn, 0, len(p.conns))
	for pc := range p.conns {
		conns = append(conns, pc)
	}
	p.mu.Unlock()
	for _, pc := range conns {
		pc.close()
	}
}

// Open returns the number of connections open through the proxy now, and
// Total the number it has forwarded since it started.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Total returns the number of connections the proxy has forwarded to the
// target since it started.
func (p *Proxy) Total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

// Close stops listening, cuts every connection and returns when all of the
// proxy's goroutines have ended. It is safe to call more than once.
func (p *Proxy) Close() error {
	p.cancel()
	err := p.l.Close()
	p.Drop()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			if p.ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// reset closes c with an RST rather than a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	p.mu.Lock()
	refuse := p.refuse
	p.mu.Unlock()
	if refuse {
		reset(client)
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	var d net.Dialer
	server, err := d.DialContext(ctx, "tcp", p.target)
	cancel()
	if err != nil {
		reset(client)
		return
	}
	pc := &proxyConn{client: client, server: server, done: make(chan struct{})}
	p.mu.Lock()
	if p.ctx.Err() != nil || p.refuse {
		p.mu.Unlock()
		reset(client)
		_ = server.Close()
		return
	}
	p.conns[pc] = struct{}{}
	p.total++
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer pc.close()
		_, _ = io.Copy(client, server)
	}()
	go func() {
		defer wg.Done()
		defer pc.close()
		p.delayed(pc)
	}()
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, pc)
	p.mu.Unlock()
}

// chunk is data read from a client at a time.
type chunk struct {
	at  time.Time
	buf []byte
}

// delayed forwards what the client sends to the server, each chunk when
// the latency has passed since it was read.
func (p *Proxy) delayed(pc *proxyConn) {
	ch := make(chan chunk, 64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(ch)
		for {
			buf := make([]byte, 32<<10)
			n, err := pc.client.Read(buf)
			if n > 0 {
				select {
				case ch <- chunk{time.Now(), buf[:n]}:
				case <-pc.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	defer wg.Wait()
	defer pc.close() // ends the reader if the writer stops first
	for c := range ch {
		if !p.waitLatency(pc, c.at) {
			return
		}
		if _, err := pc.server.Write(c.buf); err != nil {
			return
		}
	}
}

// waitLatency waits until the latency has passed since at, rechecking when
// it changes; false if the connection closed first.
func (p *Proxy) waitLatency(pc *proxyConn, at time.Time) bool {
	for {
		p.mu.Lock()
		wait := time.Until(at.Add(p.latency))
		changed := p.changed
		p.mu.Unlock()
		if wait <= 0 {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
			return true
		case <-changed:
			t.Stop()
		case <-pc.done:
			t.Stop()
			return false
		}
	}
}
