package middleware

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/future"
	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/session"
)

// multiMemory is the memory store with an ApplyMulti that applies its ops
// one by one, records each group's ids, and can hold the first group until
// released, so that the test sees which calls went out together.
type multiMemory struct {
	*memory.Store
	gate    chan struct{} // if not nil, the first hold groups wait for it
	entered chan struct{} // closed when the first hold groups have arrived
	hold    int           // how many groups the gate holds
	panicOn string        // an op on this id panics

	mu     sync.Mutex
	groups [][]string
	ctxs   []context.Context // each group's context
}

func (s *multiMemory) ApplyMulti(ctx context.Context, ops []session.ApplyOp) []session.ApplyResult {
	ids := make([]string, len(ops))
	for i, op := range ops {
		ids[i] = op.ID
	}
	s.mu.Lock()
	s.groups = append(s.groups, ids)
	s.ctxs = append(s.ctxs, ctx)
	n := len(s.groups)
	s.mu.Unlock()
	if s.gate != nil && n <= s.hold {
		if n == s.hold {
			close(s.entered)
		}
		<-s.gate
	}
	out := make([]session.ApplyResult, len(ops))
	for i, op := range ops {
		if op.ID == s.panicOn {
			panic("store bug")
		}
		out[i].Doc, out[i].Err = s.Store.Apply(ctx, op.ID, op.Update)
	}
	return out
}

func (s *multiMemory) groupList() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.groups...)
}

func newMulti(t *testing.T, gated bool, ids ...string) *multiMemory {
	t.Helper()
	st := &multiMemory{Store: memory.NewStore()}
	t.Cleanup(func() { st.Close() })
	if gated {
		st.gate, st.entered, st.hold = make(chan struct{}), make(chan struct{}), 1
	}
	now := time.Now()
	for _, id := range ids {
		m := session.Meta{ID: id, Expires: now.Add(time.Hour), MaxAge: time.Hour, Created: now}
		if _, err := st.Create(context.Background(), m, session.Update{}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func incBy(t *testing.T, n int64) session.Update {
	t.Helper()
	c, err := session.PrepareCommand(session.Command{Op: session.OpInc, Path: "n", Value: n})
	if err != nil {
		t.Fatal(err)
	}
	return session.Update{Commands: []session.Command{c}, Expires: time.Now().Add(time.Hour)}
}

// waitQueued waits until n calls wait in c's queue.
func waitQueued(t *testing.T, c *coalescer, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		got := len(c.queue)
		c.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", got, n)
		}
	}
}

type outcome struct {
	doc session.Doc
	err error
}

// A call on an idle coalescer goes out alone at once; the calls that come
// while it is in flight go out together as one group, each with its own
// result and error; a full queue is cut into groups of maxGroup.
func TestCoalescerGroupsCallsThatArriveWhileAGroupIsInFlight(t *testing.T) {
	ids := []string{"first"}
	for i := range 100 {
		ids = append(ids, fmt.Sprintf("s%d", i))
	}
	st := newMulti(t, true, ids...)
	exec := future.NewExecutor(4)
	c := &coalescer{st: st, exec: exec, groups: 1}
	ctx := context.Background()

	firstDone := make(chan outcome, 1)
	go func() {
		doc, err := c.Apply(ctx, "first", incBy(t, 1))
		firstDone <- outcome{doc, err}
	}()
	<-st.entered
	// 100 more calls while the first is in flight, one of them on a
	// session that does not exist.
	out := make([]outcome, 101)
	var wg sync.WaitGroup
	for i := range 101 {
		id := fmt.Sprintf("s%d", i)
		if i == 100 {
			id = "missing"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			doc, err := c.Apply(ctx, id, incBy(t, int64(i)))
			out[i] = outcome{doc, err}
		}()
	}
	waitQueued(t, c, 101)
	close(st.gate)
	wg.Wait()
	if r := <-firstDone; r.err != nil || r.doc["n"] != int64(1) {
		t.Fatalf("first call: %v, %v", r.doc, r.err)
	}
	for i, r := range out[:100] {
		if r.err != nil || r.doc["n"] != int64(i) {
			t.Fatalf("call %d: doc %v, error %v; want n = %d", i, r.doc, r.err, i)
		}
	}
	if !errors.Is(out[100].err, session.ErrNotFound) {
		t.Fatalf("call on a missing session: %v, want ErrNotFound", out[100].err)
	}
	groups := st.groupList()
	sizes := make([]int, len(groups))
	total := 0
	for i, g := range groups {
		sizes[i] = len(g)
		total += len(g)
	}
	if len(groups) != 3 || sizes[0] != 1 || sizes[1] != maxGroup || total != 102 {
		t.Fatalf("group sizes %v, want [1 %d %d]", sizes, maxGroup, 101-maxGroup)
	}
	exec.Wait()
	if c.runners != 0 || len(c.queue) != 0 {
		t.Fatalf("after the last group: %d runners, %d queued", c.runners, len(c.queue))
	}
}

// By default two groups go out at once: two calls on an idle coalescer
// each go alone, without waiting for the other; the calls that come while
// both are in flight wait and go out together.
func TestCoalescerKeepsTwoGroupsInFlight(t *testing.T) {
	st := newMulti(t, true, "one", "two", "a", "b", "c")
	st.hold = maxGroupsInFlight
	exec := future.NewExecutor(4)
	c := &coalescer{st: st, exec: exec}
	ctx := context.Background()
	var wg sync.WaitGroup
	apply := func(id string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Apply(ctx, id, incBy(t, 1)); err != nil {
				t.Errorf("%s: %v", id, err)
			}
		}()
	}
	apply("one")
	for len(st.groupList()) == 0 { // "one" is in the store, alone
		time.Sleep(time.Millisecond)
	}
	apply("two")
	select {
	case <-st.entered: // both are in the store at once
	case <-time.After(10 * time.Second):
		close(st.gate)
		wg.Wait()
		t.Fatalf("the second call did not go out while the first was in flight: groups %v", st.groupList())
	}
	for _, id := range []string{"a", "b", "c"} {
		apply(id)
	}
	waitQueued(t, c, 3)
	close(st.gate)
	wg.Wait()
	exec.Wait()
	groups := st.groupList()
	if len(groups) != 3 || len(groups[0]) != 1 || len(groups[1]) != 1 || len(groups[2]) != 3 {
		t.Fatalf("groups %v, want two of one, then [a b c]", groups)
	}
}

