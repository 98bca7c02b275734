package session

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/atomicsession/atomicsession/future"
)

// kind says what a queued entry does.
type kind uint8

const (
	kindCommand    kind = iota // one update command
	kindTouch                  // no command: only moves expires
	kindDestroy                // deletes the session
	kindRegenerate             // deletes the session and starts a new one
)

// pending is one queued entry and the promise its caller holds.
type pending struct {
	kind     kind
	cmd      Command
	settle   func(Doc, error)
	demanded atomic.Bool // someone awaited its future (or one derived from it)
}

// Set queues $set: key takes the value v, creating sub-documents along a
// dotted key. v must be one of the types Normalize accepts.
func (s *Session) Set(key string, v any) *future.Future[Doc] {
	return s.command(Command{Op: OpSet, Path: key, Value: v})
}

// Unset queues $unset: key is removed. Removing a missing key is a no-op.
func (s *Session) Unset(key string) *future.Future[Doc] {
	return s.command(Command{Op: OpUnset, Path: key})
}

// Inc queues $inc: by (any Go integer or float) is added to the number at
// key, which is created if missing. The update fails with ErrTypeMismatch if
// key holds something other than a number, or if an integer overflows.
func (s *Session) Inc(key string, by any) *future.Future[Doc] {
	return s.command(Command{Op: OpInc, Path: key, Value: by})
}

// Push queues $push with $each: vs are appended to the array at key, which
// is created if missing.
func (s *Session) Push(key string, vs ...any) *future.Future[Doc] {
	return s.command(Command{Op: OpPush, Path: key, Values: vs})
}

// PushAll queues $push with $each, as Push, for values held in a slice.
func (s *Session) PushAll(key string, vs []any) *future.Future[Doc] {
	return s.command(Command{Op: OpPush, Path: key, Values: vs})
}

// Pull queues $pull: every element equal to v is removed from the array at
// key. Documents are compared whole.
func (s *Session) Pull(key string, v any) *future.Future[Doc] {
	return s.command(Command{Op: OpPull, Path: key, Value: v})
}

// PullAll queues $pullAll: every element equal to one of vs is removed from
// the array at key.
func (s *Session) PullAll(key string, vs ...any) *future.Future[Doc] {
	return s.command(Command{Op: OpPullAll, Path: key, Values: vs})
}

// AddToSet queues $addToSet with $each: each of vs not already in the array
// at key is appended.
func (s *Session) AddToSet(key string, vs ...any) *future.Future[Doc] {
	return s.command(Command{Op: OpAddToSet, Path: key, Values: vs})
}

// Pop queues $pop: end 1 removes the last element of the array at key, end
// -1 the first. Popping an empty or missing array is a no-op.
func (s *Session) Pop(key string, end int) *future.Future[Doc] {
	return s.command(Command{Op: OpPop, Path: key, Value: end})
}

// Rename queues $rename: the value at from moves to to, replacing what is
// there. Renaming a missing key is a no-op.
func (s *Session) Rename(from, to string) *future.Future[Doc] {
	return s.command(Command{Op: OpRename, Path: from, To: to})
}

// Touch queues an update that changes nothing but the expiry: the session
// expires MaxAge from now, in the store and in the cookie. Every command
// does this too.
func (s *Session) Touch() *future.Future[Doc] {
	return s.enqueue(&pending{kind: kindTouch})
}

// Destroy queues the deletion of the session and the clearing of its
// cookie. Commands queued before it are sent first. A command issued after
// it starts a new session with a new id.
func (s *Session) Destroy() *future.Future[struct{}] {
	return future.Map(s.enqueue(&pending{kind: kindDestroy}), func(Doc) (struct{}, error) {
		return struct{}{}, nil
	})
}

// Regenerate deletes the session and replaces it with a brand-new one: new
// token, new id, new CSRF secret, no keys. It resolves with the same
// *Session, now holding the new session, which is stored by its first
// command or when the request ends.
//
// Call Regenerate whenever the privilege level changes, above all right
// after a login: an attacker who planted a session cookie in the victim's
// browser before the login (session fixation) is then left with a dead
// session. CSRF tokens made before Regenerate are no longer valid.
func (s *Session) Regenerate() *future.Future[*Session] {
	return future.Map(s.enqueue(&pending{kind: kindRegenerate}), func(Doc) (*Session, error) {
		return s, nil
	})
}

