package middleware

import (
	"context"
	"runtime/debug"
	"sync"
	"time"

	"github.com/atomicsession/atomicsession/future"
	"github.com/atomicsession/atomicsession/session"
)

// maxGroupsInFlight is the most groups the coalescer has in flight at
// once. One would batch the most, but it feeds a database one connection
// at a time; two keep a PostgreSQL server's second core (and a Redis
// server's network thread) busy while a group waits for its answer, and
// still batch whatever arrives meanwhile. Measured in bench/ on both stores:
// two were level with or ahead of one.
const maxGroupsInFlight = 2

// maxGroup is the most Apply calls the coalescer sends to the store in one
// ApplyMulti call.
const maxGroup = 64

// coalescer batches concurrent Apply calls for a store that implements
// session.MultiApplier, by group commit: a call that arrives while fewer
// than maxGroupsInFlight groups are in flight goes out at once (alone, or
// with the calls that arrived just before it, if another runner takes it);
// calls that arrive while that many are in flight wait, and go out
// together as the next group (at most maxGroup of them) as soon as one
// returns. An idle store therefore adds no latency, and a busy one gets one
// round trip for many requests.
//
// Each group is one store call on the Manager's executor, within
// Options.MaxInFlight. Each caller waits for its own result under its own
// context: a caller whose context ends returns its error at once, but its
// op, if it was already sent, may still be applied (as with any store call
// cut short). An op whose context has ended before its group goes out is
// never sent. A panic in the store fails every op of its group with a
// *future.PanicError. No goroutine outlives the group it serves.
type coalescer struct {
	st   session.MultiApplier
	exec *future.Executor
	// groups is the most groups in flight at once; 0 means
	// maxGroupsInFlight.
	groups int

	mu      sync.Mutex
	queue   []*pending
	runners int // groups in flight; each runner sends the queue after its group
}

// pending is one caller's Apply waiting in a coalescer.
type pending struct {
	ctx  context.Context
	op   session.ApplyOp
	res  session.ApplyResult
	done chan struct{} // closed when res is set
}

// Apply queues the op, starts a runner if fewer than maxGroups are in
// flight, and waits for the op's result or the end of ctx.
func (c *coalescer) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	p := &pending{ctx: ctx, op: session.ApplyOp{ID: id, Update: u}, done: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, p)
	start := c.runners < c.maxGroups()
	if start {
		c.runners++
	}
	c.mu.Unlock()
	if start {
		// The runner's own context never ends: it must drain the queue,
		// whatever becomes of the caller that started it.
		future.GoOn(c.exec, context.Background(), func(context.Context) (struct{}, error) {
			c.run()
			return struct{}{}, nil
		})
	}
	select {
	case <-p.done:
		return p.res.Doc, p.res.Err
	case <-ctx.Done():
		select {
		case <-p.done: // both happened: the result wins
			return p.res.Doc, p.res.Err
		default:
			return nil, context.Cause(ctx)
		}
	}
}

func (c *coalescer) maxGroups() int {
	if c.groups > 0 {
		return c.groups
	}
	return maxGroupsInFlight
}

// run sends groups until the queue is empty.
func (c *coalescer) run() {
	for {
		c.mu.Lock()
		n := min(len(c.queue), maxGroup)
		if n == 0 {
			c.runners--
			if c.runners == 0 {
				c.queue = nil
			}
			c.mu.Unlock()
			return
		}
		group := make([]*pending, n)
		copy(group, c.queue)
		rest := copy(c.queue, c.queue[n:])
		clear(c.queue[rest:])
		c.queue = c.queue[:rest]
		c.mu.Unlock()
		c.send(group)
	}
}

// send applies group in one ApplyMulti call and hands each op its result.
// Ops whose context has ended are dropped, unsent.
func (c *coalescer) send(group []*pending) {
	live := group[:0:0]
	for _, p := range group {
		if p.ctx.Err() != nil {
			p.res.Err = context.Cause(p.ctx)
			close(p.done)
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	ctx := live[0].ctx // a group of one: its caller's own context
	if len(live) > 1 {
		var cancel context.CancelFunc
		ctx, cancel = groupContext(live)
		defer cancel()
	}
	results := c.applyMulti(ctx, live)
	for i, p := range live {
		p.res = results[i]
		close(p.done)
	}
}

// applyMulti calls the store, turning a panic or a result of the wrong
// length into an error of every op.
func (c *coalescer) applyMulti(ctx context.Context, group []*pending) (results []session.ApplyResult) {
	ops := make([]session.ApplyOp, len(group))
	for i, p := range group {
		ops[i] = p.op
	}
	defer func() {
		if r := recover(); r != nil {
			results = failAll(len(group), &future.PanicError{Value: r, Stack: debug.Stack()})
		}
	}()
	results = c.st.ApplyMulti(ctx, ops)
	if len(results) != len(ops) {
		results = failAll(len(group), errResultCount)
	}
	return results
}

// errResultCount is the error of every op of a group for which the store
// returned a wrong number of results.
var errResultCount = errorString("middleware: the store's ApplyMulti returned a wrong number of results")

type errorString string

func (e errorString) Error() string { return string(e) }

func failAll(n int, err error) []session.ApplyResult {
	out := make([]session.ApplyResult, n)
	for i := range out {
		out[i].Err = err
	}
	return out
}

// groupContext returns the context of a group of several store calls (a
// group of one runs under its caller's context): it carries no caller's
// values, ends at the latest of the callers' deadlines (none if
// one has none), and is cancelled once every caller's context has ended,
// since then no one waits for the result.
func groupContext(group []*pending) (context.Context, context.CancelFunc) {
	var latest time.Time
	bounded := true
	for _, p := range group {
		d, ok := p.ctx.Deadline()
		if !ok {
			bounded = false
			break
		}
		if d.After(latest) {
			latest = d
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	if bounded {
		var cancelDeadline context.CancelFunc
		ctx, cancelDeadline = context.WithDeadline(ctx, latest)
		prev := cancel
		cancel = func() { cancelDeadline(); prev() }
	}
	var mu sync.Mutex
	left := len(group)
	stops := make([]func() bool, len(group))
	for i, p := range group {
		stops[i] = context.AfterFunc(p.ctx, func() {
			mu.Lock()
			left--
			last := left == 0
			mu.Unlock()
			if last {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
