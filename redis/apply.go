package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/session"
)

// Backoff between optimistic retries: full jitter over an exponentially
// growing window, from backoffBase up to backoffMax.
const (
	backoffBase = 20 * time.Microsecond
	backoffMax  = 10 * time.Millisecond
)

// maxNativeInc bounds the Inc amounts the script applies with HINCRBY: with
// the stored integer below 10^18 too (the script checks), the sum stays in
// the int64 range, so HINCRBY never fails half-way through a batch.
const maxNativeInc = 1_000_000_000_000_000_000

// Apply applies u to the live session id, atomically, and returns the
// result that session.Update describes: the reserved fields, the top-level
// keys u's commands touched (after the step; a Take's key before it) and
// the keys u fetches, never the rest of the session.
//
// A step whose commands are all Set, Unset, Take, integer Inc and Push
// (without Slice) of top-level keys, or that has none (Touch), is one
// script call that checks the session is live and runs HSET, HDEL and
// HINCRBY on it (Push appends the new elements' text to the stored
// array's; Take reads the field and deletes it). Any other step is applied
// in Go by session.ApplyCommands to the top-level keys it touches, and
// written by one script call that first checks, by SHA-1, that Redis still
// holds the values it was applied to; if another writer changed them, the
// script answers with the current values and Apply applies the step again
// to them, after a jittered backoff (see WithMaxRetries). The values it
// starts from are those this Store last saw (see WithCacheBytes), so that
// after a Load the step costs one round trip; if it saw none, it reads
// them first with HMGET. The script returns the fields of the result:
// one round trip in all.
//
// If no session id exists that is live, by Redis's clock (its TTL) and by
// the Store's (its $expires after now, as Load judges), then Apply changes
// nothing and returns an error wrapping session.ErrNotFound. If the step
// applies but u.Expires is not after Redis's time when the step runs (the
// clocks may differ, or the expiry be closer than the round trip), Redis
// removes the session and Apply returns an error wrapping
// session.ErrNotFound; so it does if u.Expires is not after the Store's
// now, though Redis then keeps the session, expired for Load, until its
// own clock reaches u.Expires. If a command does not
// apply then Apply returns a *session.CommandError (wrapping
// session.ErrTypeMismatch, for example) and changes nothing.
func (s *Store) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	if err := s.check(id); err == errEmptyID {
		return nil, fmt.Errorf("redis store: apply to session: %w: %w", err, session.ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("redis store: apply to session: %w", err)
	}
	ops, native, err := nativeOps(u.Commands)
	if err != nil {
		return nil, fmt.Errorf("redis store: apply to session %s: %w", id, err)
	}
	st := s.newStep(id, u)
	touched := st.touched
	if native {
		r, err := s.runApply(ctx, &st, "", nil, ops)
		if err != nil {
			return nil, err
		}
		switch r.status {
		case scriptApplied:
			before, err := takesBefore(&st, r)
			if err != nil {
				return nil, err
			}
			return s.finish(ctx, &st, before, r)
		case scriptFallback:
			s.fallbacks.Add(1)
			return s.applyInGo(ctx, &st, r.vals[:nReserved+len(touched)], false)
		}
		return nil, r.unexpected(id)
	}
	read := st.names[:nReserved+len(touched)]
	vals := make([]any, len(read))
	created, cached, fromCache := s.cache.get(id, touched)
	if fromCache {
		vals[posCreated] = created
		copy(vals[nReserved:], cached)
	} else {
		s.reads.Add(1)
		if vals, err = s.client.HMGet(ctx, s.Key(id), read...).Result(); err != nil {
			return nil, redisErr(ctx, "apply to session "+id+": read", err)
		}
		if vals[posExpires] == nil {
			return nil, fmt.Errorf("redis store: apply to session %s: %w", id, session.ErrNotFound)
		}
	}
	return s.applyInGo(ctx, &st, vals, fromCache)
}