// command validates c and queues it.
func (s *Session) command(c Command) *future.Future[Doc] {
	c, err := PrepareCommand(c)
	if err != nil {
		return future.Reject[Doc](fmt.Errorf("session %s: %w", c, err))
	}
	return s.enqueue(&pending{kind: kindCommand, cmd: c})
}

// enqueue queues p and returns its future. Awaiting the future sends the
// queue, in a goroutine of its own so that Await's context bounds only the
// wait; one goroutine serves all the futures awaited before it takes the
// queue.
func (s *Session) enqueue(p *pending) *future.Future[Doc] {
	f, settle := future.NewPromise[Doc](func() {
		p.demanded.Store(true)
		if s.flushing.CompareAndSwap(false, true) {
			go s.flush(s.ctx, false) //nolint:errcheck // the results go to the futures
		}
	})
	p.settle = settle
	s.mu.Lock()
	s.queue = append(s.queue, p)
	s.mu.Unlock()
	return f
}

// Flush sends the queued commands now and waits for them; ctx bounds only
// the wait. A new session that is not stored yet is stored even with no
// command queued. Flush returns the errors of commands that failed and
// whose futures nobody awaited, joined, and forgets them; the middleware
// calls it when the request ends and answers 500 if it fails. A failure
// counts as awaited if any command of its batch was awaited before the
// batch went out.
func (s *Session) Flush(ctx context.Context) error {
	if ctx.Done() == nil { // nothing could end the wait early: no goroutine
		return s.flush(s.ctx, true)
	}
	_, err := future.Go(s.ctx, func(wctx context.Context) (struct{}, error) {
		return struct{}{}, s.flush(wctx, true)
	}).Await(ctx)
	return err
}

// result is what the store answered for one batch.
type result struct {
	batch []*pending
	doc   Doc
	err   error
}

// flush sends the queue and then settles the futures. It settles them after
// letting go of flushMu, because a future's continuations run as it settles
// and may await more commands of the same session.
func (s *Session) flush(ctx context.Context, store bool) error {
	for _, r := range s.send(ctx, store) {
		s.settle(r)
	}
	return s.unheardErr()
}

// send sends the queue, batch by batch, in issue order. With store set, a
// new session (one never stored, or just regenerated) is stored at the end
// even if nothing is queued. A store that panics fails the batch it was
// sending and the ones after it; the panic goes no further.
func (s *Session) send(ctx context.Context, store bool) (results []result) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	bs := batches(s.queue)
	s.queue = nil
	s.flushing.Store(false)
	s.mu.Unlock()
	defer func() {
		if v := recover(); v != nil {
			err := fmt.Errorf("session store panicked: %v", v)
			for _, b := range bs[len(results):] {
				results = append(results, result{batch: b, err: err})
			}
		}
	}()
	for _, b := range bs {
		doc, err := s.sendBatch(ctx, b)
		results = append(results, result{b, doc, err})
	}
	if store && s.isNew() {
		b := []*pending{{kind: kindTouch, settle: func(Doc, error) {}}}
		bs = append(bs, b)
		doc, err := s.sendBatch(ctx, b)
		results = append(results, result{b, doc, err})
	}
	return results
}

// isNew reports whether the session exists here but not yet in the store.
func (s *Session) isNew() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateNew
}

// batches splits a queue into consecutive batches that are each one atomic
// update: a batch ends before a command whose paths overlap one already in
// it, and Destroy and Regenerate stand alone.
func batches(queue []*pending) [][]*pending {
	var out [][]*pending
	var cur []*pending
	var paths []string
	cut := func() {
		if len(cur) > 0 {
			out = append(out, cur)
		}
		cur, paths = nil, nil
	}
	for _, p := range queue {
		if p.kind == kindDestroy || p.kind == kindRegenerate {
			cut()
			out = append(out, []*pending{p})
			continue
		}
		if p.kind == kindCommand && overlapsAny(p.cmd.Paths(), paths) {
			cut()
		}
		cur = append(cur, p)
		if p.kind == kindCommand {
			paths = append(paths, p.cmd.Paths()...)
		}
	}
	cut()
	return out
}

