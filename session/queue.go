package session

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/atomicsession/atomicsession/future"
)

// kind says what a queued entry does.
type kind uint8

const (
	kindCommand    kind = iota // one update command
	kindTake                   // OpTake: read and remove; stands alone in its batch
	kindTouch                  // no command: moves expires (and maybe maxAge, label)
	kindFetch                  // reads keys, within the batch it joins
	kindDestroy                // deletes the session
	kindRegenerate             // deletes the session and starts a new one (Login binds it)
)

// pending is one queued entry, the promise its caller holds, and, once
// sent, its result.
type pending struct {
	kind     kind
	cmd      Command
	maxAge   time.Duration // kindTouch: the new lifetime, if not zero
	label    string        // kindTouch: the new label, if not empty
	userID   string        // kindRegenerate: bind the new session (Login)
	forID    string        // kindTouch made by correctExpiry: only for this session
	fetch    []string      // kindFetch: keys; nil with fetchAll
	fetchAll bool
	complete func(Doc, error) func()
	looked   atomic.Bool // its future was awaited, asked for Done or derived from

	doc Doc // the result, set by send
	err error
}

// Set queues $set: key takes the value v, creating sub-documents along a
// dotted key. v is one of the types Normalize lists, or any value that
// encoding/json can marshal (structs, typed slices and maps), converted to
// those types first; GetAs converts back.
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