// step is one Apply in progress.
type step struct {
	id      string
	u       session.Update
	exp     int64    // the new expires, Unix ms
	touched []string // the top-level keys the commands touch
	// names are the reserved fields, touched, then the other keys
	// fetched: first those that applyScript returns, then those read
	// after it, by HMGET in the same transaction (see newStep).
	names   []string
	nScript int  // how many of names applyScript returns
	allTx   bool // FetchAll: HGETALL after applyScript, in its transaction
}

// largeValue is the size above which a fetched value is read by HMGET
// after applyScript, in one MULTI/EXEC transaction with it, rather than by
// the script. Every value a script reads becomes a Lua string, which costs
// Redis about 1.3 µs per KB (a 64 KB value about 80 µs, four times the rest
// of a step), while HMGET sends a value from the hash as it is; the
// transaction costs two commands more (MULTI, EXEC). See BenchmarkFetch.
const largeValue = 4 << 10

// newStep returns the step of u on session id. A fetched key that the cache knows to hold more
// than largeValue bytes goes after the script (see largeValue); so does
// FetchAll when the values the cache knows of the session add up to more.
// A value the cache does not know is read by the script: most are small,
// and the cache then knows it.
func (s *Store) newStep(id string, u session.Update) step {
	st := step{id: id, u: u, exp: u.Expires.UnixMilli()}
	touched := session.TouchedKeys(u.Commands)
	st.names = readList(touched, u.Fetch)
	st.touched = st.names[nReserved : nReserved+len(touched) : nReserved+len(touched)]
	st.nScript = len(st.names)
	fetched := st.names[nReserved+len(touched):]
	big, total := s.cache.large(id, fetched, largeValue)
	if big != nil {
		small := fetched[:0:0]
		var large []string
		for i, f := range fetched {
			if big[i] {
				large = append(large, f)
			} else {
				small = append(small, f)
			}
		}
		copy(fetched, small)
		copy(fetched[len(small):], large)
		st.nScript -= len(large)
	}
	st.allTx = u.FetchAll && total > largeValue
	return st
}

// tx reports whether the step reads after its script, in a transaction.
func (st *step) tx() bool { return st.allTx || st.nScript < len(st.names) }

// nativeOps returns cmds as applyScript operations, or native false if a
// command needs Go semantics: a dotted path, an operator other than Set,
// Unset, Take, Inc and Push, an Inc by a float or by 10^18 or more, or a
// Push with Slice. An invalid command is a *session.CommandError.
func nativeOps(cmds []session.Command) (ops []any, native bool, err error) {
	ops = make([]any, 0, 3*len(cmds))
	native = true
	var seen map[string]bool // beyond a few commands, so that time stays linear
	if len(cmds) > 16 {
		seen = make(map[string]bool, len(cmds))
	}
	for i, c := range cmds {
		if err := session.ValidateKey(c.Path); err != nil {
			return nil, false, &session.CommandError{Index: i, Err: fmt.Errorf("%v: %w", c, err)}
		}
		if !native {
			continue
		}
		repeated := false
		if seen != nil {
			repeated = seen[c.Path]
			seen[c.Path] = true
		} else {
			repeated = repeats(cmds[:i], c.Path)
		}
		if strings.IndexByte(c.Path, '.') >= 0 || repeated {
			// applyScript takes one operation per field (Updates never
			// hold two on one key; Go applies them if one does).
			native = false
			continue
		}
		switch c.Op {
		case session.OpSet:
			enc, err := encodeValue(c.Value)
			if err != nil {
				return nil, false, &session.CommandError{Index: i, Err: fmt.Errorf("%v: %w", c, err)}
			}
			ops = append(ops, "s", c.Path, enc)
		case session.OpUnset:
			ops = append(ops, "u", c.Path, "")
		case session.OpTake:
			ops = append(ops, "t", c.Path, "")
		case session.OpInc:
			by, ok := c.Value.(int64)
			if !ok || by <= -maxNativeInc || by >= maxNativeInc {
				native = false
				continue
			}
			ops = append(ops, "i", c.Path, strconv.FormatInt(by, 10))
		case session.OpPush:
			if c.Slice != 0 {
				native = false
				continue
			}
			enc, err := appendElements(nil, c.Values, 1)
			if err != nil {
				return nil, false, &session.CommandError{Index: i, Err: fmt.Errorf("%v: %w", c, err)}
			}
			ops = append(ops, "p", c.Path, enc)
		default:
			native = false
		}
	}
	if !native {
		ops = nil
	}
	return ops, native, nil
}

