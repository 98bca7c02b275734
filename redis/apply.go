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

// Apply applies cmds, in order, to the live session id and moves its
// expires field and the key's expiry (PEXPIREAT) to expires, atomically, and
// returns the document after.
//
// A batch of Set, Unset, integer Inc and Push on top-level keys, and an
// empty batch (Touch), is one script call that checks the session is live
// and runs HSET, HDEL and HINCRBY on it (Push appends the new elements' text
// to the stored array's). Any other batch is applied in Go by
// session.ApplyCommands to the top-level keys it touches, read with HMGET,
// and written by one script call that first checks, by SHA-1, that no other
// writer changed those keys meanwhile; if one did, Apply applies the batch
// again to the values found, after a jittered backoff (see WithMaxRetries).
// Each script call goes in MULTI with an HGETALL of the session: one round
// trip.
//
// If no live session id exists, or expires is not after now, then Apply
// returns an error wrapping session.ErrNotFound; in the first case it
// changes nothing, in the second the session is gone. If a command does not
// apply then Apply returns the error of session.ApplyCommands (such as
// session.ErrTypeMismatch) and changes nothing.
func (s *Store) Apply(ctx context.Context, id string, expires time.Time, cmds []session.Command) (session.Doc, error) {
	if err := s.check(id); err == errEmptyID {
		return nil, fmt.Errorf("redis store: apply to session: %w: %w", err, session.ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("redis store: apply to session: %w", err)
	}
	exp := expires.UnixMilli()
	ops, native, err := nativeOps(cmds)
	if err != nil {
		return nil, fmt.Errorf("redis store: apply to session %s: %w", id, err)
	}
	fields := topFields(cmds)
	read := append(append(make([]string, 0, len(reservedFields)+len(fields)), reservedFields...), fields...)
	var vals []any
	if native {
		r, err := s.runApply(ctx, id, s.now().UnixMilli(), exp, "", nil, ops)
		if err != nil || r.status != scriptFallback {
			return r.result(id, err)
		}
		s.fallbacks.Add(1)
		vals = r.current(read)
	} else if vals, err = s.client.HMGet(ctx, s.Key(id), read...).Result(); err != nil {
		return nil, redisErr(ctx, "apply to session "+id+": read", err)
	}
	return s.applyInGo(ctx, id, exp, cmds, fields, read, vals)
}

// nativeOps returns cmds as applyScript operations, or native false if a
// command needs Go semantics: a dotted path, an operator other than Set,
// Unset, Inc and Push, or an Inc by a float or by 10^18 or more.
func nativeOps(cmds []session.Command) (ops []any, native bool, err error) {
	ops = make([]any, 0, 3*len(cmds))
	for _, c := range cmds {
		if err := session.ValidateKey(c.Path); err != nil {
			return nil, false, fmt.Errorf("%v: %w", c, err)
		}
		if strings.IndexByte(c.Path, '.') >= 0 {
			return nil, false, nil
		}
		switch c.Op {
		case session.OpSet:
			enc, err := encodeValue(c.Value)
			if err != nil {
				return nil, false, fmt.Errorf("%v: %w", c, err)
			}
			ops = append(ops, "s", c.Path, string(enc))
		case session.OpUnset:
			ops = append(ops, "u", c.Path, "")
		case session.OpInc:
			by, ok := c.Value.(int64)
			if !ok || by <= -maxNativeInc || by >= maxNativeInc {
				return nil, false, nil
			}
			ops = append(ops, "i", c.Path, strconv.FormatInt(by, 10))
		case session.OpPush:
			enc, err := appendElements(nil, c.Values, 1)
			if err != nil {
				return nil, false, fmt.Errorf("%v: %w", c, err)
			}
			ops = append(ops, "p", c.Path, string(enc))
		default:
			return nil, false, nil
		}
	}
	return ops, true, nil
}

// applyInGo is the general path: apply cmds in Go to the touched
// top-level keys fields, read as vals (the fields read, reserved ones
// first, as HMGET returns them), and write back what changed if nothing
// changed meanwhile; else apply again to the values the failed write found.
func (s *Store) applyInGo(ctx context.Context, id string, exp int64, cmds []session.Command, fields, read []string, vals []any) (session.Doc, error) {
	for attempt := 0; ; attempt++ {
		now := s.now()
		partial, err := partialDoc(id, read, vals, now)
		if err != nil {
			return nil, fmt.Errorf("redis store: apply to session: %w", err)
		}
		after, err := session.ApplyCommands(partial, cmds)
		if err != nil {
			return nil, fmt.Errorf("redis store: apply to session %s: %w", id, err)
		}
		checks, ops, err := changes(fields, vals[len(reservedFields):], after)
		if err != nil {
			return nil, fmt.Errorf("redis store: apply to session %s: %w", id, err)
		}
		created := vals[2].(string) // partialDoc checked the reserved fields
		if s.beforeWrite != nil {
			s.beforeWrite()
		}
		r, err := s.runApply(ctx, id, now.UnixMilli(), exp, created, checks, ops)
		if err != nil || r.status != scriptConflict {
			return r.result(id, err)
		}
		if attempt >= s.maxRetries {
			return nil, fmt.Errorf("redis store: apply to session %s: still contended after %d retries: %w", id, attempt, session.ErrUnavailable)
		}
		s.retries.Add(1)
		if err := sleep(ctx, attempt); err != nil {
			return nil, fmt.Errorf("redis store: apply to session %s: %w", id, err)
		}
		vals = r.current(read)
	}
}

// applyResult is the outcome of applyScript and the HGETALL after it.
type applyResult struct {
	status int               // the script's
	hash   map[string]string // the session just after the script
}

// runApply runs applyScript and HGETALL in one MULTI/EXEC. If Redis does
// not have the script cached, it sends the script itself (EVAL), once. Its
// errors are complete ("redis store: ...").
func (s *Store) runApply(ctx context.Context, id string, now, exp int64, created string, checks, ops []any) (applyResult, error) {
	args := make([]any, 0, 4+len(checks)+len(ops))
	args = append(args, now, exp, created, len(checks)/2)
	args = append(append(args, checks...), ops...)
	keys := []string{s.Key(id)}
	var script *goredis.Cmd
	var all *goredis.MapStringStringCmd
	run := func(eval bool) error {
		_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			if eval {
				script = applyScript.Eval(ctx, p, keys, args...)
			} else {
				script = applyScript.EvalSha(ctx, p, keys, args...)
			}
			all = p.HGetAll(ctx, keys[0])
			return nil
		})
		return err
	}
	err := run(false)
	if goredis.HasErrorPrefix(err, "NOSCRIPT") {
		err = run(true)
	}
	if err != nil {
		return applyResult{}, redisErr(ctx, "apply to session "+id, err)
	}
	status, err := script.Int()
	if err != nil {
		return applyResult{}, fmt.Errorf("redis store: apply to session %s: script result: %w", id, err)
	}
	return applyResult{status: status, hash: all.Val()}, nil
}