// A panic in the store fails every op of its group with a
// *future.PanicError, and the coalescer goes on serving.
func TestCoalescerPanicFailsTheWholeGroup(t *testing.T) {
	st := newMulti(t, true, "first", "a", "b", "c", "d")
	st.panicOn = "b"
	exec := future.NewExecutor(4)
	c := &coalescer{st: st, exec: exec, groups: 1}
	ctx := context.Background()
	firstDone := make(chan error, 1)
	go func() {
		_, err := c.Apply(ctx, "first", incBy(t, 1))
		firstDone <- err
	}()
	<-st.entered
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i, id := range []string{"a", "b", "c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Apply(ctx, id, incBy(t, 1))
		}()
	}
	waitQueued(t, c, 3)
	close(st.gate)
	wg.Wait()
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		var pe *future.PanicError
		if !errors.As(err, &pe) || pe.Value != "store bug" || len(pe.Stack) == 0 {
			t.Fatalf("op %d: error %v, want a *future.PanicError", i, err)
		}
	}
	st.panicOn = ""
	// The ops before the panic may have been applied; the group's errors
	// say nothing more. Another session works as before.
	if doc, err := c.Apply(ctx, "d", incBy(t, 5)); err != nil || doc["n"] != int64(5) {
		t.Fatalf("after the panic: %v, %v", doc, err)
	}
	exec.Wait()
}