func overlapsAny(ps, others []string) bool {
	for _, p := range ps {
		for _, o := range others {
			if Overlaps(p, o) {
				return true
			}
		}
	}
	return false
}

// sendBatch performs one batch against the store.
func (s *Session) sendBatch(ctx context.Context, b []*pending) (Doc, error) {
	switch b[0].kind {
	case kindDestroy:
		return nil, s.destroy(ctx)
	case kindRegenerate:
		if err := s.destroy(ctx); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return nil, s.renew()
	}
	var cmds []Command
	for _, p := range b {
		if p.kind == kindCommand {
			cmds = append(cmds, p.cmd)
		}
	}
	return s.update(ctx, cmds)
}

// update applies cmds to the stored session, creating it first if it is
// new. A session that has expired or been deleted meanwhile is never
// brought back: the commands go to a new session with a new id.
func (s *Session) update(ctx context.Context, cmds []Command) (Doc, error) {
	s.mu.Lock()
	if s.state == stateDestroyed {
		if err := s.renew(); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	st, id := s.state, s.meta.ID
	s.mu.Unlock()
	if st == stateStored {
		cctx, cancel := s.withTimeout(ctx)
		doc, err := s.store.Apply(cctx, id, Update{Commands: cmds, Expires: time.Now().Add(s.opts.MaxAge)})
		cancel()
		if !errors.Is(err, ErrNotFound) {
			return s.applied(doc, err)
		}
		s.mu.Lock()
		err = s.renew()
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return s.create(ctx, cmds)
}

// create stores the new session with its first commands.
func (s *Session) create(ctx context.Context, cmds []Command) (Doc, error) {
	s.mu.Lock()
	now := time.Now().UTC().Truncate(time.Millisecond)
	s.meta.Expires = now.Add(s.opts.MaxAge)
	meta := s.meta
	s.mu.Unlock()
	cctx, cancel := s.withTimeout(ctx)
	defer cancel()
	return s.applied(s.store.Create(cctx, meta, Update{Commands: cmds}))
}

// applied records a store's answer: the session is stored, its expiry moved
// and its cookie due to be sent again.
func (s *Session) applied(doc Doc, err error) (Doc, error) {
	if err != nil {
		return nil, err
	}
	meta, err := MetaOf(doc)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if meta.ID == s.meta.ID {
		s.meta = meta
		s.state = stateStored
		s.dirty = true
	}
	s.mu.Unlock()
	return doc, nil
}

// destroy deletes the stored session, if any.
func (s *Session) destroy(ctx context.Context) error {
	s.mu.Lock()
	st, id := s.state, s.meta.ID
	s.mu.Unlock()
	if st == stateStored {
		cctx, cancel := s.withTimeout(ctx)
		defer cancel()
		if err := s.store.Delete(cctx, id); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.state = stateDestroyed
	s.values = Doc{}
	s.dirty = true
	s.mu.Unlock()
	return nil
}

// settle resolves every entry of a batch with the batch's result. Each
// entry gets its own copy of the document, so one caller cannot change
// another's result. A failure that no entry of the batch has been awaited
// for is kept for Flush to report.
func (s *Session) settle(r result) {
	err := r.err
	if err != nil {
		err = fmt.Errorf("session %s: %w", describe(r.batch), err)
		heard := false
		for _, p := range r.batch {
			heard = heard || p.demanded.Load()
		}
		if !heard {
			s.mu.Lock()
			s.unheard = append(s.unheard, err)
			s.mu.Unlock()
		}
	}
	for i, p := range r.batch {
		d := r.doc
		if i > 0 && d != nil {
			d = d.Clone()
		}
		p.settle(d, err)
	}
}

// unheardErr returns the kept failures, joined, and forgets them.
func (s *Session) unheardErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := errors.Join(s.unheard...)
	s.unheard = nil
	return err
}

// describe names a batch for an error message.
func describe(b []*pending) string {
	switch b[0].kind {
	case kindDestroy:
		return "destroy"
	case kindRegenerate:
		return "regenerate"
	}
	var cmds []Command
	for _, p := range b {
		if p.kind == kindCommand {
			cmds = append(cmds, p.cmd)
		}
	}
	if len(cmds) == 0 {
		return "touch"
	}
	return fmt.Sprintf("update %v", cmds)
}