// result turns a final applyResult into Apply's result.
func (r applyResult) result(id string, err error) (session.Doc, error) {
	switch {
	case err != nil:
		return nil, err
	case r.status == scriptNotFound:
		return nil, fmt.Errorf("redis store: apply to session %s: %w", id, session.ErrNotFound)
	case r.status != scriptApplied:
		return nil, fmt.Errorf("redis store: apply to session %s: unexpected script result %d", id, r.status)
	case len(r.hash) == 0:
		return nil, fmt.Errorf("redis store: apply to session %s: expired at once: %w", id, session.ErrNotFound)
	}
	doc, err := decodeHash(id, r.hash)
	if err != nil {
		return nil, fmt.Errorf("redis store: apply to session %s: %w", id, err)
	}
	return doc, nil
}

// current returns the fields read of the session as the script found it,
// as HMGET returns them (nil for absent fields).
func (r applyResult) current(read []string) []any {
	vals := make([]any, len(read))
	for i, f := range read {
		if v, ok := r.hash[f]; ok {
			vals[i] = v
		}
	}
	return vals
}

// topFields returns the distinct top-level keys of the paths of cmds.
func topFields(cmds []session.Command) []string {
	var out []string
	for _, c := range cmds {
		for _, p := range c.Paths() {
			if i := strings.IndexByte(p, '.'); i >= 0 {
				p = p[:i]
			}
			if !contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// partialDoc decodes the reserved fields and touched keys read by HMGET. It
// returns an error wrapping session.ErrNotFound if the session does not
// exist or has expired at now.
func partialDoc(id string, names []string, vals []any, now time.Time) (session.Doc, error) {
	if vals[0] == nil {
		return nil, fmt.Errorf("session %s: %w", id, session.ErrNotFound)
	}
	d := newDecoder(len(vals))
	for i, v := range vals {
		if v == nil {
			continue
		}
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("decode session %s: field %q is %T", id, names[i], v)
		}
		if err := d.field(names[i], str); err != nil {
			return nil, fmt.Errorf("decode session %s: %w", id, err)
		}
	}
	doc, err := d.done(id)
	if err != nil {
		return nil, err
	}
	if !doc[session.FieldExpires].(time.Time).After(now) {
		return nil, fmt.Errorf("session %s: expired: %w", id, session.ErrNotFound)
	}
	return doc, nil
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
				ops = append(ops, "s", f, string(enc))
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