// A caller whose context ends returns at once with its error; an op whose
// context ended before its group went out is never sent.
func TestCoalescerCallerContext(t *testing.T) {
	st := newMulti(t, true, "first", "a", "b")
	exec := future.NewExecutor(4)
	c := &coalescer{st: st, exec: exec, groups: 1}

	inFlight, cancelInFlight := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	go func() {
		_, err := c.Apply(inFlight, "first", incBy(t, 1))
		firstDone <- err
	}()
	<-st.entered
	cancelInFlight() // the first call is in the store: its caller leaves
	if err := <-firstDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller in flight: %v, want context.Canceled", err)
	}

	queued, cancelQueued := context.WithCancel(context.Background())
	queuedDone := make(chan error, 1)
	go func() {
		_, err := c.Apply(queued, "a", incBy(t, 1))
		queuedDone <- err
	}()
	bDone := make(chan outcome, 1)
	go func() {
		doc, err := c.Apply(context.Background(), "b", incBy(t, 2))
		bDone <- outcome{doc, err}
	}()
	waitQueued(t, c, 2)
	cancelQueued()
	if err := <-queuedDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller in the queue: %v, want context.Canceled", err)
	}
	close(st.gate)
	if r := <-bDone; r.err != nil || r.doc["n"] != int64(2) {
		t.Fatalf("the other caller: %v, %v", r.doc, r.err)
	}
	exec.Wait()
	groups := st.groupList()
	if len(groups) != 2 || len(groups[1]) != 1 || groups[1][0] != "b" {
		t.Fatalf("groups %v, want [[first] [b]]: the cancelled op is never sent", groups)
	}
	// The first op's store call ran under a context cancelled once its
	// only caller left: the memory store then applies nothing (another
	// store, already sending, may apply it).
	doc, err := st.Load(context.Background(), "first", nil)
	if err != nil || doc["n"] != nil {
		t.Fatalf("first: %v, %v", doc, err)
	}
	if _, err := c.Apply(queued, "b", incBy(t, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("call with an ended context: %v", err)
	}
}

// Batching is on by default for a MultiApplier and off with NoBatching or
// for a store without ApplyMulti.
func TestBatchingOption(t *testing.T) {
	keys := [][]byte{make([]byte, 32)}
	st := newMulti(t, false)
	for _, tc := range []struct {
		st   session.Store
		opts Options
		want bool
	}{
		{st, Options{Keys: keys}, true},
		{st, Options{Keys: keys, NoBatching: true}, false},
		{st.Store, Options{Keys: keys}, false},
	} {
		m, err := New(tc.st, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.bounded.(*boundedStore).multi != nil; got != tc.want {
			t.Errorf("%T, NoBatching %v: batching %v, want %v", tc.st, tc.opts.NoBatching, got, tc.want)
		}
	}
}

type ctxMark struct{}

// A group of one runs under its caller's context, values included; a
// group of several under a context of its own, which carries no caller's
// values.
func TestCoalescerGroupContext(t *testing.T) {
	st := newMulti(t, true, "one", "a", "b")
	exec := future.NewExecutor(4)
	c := &coalescer{st: st, exec: exec, groups: 1}
	ctx := context.WithValue(context.Background(), ctxMark{}, "caller")
	var wg sync.WaitGroup
	for _, id := range []string{"one", "a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Apply(ctx, id, incBy(t, 1)); err != nil {
				t.Errorf("%s: %v", id, err)
			}
		}()
		if id == "one" {
			<-st.entered
		}
	}
	waitQueued(t, c, 2)
	close(st.gate)
	wg.Wait()
	exec.Wait()
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.ctxs) != 2 || len(st.groups[1]) != 2 {
		t.Fatalf("groups %v, want [one] then [a b]", st.groups)
	}
	if v := st.ctxs[0].Value(ctxMark{}); v != "caller" {
		t.Errorf("group of one: the store's context has value %v, want the caller's", v)
	}
	if v := st.ctxs[1].Value(ctxMark{}); v != nil {
		t.Errorf("group of two: the store's context has value %v, want none", v)
	}
}