// PushLast queues $push with $each and $slice -n: vs are appended to the
// array at key and only its last n elements are kept, in one atomic
// update, so that concurrent requests can never leave more than n (a
// bounded list: recently viewed items, a capped cart). n must be positive.
func (s *Session) PushLast(key string, n int, vs ...any) *future.Future[Doc] {
	if n <= 0 {
		return s.reject(&pending{kind: kindCommand, cmd: Command{Op: OpPush, Path: key}},
			fmt.Errorf("$slice length %d, want a positive number: %w", n, ErrInvalidValue))
	}
	return s.command(Command{Op: OpPush, Path: key, Values: vs, Slice: n})
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

// Take queues an atomic read-and-remove of key and resolves with the value
// key held before, or nil if it held none. Of any number of concurrent
// requests taking the same key, exactly one gets the value: the way to
// show a flash message once. Take goes to the store on its own (one round
// trip), not batched with other commands. On a session that is not stored
// when the Take is sent (a new visitor, or after Destroy or Regenerate),
// Take resolves with nil without a store call and stores nothing.
func (s *Session) Take(key string) *future.Future[any] {
	taken := func(d Doc) any {
		v, _ := lookupDoc(d, key)
		return v
	}
	c, err := PrepareCommand(Command{Op: OpTake, Path: key})
	if err != nil {
		return rejectAs(s, &pending{kind: kindTake, cmd: Command{Op: OpTake, Path: key}}, taken, err)
	}
	return enqueueAs(s, &pending{kind: kindTake, cmd: c}, taken)
}

// Touch queues an update that changes nothing but the expiry: the session
// expires MaxAge from now, in the store and in the cookie. Every command
// does this too. A new session is stored by it.
func (s *Session) Touch() *future.Future[Doc] {
	return s.enqueue(&pending{kind: kindTouch})
}

// SetMaxAge gives the session a lifetime of its own, d, in place of
// Options.MaxAge: in the store, in the rolling expiry of every later
// update, and in the cookie's Max-Age. Use it for "remember me". d is
// kept to the millisecond and must be at least one.
func (s *Session) SetMaxAge(d time.Duration) *future.Future[Doc] {
	if d.Truncate(time.Millisecond) <= 0 {
		return s.reject(&pending{kind: kindTouch}, fmt.Errorf("SetMaxAge(%v): want at least a millisecond: %w", d, ErrInvalidValue))
	}
	return s.enqueue(&pending{kind: kindTouch, maxAge: d.Truncate(time.Millisecond)})
}

// SetLabel gives the session a label, such as the name of the device or
// browser, which session.UserIndex lists with the user's sessions. label
// must not be empty, is at most 256 bytes, and holds no NUL (which a
// PostgreSQL text column cannot store).
func (s *Session) SetLabel(label string) *future.Future[Doc] {
	if label == "" || len(label) > MaxKeyLen || strings.IndexByte(label, 0) >= 0 {
		return s.reject(&pending{kind: kindTouch}, fmt.Errorf("SetLabel: label of %d bytes, want 1 to %d: %w", len(label), MaxKeyLen, ErrInvalidValue))
	}
	if _, err := normString(label); err != nil {
		return s.reject(&pending{kind: kindTouch}, fmt.Errorf("SetLabel: %w", err))
	}
	return s.enqueue(&pending{kind: kindTouch, label: label})
}

// Fetch loads the top-level keys named in keys into the local view, or,
// with no keys, every key not loaded yet, and resolves with the session as
// this request knows it then. Keys already loaded are not read again;
// when nothing is missing and nothing is queued, Fetch resolves at once,
// without a store call (with commands queued, it resolves after them).
//
// A Fetch queued together with commands joins their batch: the store
// returns the fetched keys with the touched ones, from the same atomic
// step, in one round trip.
func (s *Session) Fetch(keys ...string) *future.Future[Doc] {
	for _, k := range keys {
		if err := ValidateKey(k); err != nil {
			return s.reject(&pending{kind: kindFetch}, fmt.Errorf("session fetch: %w", err))
		}
	}
	s.mu.Lock()
	missing, all := s.missing(keys)
	done := !all && len(missing) == 0 && len(s.queue) == 0
	var snap Doc
	if done {
		snap = s.snapshot()
	}
	s.mu.Unlock()
	if done {
		return future.Resolve(snap)
	}
	return s.enqueue(&pending{kind: kindFetch, fetch: missing, fetchAll: all})
}

// missing returns the top-level keys of keys not loaded yet, or all when
// keys is empty and not everything is loaded. The caller holds s.mu.
func (s *Session) missing(keys []string) (out []string, all bool) {
	if s.loadedAll {
		return nil, false
	}
	if len(keys) == 0 {
		return nil, true
	}
	seen := map[string]bool{}
	for _, k := range keys {
		top := topKey(k)
		if !s.loaded[top] && !seen[top] {
			seen[top] = true
			out = append(out, top)
		}
	}
	return out, false
}

// Destroy queues the deletion of the session and the clearing of its
// cookie. Commands queued before it are sent first. A command issued after
// it starts a new session with a new id.
//
// If the store cannot delete the session, Destroy fails closed: every
// command queued after it fails with that error, none reaches the old
// session, and the middleware answers 5xx.
func (s *Session) Destroy() *future.Future[struct{}] {
	return enqueueAs(s, &pending{kind: kindDestroy}, func(Doc) struct{} { return struct{}{} })
}

// Regenerate deletes the session and replaces it with a brand-new one: new
// token, new id, new CSRF key, no keys. It resolves with the same
// *Session, now holding the new session, which is stored by its first
// write. Commands issued after Regenerate go to the new session, so
// Regenerate().Await followed by plain commands is as safe as a
// future.Chain.
//
// Call Regenerate whenever the privilege level changes, above all right
// after a login (or use Login, which does it): an attacker who planted a
// session cookie in the victim's browser before the login (session
// fixation) is then left with a dead session. CSRF tokens made before
// Regenerate are no longer valid. If the old session cannot be deleted,
// Regenerate fails closed, as Destroy does: nothing queued after it lands
// in the old session.
func (s *Session) Regenerate() *future.Future[*Session] {
	return s.regenerate("")
}

// Login regenerates the session, as Regenerate does (the defence against
// session fixation), and binds the new session to userID: the store lists
// it among the user's sessions (UserIndex) until it is destroyed or
// expires. The new session is stored, bound, together with the first
// commands issued after Login (no extra round trip), or by the end of the
// request. Call it when a user signs in; see UserIndex to sign a user out
// everywhere.
func (s *Session) Login(userID string) *future.Future[*Session] {
	if userID == "" {
		return rejectAs(s, &pending{kind: kindRegenerate, userID: "?"}, s.self,
			fmt.Errorf("Login with an empty user id: %w", ErrInvalidValue))
	}
	return s.regenerate(userID)
}

func (s *Session) regenerate(userID string) *future.Future[*Session] {
	return enqueueAs(s, &pending{kind: kindRegenerate, userID: userID}, s.self)
}

// self is the value of Regenerate's and Login's futures.
func (s *Session) self(Doc) *Session { return s }

// command validates c and queues it.
func (s *Session) command(c Command) *future.Future[Doc] {
	p := &pending{kind: kindCommand, cmd: c}
	prepared, err := PrepareCommand(c)
	if err != nil {
		return s.reject(p, err)
	}
	p.cmd = prepared
	return s.enqueue(p)
}

// enqueue queues p and returns its future, which resolves with the
// session as this request knows it after p. Awaiting the future sends the
// queue, on a goroutine of its own so that Await's context bounds only the
// wait; one flush serves all the futures awaited before it takes the queue.
func (s *Session) enqueue(p *pending) *future.Future[Doc] {
	return enqueueAs(s, p, func(d Doc) Doc { return d })
}

// enqueueAs queues p and returns a future of its result converted by conv.
// The future is p's own (not one derived by the library), so that only the
// caller's awaiting or deriving marks p as looked at.
func enqueueAs[T any](s *Session, p *pending, conv func(Doc) T) *future.Future[T] {
	f := promiseAs(s, p, conv)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.failed != nil:
		s.rejectLocked(p, s.failed)
	case s.issued >= s.opts.MaxCommands:
		s.rejectLocked(p, fmt.Errorf("session: more than %d commands in one session: %w", s.opts.MaxCommands, ErrTooLarge))
	default:
		s.issued++
		s.queue = append(s.queue, p)
	}
	return f
}

