package redis

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/session"
)

// holdPipeline is a go-redis hook that, once armed, holds the next pipeline
// until release is closed.
type holdPipeline struct {
	mu      sync.Mutex
	armed   bool
	release chan struct{}
	waited  bool // the pipeline was held until release
}

func (h *holdPipeline) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *holdPipeline) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook { return next }

func (h *holdPipeline) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.mu.Lock()
		armed := h.armed
		h.armed = false
		h.mu.Unlock()
		if armed {
			// A guard against a deadlock, not a measure of time: the ops
			// that go through Apply never come if they wait for this
			// pipeline.
			select {
			case <-h.release:
				h.mu.Lock()
				h.waited = true
				h.mu.Unlock()
			case <-time.After(10 * time.Second):
			}
		}
		return next(ctx, cmds)
	}
}

// TestApplyMultiOverlapsApplyOps: the ops of ApplyMulti that go through
// Apply (one whose values the cache does not hold, and those of a session
// named twice, in their order) run while the pipeline of the others is on
// the wire, not after it: the pipeline here waits until both have reached
// their write.
func TestApplyMultiOverlapsApplyOps(t *testing.T) {
	c := newClient(t)
	s := NewStore(c, WithPrefix(testenv.RedisPrefix(t)), WithCacheBytes(0))
	native, solo, twice := create(t, s), create(t, s), create(t, s)
	h := &holdPipeline{release: make(chan struct{}), armed: true}
	c.AddHook(h)
	var writes atomic.Int32
	s.beforeWrite = func() { // on the Go path only: solo and twice
		if writes.Add(1) == 2 {
			close(h.release)
		}
	}
	exp := time.Now().Add(time.Hour)
	res := s.ApplyMulti(ctx, []session.ApplyOp{
		{ID: native.ID, Update: upd(exp, []session.Command{set("a", "x")})},
		{ID: twice.ID, Update: upd(exp, []session.Command{set("d.n", int64(1))})},
		{ID: solo.ID, Update: upd(exp, []session.Command{set("d.x", true)})},
		{ID: twice.ID, Update: upd(exp, []session.Command{inc("d.n", int64(10))})},
	})
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("op %d: %v", i, r.Err)
		}
	}
	if !h.waited {
		t.Error("the pipeline went out before the ops that go through Apply reached their write")
	}
	if got := lookup(res[3].Doc, "d.n"); got != int64(11) {
		t.Errorf("second op on one session: d.n = %#v, want 11 (applied after the first)", got)
	}
	if got := lookup(res[0].Doc, "a"); got != "x" {
		t.Errorf("native op: a = %#v, want x", got)
	}
}