// repeats reports whether a command of cmds has path p.
func repeats(cmds []session.Command, p string) bool {
	for _, c := range cmds {
		if c.Path == p {
			return true
		}
	}
	return false
}

// applyInGo is the general path: apply the commands in Go to the touched
// top-level keys, whose values are vals (the reserved fields, then the
// touched keys, as HMGET returns them; of the reserved fields only created
// is needed), and write back what changed if Redis still holds vals; else
// apply again to the values the failed write found. fromCache says vals
// came from the cache, not from Redis: a first attempt that fails then
// retries at once, as no other writer is known to be busy.
func (s *Store) applyInGo(ctx context.Context, st *step, vals []any, fromCache bool) (session.Doc, error) {
	id := st.id
	for attempt := 0; ; attempt++ {
		before, checks, ops, err := st.prepare(vals)
		if err != nil && fromCache {
			// The cached values may be old: a command fails only on values
			// read from Redis during this call.
			fromCache = false
			s.reads.Add(1)
			if vals, err = s.client.HMGet(ctx, s.Key(id), st.names[:len(vals)]...).Result(); err != nil {
				return nil, redisErr(ctx, "apply to session "+id+": read", err)
			}
			if vals[posExpires] == nil {
				return nil, fmt.Errorf("redis store: apply to session %s: %w", id, session.ErrNotFound)
			}
			before, checks, ops, err = st.prepare(vals)
		}
		if err != nil {
			return nil, fmt.Errorf("redis store: apply to session %s: %w", id, err)
		}
		created, _ := vals[posCreated].(string)
		if s.beforeWrite != nil {
			s.beforeWrite()
		}
		r, err := s.runApply(ctx, st, created, checks, ops)
		if err != nil {
			return nil, err
		}
		switch r.status {
		case scriptApplied:
			return s.finish(ctx, st, before, r)
		case scriptConflict:
		default:
			return nil, r.unexpected(id)
		}
		if attempt >= s.maxRetries {
			return nil, fmt.Errorf("redis store: apply to session %s: still contended after %d retries: %w", id, attempt, session.ErrUnavailable)
		}
		s.retries.Add(1)
		if !(fromCache && attempt == 0) {
			if err := sleep(ctx, attempt); err != nil {
				return nil, fmt.Errorf("redis store: apply to session %s: %w", id, err)
			}
		}
		// Redis's values now: a command that fails on them fails.
		vals, fromCache = r.vals[:nReserved+len(st.touched)], false
		if created, _ := vals[posCreated].(string); created != "" {
			s.cache.put(id, created, st.touched, vals[nReserved:], false)
		}
	}
}

// prepare applies the step's commands in Go to the touched keys' values
// vals (the reserved fields, then the touched keys, as HMGET returns them)
// and returns the values before, and the checks and operations for
// applyScript that write the values after.
func (st *step) prepare(vals []any) (before session.Doc, checks, ops []any, err error) {
	if before, err = decodeValues(st.id, st.names[:len(vals)], vals, false); err != nil {
		return nil, nil, nil, err
	}
	after, err := session.ApplyCommands(before, st.u.Commands)
	if err != nil {
		return nil, nil, nil, err
	}
	if checks, ops, err = changes(st.touched, vals[nReserved:], after); err != nil {
		return nil, nil, nil, err
	}
	return before, checks, ops, nil
}

// applyResult is the reply of applyScript.
type applyResult struct {
	status int
	vals   []any             // the reserved fields, then the fields of step.names
	takes  []any             // the values before of the Take commands
	all    []any             // the whole hash, for FetchAll, from the script
	hash   map[string]string // the whole hash, for FetchAll, from HGETALL after it
}