// promiseAs makes p's future and sets p.complete: awaiting the future
// starts a flush; awaiting it, or deriving from it, at any time marks p as
// looked at.
func promiseAs[T any](s *Session, p *pending, conv func(Doc) T) *future.Future[T] {
	f, complete := future.NewDeferredPromise[T](func() {
		if s.flushing.CompareAndSwap(false, true) {
			s.run(func() { s.drain(s.ctx) })
		}
	}, func() { p.looked.Store(true) })
	p.complete = func(d Doc, err error) func() {
		var v T
		if err == nil {
			v = conv(d)
		}
		return complete(v, err)
	}
	return f
}

// reject fails p at once, without queueing it, and keeps the failure for
// Flush to report unless somebody looks at the future: a command that
// nobody awaited is never dropped silently, even a refused one.
func (s *Session) reject(p *pending, err error) *future.Future[Doc] {
	return rejectAs(s, p, func(d Doc) Doc { return d }, err)
}

func rejectAs[T any](s *Session, p *pending, conv func(Doc) T, err error) *future.Future[T] {
	f := promiseAs(s, p, conv)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectLocked(p, err)
	return f
}

// rejectLocked fails p with err; the caller holds s.mu.
func (s *Session) rejectLocked(p *pending, err error) {
	p.err = fmt.Errorf("session: %w", err)
	s.unheard = append(s.unheard, p)
	p.complete(nil, p.err)() // no continuation can be registered yet: nothing runs under s.mu
}

// run runs a flush on a new goroutine. (Not on a bounded pool: a
// continuation that awaits a new command of its own session would wait for
// a slot its own flush holds. The middleware bounds store calls instead.)
func (s *Session) run(work func()) {
	go work()
}

// Flush sends the queued commands now, and those that continuations queue
// meanwhile, until the queue is empty, and waits for them; ctx bounds only
// the wait. A new session that must be stored (CreateCSRF, Login) is
// stored even with no command queued.
//
// Flush returns the errors of commands that failed and whose futures
// nobody has awaited (or derived a future from), joined, and forgets them; and, once a Destroy,
// Regenerate or Login has failed to delete the old session, that failure.
// The middleware calls Flush before the response's headers and answers
// 5xx if it fails.
func (s *Session) Flush(ctx context.Context) error {
	if ctx.Done() == nil { // nothing could end the wait early: no goroutine
		s.flushAll()
		return s.report()
	}
	done := make(chan struct{})
	s.run(func() {
		defer close(done)
		s.flushAll()
	})
	select {
	case <-done:
		return s.report()
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// flushAll drains the queue and then stores a new session that must be
// stored (CreateCSRF, or a Login with no command after it).
func (s *Session) flushAll() {
	for {
		s.drain(s.ctx)
		s.mu.Lock()
		store := s.mustStore && s.state == stateNew && s.failed == nil
		if store {
			s.mustStore = false // one try: a failure is reported, not repeated
			s.queue = append(s.queue, &pending{kind: kindTouch, complete: ignoreResult})
		}
		s.mu.Unlock()
		if !store {
			return
		}
	}
}

// ignoreResult completes an entry that has no future.
func ignoreResult(Doc, error) func() { return func() {} }

// report returns what Flush reports, and forgets the unheard failures.
func (s *Session) report() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	failures := s.unheard
	s.unheard = nil
	if s.failed != nil {
		return s.failed
	}
	var errs []error
	for _, p := range failures {
		if !p.looked.Load() {
			errs = append(errs, p.err)
		}
	}
	return joinErrors(errs)
}
