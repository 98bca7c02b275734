package session

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/atomicsession/atomicsession/future"
)

// drain sends the queue, batch by batch in issue order, and settles the
// futures, until the queue is empty: continuations that run as futures
// settle may queue more. The futures of one round are all settled before
// any continuation runs, and outside flushMu, so that a continuation may
// await a sibling, or new commands, without deadlock.
func (s *Session) drain(ctx context.Context) {
	for {
		s.flushMu.Lock()
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		s.flushing.Store(false)
		s.mu.Unlock()
		if len(q) == 0 {
			s.flushMu.Unlock()
			return
		}
		for _, b := range batches(q) {
			s.sendGuarded(ctx, b)
		}
		s.record(q) // before another Flush can take flushMu and report
		s.flushMu.Unlock()
		s.settle(q)
	}
}

// sendGuarded sends one batch; a store that panics fails the batch with a
// *future.PanicError that holds the stack, and goes no further.
func (s *Session) sendGuarded(ctx context.Context, b []*pending) {
	defer func() {
		if v := recover(); v != nil {
			err := &future.PanicError{Value: v, Stack: debug.Stack()}
			for _, p := range b {
				if p.doc == nil && p.err == nil {
					p.err = fmt.Errorf("session store panicked: %w", err)
				}
			}
		}
	}()
	s.sendBatch(ctx, b)
}

// sendBatch performs one batch against the store and records each entry's
// result.
func (s *Session) sendBatch(ctx context.Context, b []*pending) {
	s.mu.Lock()
	failed := s.failed
	s.mu.Unlock()
	if failed != nil {
		failAll(b, failed)
		return
	}
	switch b[0].kind {
	case kindDestroy, kindRegenerate:
		s.replace(ctx, b[0])
		return
	}
	if s.stale(b) || s.nothingToTake(b) {
		return
	}
	if hasWrite(b) {
		s.write(ctx, b)
		return
	}
	s.load(ctx, b)
}

// stale reports whether b holds nothing but corrections made for a session
// that has been destroyed or replaced since (see correctExpiry), and
// resolves them: they must not store a new session.
func (s *Session) stale(b []*pending) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range b {
		if p.forID == "" || (p.forID == s.meta.ID && s.state == stateStored) {
			return false
		}
	}
	snap := s.snapshot()
	for _, p := range b {
		p.doc = snap
	}
	return true
}