// runApply runs applyScript for st, with the checks (pairs of field and
// SHA-1) and operations given, and the reads that follow it in a
// transaction (see newStep). Its errors are complete ("redis store: ...").
// A status of scriptNotFound is returned as an error wrapping
// session.ErrNotFound.
func (s *Store) runApply(ctx context.Context, st *step, created string, checks, ops []any) (applyResult, error) {
	keys := []string{s.Key(st.id)}
	args := s.applyArgs(st, created, checks, ops)
	if !st.tx() {
		reply, err := applyScript.Run(ctx, s.client, keys, args...).Slice()
		return s.applyReply(ctx, st, reply, err)
	}
	script, after := s.applyTx(ctx, st, keys, func(p goredis.Pipeliner) *goredis.Cmd {
		return applyScript.EvalSha(ctx, p, keys, args...)
	})
	if noScript(script.Err()) {
		// Redis lost its script cache (the reads ran for nothing): again,
		// with the script's text.
		script, after = s.applyTx(ctx, st, keys, func(p goredis.Pipeliner) *goredis.Cmd {
			return applyScript.Eval(ctx, p, keys, args...)
		})
	}
	reply, err := script.Slice()
	r, err := s.applyReply(ctx, st, reply, err)
	if err != nil || r.status != scriptApplied {
		return r, err
	}
	return r, after(&r)
}

// applyTx sends, in one MULTI/EXEC, the script call that run adds and the
// reads of st that follow it. It returns the script's command and a
// function that adds the reads' results to the script's parsed reply
// (with a complete error if a read failed).
func (s *Store) applyTx(ctx context.Context, st *step, keys []string, run func(goredis.Pipeliner) *goredis.Cmd) (*goredis.Cmd, func(*applyResult) error) {
	var script *goredis.Cmd
	var vals *goredis.SliceCmd
	var hash *goredis.MapStringStringCmd
	_, _ = s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		script = run(p)
		if st.nScript < len(st.names) {
			// $expires first, to tell whether the session is still there.
			vals = p.HMGet(ctx, keys[0], append([]string{hashExpires}, st.names[st.nScript:]...)...)
		}
		if st.allTx {
			hash = p.HGetAll(ctx, keys[0])
		}
		return nil
	})
	return script, func(r *applyResult) error {
		if vals != nil {
			v, err := vals.Result()
			if err != nil {
				return redisErr(ctx, "apply to session "+st.id+": read", err)
			}
			if v[0] == nil {
				return s.goneAfter(st.id)
			}
			r.vals = append(r.vals, v[1:]...)
		}
		if hash != nil {
			h, err := hash.Result()
			if err != nil {
				return redisErr(ctx, "apply to session "+st.id+": read", err)
			}
			if _, ok := h[hashExpires]; !ok {
				return s.goneAfter(st.id)
			}
			r.hash = h
		}
		return nil
	}
}

// goneAfter drops session id from the cache and returns the error of a
// transaction whose reads after the script found no session: it expired by
// Redis's clock in between (the script reports a session that its own
// PEXPIREAT removed), as in finish.
func (s *Store) goneAfter(id string) error {
	s.cache.drop(id)
	return fmt.Errorf("redis store: apply to session %s: expired at once: %w", id, session.ErrNotFound)
}

// applyArgs returns the arguments of applyScript for st (see runApply).
func (s *Store) applyArgs(st *step, created string, checks, ops []any) []any {
	u := st.u
	ret := st.names[nReserved:st.nScript]
	maxAge, fetchAll := "", ""
	if u.MaxAge > 0 {
		maxAge = formatMillis(u.MaxAge.Milliseconds())
	}
	if u.FetchAll && !st.allTx {
		fetchAll = "1"
	}
	args := make([]any, 0, 8+len(checks)+len(ret)+len(ops))
	args = append(args, s.now().UnixMilli(), st.exp, created, maxAge, u.Label, fetchAll, len(checks)/2, len(ret))
	args = append(args, checks...)
	for _, f := range ret {
		args = append(args, f)
	}
	return append(args, ops...)
}

