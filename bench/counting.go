package main

import (
	"context"
	"encoding"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	redigo "github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/event"
)

// traffic counts what one store client sends: round trips (a request to
// the server and its answer), commands, and bytes sent and received.
type traffic struct {
	trips, cmds, sent, recv atomic.Int64
}

// trafficSnapshot is a copy of a traffic's counts.
type trafficSnapshot struct {
	Trips, Cmds, Sent, Recv int64
}

func (t *traffic) snapshot() trafficSnapshot {
	return trafficSnapshot{t.trips.Load(), t.cmds.Load(), t.sent.Load(), t.recv.Load()}
}

func (a trafficSnapshot) minus(b trafficSnapshot) trafficSnapshot {
	return trafficSnapshot{a.Trips - b.Trips, a.Cmds - b.Cmds, a.Sent - b.Sent, a.Recv - b.Recv}
}

// mongoControl names the commands the driver sends on its own, not for a
// store call: handshakes, heartbeats, authentication, session cleanup.
var mongoControl = map[string]bool{
	"hello": true, "isMaster": true, "ismaster": true, "endSessions": true,
	"ping": true, "buildInfo": true, "saslStart": true, "saslContinue": true,
}

// mongoMonitor counts into t every command a mongo-driver client sends for
// the application: one command is one round trip; sent is the size of the
// command document, received the size of the reply document.
func mongoMonitor(t *traffic) *event.CommandMonitor {
	return &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if mongoControl[e.CommandName] {
				return
			}
			t.trips.Add(1)
			t.cmds.Add(1)
			t.sent.Add(int64(len(e.Command)))
		},
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			if mongoControl[e.CommandName] {
				return
			}
			t.recv.Add(int64(len(e.Reply)))
		},
	}
}

// redisHook is a go-redis hook that counts into t: a command or a pipeline
// is one round trip; sent is the size of the commands in the RESP protocol,
// as written to the connection. Connection set-up (HELLO, CLIENT, AUTH,
// SELECT) is not counted. Received bytes are counted by countingDialer.
type redisHook struct{ t *traffic }

var _ goredis.Hook = redisHook{}

// DialHook counts the bytes read from each new connection.
func (h redisHook) DialHook(next goredis.DialHook) goredis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: conn, recv: &h.t.recv}, nil
	}
}

// ProcessHook counts one command and one round trip.
func (h redisHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if !redisSetup(cmd) {
			h.t.trips.Add(1)
			h.t.cmds.Add(1)
			h.t.sent.Add(int64(respSize(cmd.Args())))
		}
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook counts the pipeline's commands and one round trip.
func (h redisHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		n := 0
		for _, cmd := range cmds {
			if redisSetup(cmd) {
				continue
			}
			n++
			h.t.sent.Add(int64(respSize(cmd.Args())))
		}
		if n > 0 {
			h.t.trips.Add(1)
			h.t.cmds.Add(int64(n))
		}
		return next(ctx, cmds)
	}
}

// redisSetup reports whether cmd belongs to connection set-up.
func redisSetup(cmd goredis.Cmder) bool {
	switch strings.ToLower(cmd.Name()) {
	case "hello", "client", "auth", "select":
		return true
	}
	return false
}

// countingConn counts the bytes read from a connection, which is the
// server's replies.
type countingConn struct {
	net.Conn
	recv *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.recv.Add(int64(n))
	return n, err
}

// respSize returns the size of args written as a RESP array of bulk
// strings, converting each argument as go-redis does.
func respSize(args []any) int {
	n := 1 + len(strconv.Itoa(len(args))) + 2
	for _, a := range args {
		l := argLen(a)
		n += 1 + len(strconv.Itoa(l)) + 2 + l + 2
	}
	return n
}

// argLen returns the length of a as go-redis writes it on the wire.
func argLen(a any) int {
	switch v := a.(type) {
	case nil:
		return 0
	case string:
		return len(v)
	case []byte:
		return len(v)
	case int:
		return len(strconv.FormatInt(int64(v), 10))
	case int8:
		return len(strconv.FormatInt(int64(v), 10))
	case int16:
		return len(strconv.FormatInt(int64(v), 10))
	case int32:
		return len(strconv.FormatInt(int64(v), 10))
	case int64:
		return len(strconv.FormatInt(v, 10))
	case uint:
		return len(strconv.FormatUint(uint64(v), 10))
	case uint8:
		return len(strconv.FormatUint(uint64(v), 10))
	case uint16:
		return len(strconv.FormatUint(uint64(v), 10))
	case uint32:
		return len(strconv.FormatUint(uint64(v), 10))
	case uint64:
		return len(strconv.FormatUint(v, 10))
	case float32:
		return len(strconv.FormatFloat(float64(v), 'f', -1, 32))
	case float64:
		return len(strconv.FormatFloat(v, 'f', -1, 64))
	case bool:
		return 1
	case time.Time:
		return len(v.Format(time.RFC3339Nano))
	case time.Duration:
		return len(strconv.FormatInt(v.Nanoseconds(), 10))
	case encoding.BinaryMarshaler:
		b, err := v.MarshalBinary()
		if err != nil {
			return 0
		}
		return len(b)
	}
	return len(fmt.Sprint(a))
}

// wireConn counts everything that crosses one connection into t: bytes
// written and read, and round trips, a round trip being a burst of writes
// after the last read (a request and its answer). The stores whose clients
// have no hooks of the kind go-redis has (SCS's redigo and pgx stores,
// every PostgreSQL client) are counted this way; connection set-up is
// counted when the connection is made, which the round-trip scenario
// leaves out with its warm-up request.
type wireConn struct {
	net.Conn
	t       *traffic
	writing atomic.Bool
}

func (c *wireConn) Write(p []byte) (int, error) {
	if !c.writing.Swap(true) {
		c.t.trips.Add(1)
	}
	n, err := c.Conn.Write(p)
	c.t.sent.Add(int64(n))
	return n, err
}

func (c *wireConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.writing.Store(false)
	}
	c.t.recv.Add(int64(n))
	return n, err
}

// wireDialer returns a dial function whose connections count into t.
func wireDialer(t *traffic) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &wireConn{Conn: conn, t: t}, nil
	}
}

// pgTracer counts every query a pgx client runs (alone or in a batch) as
// one command.
type pgTracer struct{ t *traffic }

func (p pgTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	p.t.cmds.Add(1)
	return ctx
}

func (p pgTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (p pgTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (p pgTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {
	p.t.cmds.Add(1)
}

func (p pgTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// redigoConn counts the commands SCS's redisstore sends through a redigo
// connection: each Send, and each Do that names a command.
type redigoConn struct {
	redigo.Conn
	t *traffic
}

func (c redigoConn) Do(cmd string, args ...any) (any, error) {
	if cmd != "" {
		c.t.cmds.Add(1)
	}
	return c.Conn.Do(cmd, args...)
}

func (c redigoConn) Send(cmd string, args ...any) error {
	c.t.cmds.Add(1)
	return c.Conn.Send(cmd, args...)
}