// nothingToTake reports whether b is a Take on a session that is not
// stored (a new visitor, or one just destroyed or regenerated), and
// resolves it with nothing taken: there is nothing to take, and a Take must
// not store a session.
func (s *Session) nothingToTake(b []*pending) bool {
	if len(b) != 1 || b[0].kind != kindTake {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateStored {
		return false
	}
	b[0].doc = s.snapshot()
	return true
}

// replace runs a Destroy or Regenerate (Login). If the old session cannot
// be deleted, the session fails closed: nothing after it is sent.
func (s *Session) replace(ctx context.Context, p *pending) {
	if err := s.destroy(ctx); err != nil {
		p.err = err
		s.mu.Lock()
		s.failed = errFailClosed(err)
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.kind == kindRegenerate {
		if err := s.renew(); err != nil {
			p.err = err
			return
		}
		if p.userID != "" {
			s.meta.UserID = p.userID
			s.mustStore = true
		}
	}
	p.doc = s.snapshot()
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
	s.cleared = s.cleared || st == stateStored
	s.values, s.loaded, s.loadedAll = Doc{}, map[string]bool{}, true
	s.meta.UserID, s.meta.Label = "", ""
	s.dirty = true
	s.mustStore = false
	s.mu.Unlock()
	return nil
}

// hasWrite reports whether a batch changes the store (anything but Fetch).
func hasWrite(b []*pending) bool {
	for _, p := range b {
		if p.kind != kindFetch {
			return true
		}
	}
	return false
}

// load sends a batch of Fetches alone: one Load.
func (s *Session) load(ctx context.Context, b []*pending) {
	keys, all := fetchKeys(b)
	s.mu.Lock()
	st, id := s.state, s.meta.ID
	if !all {
		keys, all = s.missing(keys)
	}
	s.mu.Unlock()
	if st == stateStored && (all || len(keys) > 0) {
		if all {
			keys = nil
		}
		cctx, cancel := s.withTimeout(ctx)
		doc, err := s.store.Load(cctx, id, keys)
		cancel()
		switch {
		case errors.Is(err, ErrNotFound):
			err = s.lost()
			doc = nil
		case err == nil && doc == nil:
			err = errors.New("store returned no document and no error")
		}
		if err != nil {
			failAll(b, fmt.Errorf("load session %s: %w", id, err))
			return
		}
		if doc != nil {
			s.mu.Lock()
			err = s.learn(doc, keys, all)
			s.mu.Unlock()
			if err != nil {
				failAll(b, fmt.Errorf("load session %s: %w", id, err))
				return
			}
		}
	}
	s.mu.Lock()
	snap := s.snapshot()
	s.mu.Unlock()
	for _, p := range b {
		p.doc = snap
	}
}

// lost records that the stored session is gone (expired or deleted
// meanwhile): the request goes on with a new, empty session, never
// bringing the old one back.
func (s *Session) lost() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleared = s.cleared || s.state == stateStored // the visitor's cookie names nothing now
	return s.renew()
}

// fetchKeys collects the keys of a batch's Fetches.
func fetchKeys(b []*pending) (keys []string, all bool) {
	for _, p := range b {
		if p.kind == kindFetch {
			all = all || p.fetchAll
			keys = append(keys, p.fetch...)
		}
	}
	return keys, all
}

// maxIsolations bounds the extra store calls one batch may spend sending
// its commands again without the ones that do not apply.
const maxIsolations = 16

// write sends a batch that changes the store as one Update. If one command
// does not apply (a CommandError, or ErrTypeMismatch), the others are sent
// again without it, so that only its own future fails: at once if the
// store said which one (CommandError), otherwise by halving the batch until
// the failing commands stand alone. After maxIsolations such retries the
// commands not sent yet fail with ErrTooLarge, so that a batch of many
// failing commands costs a bounded number of round trips.
func (s *Session) write(ctx context.Context, b []*pending) {
	budget := maxIsolations
	s.writeWithin(ctx, b, &budget)
}

func (s *Session) writeWithin(ctx context.Context, b []*pending, budget *int) {
	s.mu.Lock()
	known, guessed := s.known, s.meta.MaxAge
	s.mu.Unlock()
	doc, u, err := s.update(ctx, b)
	if err == nil {
		s.applied(b, doc, u)
		s.correctExpiry(known, guessed, u)
		return
	}
	cmds := commandsOf(b)
	var ce *CommandError
	indexed := errors.As(err, &ce) && ce.Index >= 0 && ce.Index < len(cmds)
	if (!indexed && !errors.Is(err, ErrTypeMismatch)) || len(cmds) == 0 || (len(cmds) == 1 && len(b) == 1) {
		failAll(b, err)
		return
	}
	if *budget <= 0 {
		failAll(b, fmt.Errorf("not sent: more than %d commands of its batch did not apply (the last: %v): %w", maxIsolations, err, ErrTooLarge))
		return
	}
	*budget--
	switch {
	case indexed || len(cmds) == 1:
		bad := cmds[0]
		if indexed {
			bad = cmds[ce.Index]
		}
		bad.err = err
		if rest := without(b, bad); len(rest) > 0 {
			s.writeWithin(ctx, rest, budget)
		}
	default:
		first, second := halves(b, cmds)
		s.writeWithin(ctx, first, budget)
		s.writeWithin(ctx, second, budget)
	}
}

// update sends b to the store: Apply to the stored session, or Create for a
// new one. A stored session that has expired or been deleted meanwhile is
// never brought back: the batch goes to a new session with a new id.
func (s *Session) update(ctx context.Context, b []*pending) (Doc, Update, error) {
	s.mu.Lock()
	if s.state == stateDestroyed {
		if err := s.renew(); err != nil {
			s.mu.Unlock()
			return nil, Update{}, err
		}
	}
	u := s.updateFor(b)
	st, id := s.state, s.meta.ID
	s.mu.Unlock()
	if st == stateStored {
		cctx, cancel := s.withTimeout(ctx)
		doc, err := s.store.Apply(cctx, id, u)
		cancel()
		if !errors.Is(err, ErrNotFound) {
			return s.checked(doc, err, "update", id, u)
		}
		if err := s.lost(); err != nil {
			return nil, u, err
		}
		s.mu.Lock()
		u = s.updateFor(b)
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.meta.Expires = u.Expires // now + the lifetime updateFor chose
	meta := s.meta
	s.mu.Unlock()
	cctx, cancel := s.withTimeout(ctx)
	defer cancel()
	doc, err := s.store.Create(cctx, meta, u)
	return s.checked(doc, err, "create", meta.ID, u)
}

// checked wraps a store's answer with context.
func (s *Session) checked(doc Doc, err error, op, id string, u Update) (Doc, Update, error) {
	if err == nil && doc == nil {
		err = errors.New("store returned no document and no error")
	}
	if err != nil {
		return nil, u, fmt.Errorf("%s session %s: %w", op, id, err)
	}
	return doc, u, nil
}

// updateFor builds the Update of a batch. The caller holds s.mu.
func (s *Session) updateFor(b []*pending) Update {
	var u Update
	maxAge := s.meta.MaxAge
	for _, p := range b {
		switch p.kind {
		case kindCommand, kindTake:
			u.Commands = append(u.Commands, p.cmd)
		case kindTouch:
			if p.maxAge > 0 {
				u.MaxAge, maxAge = p.maxAge, p.maxAge
			}
			if p.label != "" {
				u.Label = p.label
			}
		case kindFetch:
			u.FetchAll = u.FetchAll || p.fetchAll
			u.Fetch = append(u.Fetch, p.fetch...)
		}
	}
	if u.FetchAll {
		u.Fetch = nil
	} else if len(u.Fetch) > 0 {
		u.Fetch, u.FetchAll = s.missing(u.Fetch)
	}
	u.Expires = time.Now().UTC().Truncate(time.Millisecond).Add(maxAge)
	return u
}

// applied records a store's answer to a batch: the session is stored, the
// touched and fetched keys go into the local view, and every entry gets the
// session as this request now knows it (one Doc, shared), except a Take,
// which gets the value it took.
func (s *Session) applied(b []*pending, doc Doc, u Update) {
	var taken Doc
	if len(b) == 1 && b[0].kind == kindTake {
		taken, doc = splitTake(b[0].cmd, doc)
	}
	known := TouchedKeys(u.Commands)
	known = append(known, u.Fetch...)
	s.mu.Lock()
	err := s.learn(doc, known, u.FetchAll)
	if err == nil && doc[FieldID] == s.meta.ID {
		s.state = stateStored
		s.dirty = true
		s.mustStore = false
	}
	snap := s.snapshot()
	s.mu.Unlock()
	if err != nil {
		failAll(b, fmt.Errorf("session store answer: %w", err))
		return
	}
	for _, p := range b {
		p.doc = snap
	}
	if taken != nil {
		b[0].doc = taken
	}
}

// correctExpiry re-touches a session whose write went out before its own
// maxAge was known (Attach, nothing loaded): the write rolled the expiry by
// Options.MaxAge, and the answer says the session has a lifetime of its own
// (SetMaxAge in an earlier request). The Touch goes out in the same Flush.
func (s *Session) correctExpiry(known bool, guessed time.Duration, u Update) {
	if known || u.MaxAge != 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateStored && s.meta.MaxAge != guessed {
		s.queue = append(s.queue, &pending{kind: kindTouch, forID: s.meta.ID, complete: ignoreResult})
	}
}

// splitTake splits a Take's answer, which holds its top-level key as it was
// before, into the value taken and the answer as it is after: without the
// key, or, for a dotted path, with the key less that path.
func splitTake(c Command, doc Doc) (taken, after Doc) {
	top := c.Top()
	before, ok := doc[top]
	if !ok {
		return Doc{}, doc
	}
	taken = Doc{top: before}
	after = withoutKey(doc, top)
	if c.Path != top {
		rest, err := ApplyCommands(Doc{top: before}, []Command{{Op: OpUnset, Path: c.Path}})
		if v, kept := rest[top]; err == nil && kept {
			after[top] = v
		}
	}
	return taken, after
}

// withoutKey returns doc without key k, copying the top-level map only if k
// is in it.
func withoutKey(doc Doc, k string) Doc {
	if _, ok := doc[k]; !ok {
		return doc
	}
	out := make(Doc, len(doc))
	for key, v := range doc {
		if key != k {
			out[key] = v
		}
	}
	return out
}

// commandsOf returns the entries of b that carry a command.
func commandsOf(b []*pending) []*pending {
	var out []*pending
	for _, p := range b {
		if p.kind == kindCommand || p.kind == kindTake {
			out = append(out, p)
		}
	}
	return out
}

// without returns b without p.
func without(b []*pending, p *pending) []*pending {
	out := make([]*pending, 0, len(b)-1)
	for _, q := range b {
		if q != p {
			out = append(out, q)
		}
	}
	return out
}

// halves splits b in two, each with half of its commands; the entries that
// carry no command go with the first half.
func halves(b []*pending, cmds []*pending) (first, second []*pending) {
	inSecond := map[*pending]bool{}
	for _, p := range cmds[len(cmds)/2:] {
		inSecond[p] = true
	}
	for _, p := range b {
		if inSecond[p] {
			second = append(second, p)
		} else {
			first = append(first, p)
		}
	}
	return first, second
}

// failAll fails every entry of b that has no result yet.
func failAll(b []*pending, err error) {
	for _, p := range b {
		if p.doc == nil && p.err == nil {
			p.err = err
		}
	}
}

// record wraps each failure of a round with what failed and keeps it for
// Flush, which reports those whose futures nobody has looked at by then.
// It runs under flushMu, so that a Flush that takes flushMu next sees them.
func (s *Session) record(q []*pending) {
	var failed []*pending
	for _, p := range q {
		if p.err != nil {
			p.err = fmt.Errorf("session %s: %w", describe(p), p.err)
			failed = append(failed, p)
		}
	}
	if len(failed) > 0 {
		s.mu.Lock()
		s.unheard = append(s.unheard, failed...)
		s.mu.Unlock()
	}
}

// settle resolves every entry of a round with its result: first all of
// them, then their continuations, so that a continuation may await a
// sibling.
func (s *Session) settle(q []*pending) {
	runs := make([]func(), 0, len(q))
	for _, p := range q {
		runs = append(runs, p.complete(p.doc, p.err))
	}
	for _, run := range runs {
		run()
	}
}

// describe names an entry for an error message.
func describe(p *pending) string {
	switch p.kind {
	case kindCommand, kindTake:
		return p.cmd.String()
	case kindDestroy:
		return "destroy"
	case kindRegenerate:
		if p.userID != "" {
			return "login"
		}
		return "regenerate"
	case kindFetch:
		return "fetch"
	}
	return "touch"
}

// joinErrors joins errs; when they are many, it keeps the first ten and
// counts the rest, so that a failed flush of a thousand commands logs one
// readable line.
func joinErrors(errs []error) error {
	const keep = 10
	if len(errs) > keep {
		rest := fmt.Errorf("and %d more failed commands", len(errs)-keep)
		errs = append(errs[:keep:keep], rest)
	}
	return errors.Join(errs...)
}