// applyReply parses applyScript's reply (or error) for st (see runApply).
func (s *Store) applyReply(ctx context.Context, st *step, reply []any, err error) (applyResult, error) {
	id := st.id
	if err != nil {
		return applyResult{}, redisErr(ctx, "apply to session "+id, err)
	}
	var r applyResult
	status, ok := reply[0].(int64)
	if !ok {
		return r, fmt.Errorf("redis store: apply to session %s: script result %T", id, reply[0])
	}
	r.status = int(status)
	if r.status == scriptNotFound {
		s.cache.drop(id)
		return r, fmt.Errorf("redis store: apply to session %s: %w", id, session.ErrNotFound)
	}
	parts := make([][]any, 3)
	for i := range parts {
		if len(reply) > i+1 {
			if parts[i], ok = reply[i+1].([]any); !ok {
				return r, fmt.Errorf("redis store: apply to session %s: script result part %d is %T", id, i+1, reply[i+1])
			}
		}
	}
	r.vals, r.takes, r.all = parts[0], parts[1], parts[2]
	if len(r.vals) != st.nScript {
		return r, fmt.Errorf("redis store: apply to session %s: script returned %d values for %d fields", id, len(r.vals), st.nScript)
	}
	return r, nil
}

func (r applyResult) unexpected(id string) error {
	return fmt.Errorf("redis store: apply to session %s: unexpected script result %d", id, r.status)
}

// finish turns an applied script's reply into Apply's result; before
// holds the touched keys' values before the step (only Take's are used).
func (s *Store) finish(ctx context.Context, st *step, before session.Doc, r applyResult) (session.Doc, error) {
	id := st.id
	if r.vals[posExpires] == nil {
		s.cache.drop(id)
		return nil, fmt.Errorf("redis store: apply to session %s: expired at once: %w", id, session.ErrNotFound)
	}
	var after session.Doc
	var err error
	switch {
	case r.hash != nil:
		after, err = decodeHash(id, r.hash)
	case st.u.FetchAll:
		after, err = decodeFields(id, r.all)
	default:
		after, err = decodeValues(id, st.names, r.vals, true)
	}
	if err != nil {
		return nil, fmt.Errorf("redis store: apply to session %s: %w", id, err)
	}
	created, _ := r.vals[posCreated].(string)
	s.cache.put(id, created, st.names[nReserved:], r.vals[nReserved:], false)
	if user, _ := r.vals[posUser].(string); user != "" && st.exp > millis(r.vals[posIndexed]) {
		maxAge := time.Duration(millis(r.vals[posMaxAge])) * time.Millisecond
		s.reindex(ctx, user, id, indexBound(st.exp, maxAge))
	}
	if !hasTake(st.u.Commands) {
		// after holds the reserved fields, the touched keys and the
		// fetched ones (or all, for FetchAll): the result already.
		return after, nil
	}
	return st.u.Result(before, after), nil
}

// hasTake reports whether cmds hold a Take, whose result is its key's
// value before the step.
func hasTake(cmds []session.Command) bool {
	for _, c := range cmds {
		if c.Op == session.OpTake {
			return true
		}
	}
	return false
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// changes compares the touched keys before (olds, as read; nil if absent)
// and after the batch. It returns the checks (each key with the SHA-1 of its
// value as read) and the script operations that write what changed.
func changes(fields []string, olds []any, after session.Doc) (checks, ops []any, err error) {
	checks = make([]any, 0, 2*len(fields))
	for i, f := range fields {
		old, had := olds[i].(string)
		digest := ""
		if had {
			sum := sha1.Sum([]byte(old))
			digest = hex.EncodeToString(sum[:])
		}
		checks = append(checks, f, digest)
		v, has := after[f]
		switch {
		case has:
			enc, err := encodeValue(v)
			if err != nil {
				return nil, nil, fmt.Errorf("key %q: %w", f, err)
			}
			if !had || string(enc) != old {
				ops = append(ops, "s", f, enc)
			}
		case had:
			ops = append(ops, "u", f, "")
		}
	}
	return checks, ops, nil
}

// sleep waits a random time in the backoff window of attempt, or until ctx
// ends.
func sleep(ctx context.Context, attempt int) error {
	window := backoffMax
	if attempt < 16 {
		window = min(backoffBase<<attempt, backoffMax)
	}
	t := time.NewTimer(rand.N(window) + 1)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
