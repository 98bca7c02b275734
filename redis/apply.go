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
// writer changed those keys meanwhile; if one did, the script answers with
// the values it found and Apply applies the batch again to them after a
// jittered backoff (see WithMaxRetries).
//
// If no live session id exists then Apply returns an error wrapping
// session.ErrNotFound and changes nothing. If a command does not apply then
// Apply returns the error of session.ApplyCommands (such as
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
	if native {
		r, err := s.runApply(ctx, id, s.now().UnixMilli(), exp, "", nil, ops)
		if err != nil || r.status != scriptFallback {
			return r.doc, s.applyStatus(id, r.status, err)
		}
		s.fallbacks.Add(1)
	}
	return s.applyInGo(ctx, id, exp, cmds)
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

// applyInGo is the general path: read the touched top-level keys, apply
// cmds to them in Go, and write back what changed if nothing changed
// meanwhile; else apply again to the values the failed write found.
func (s *Store) applyInGo(ctx context.Context, id string, exp int64, cmds []session.Command) (session.Doc, error) {
	fields := topFields(cmds)
	read := append(append(make([]string, 0, len(reservedFields)+len(fields)), reservedFields...), fields...)
	vals, err := s.client.HMGet(ctx, s.Key(id), read...).Result()
	if err != nil {
		return nil, redisErr(ctx, "apply to session "+id+": read", err)
	}
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
			return r.doc, s.applyStatus(id, r.status, err)
		}
		if attempt >= s.maxRetries {
			return nil, fmt.Errorf("redis store: apply to session %s: still contended after %d retries: %w", id, attempt, session.ErrUnavailable)
		}
		s.retries.Add(1)
		if err := sleep(ctx, attempt); err != nil {
			return nil, fmt.Errorf("redis store: apply to session %s: %w", id, err)
		}
		vals = r.current
	}
}

// applyResult is the outcome of applyScript.
type applyResult struct {
	status  int         // -1 for success, else a script code
	doc     session.Doc // on success, the document after
	current []any       // on scriptConflict, the values found, as HMGET returns them
}

// runApply runs applyScript. Its errors are complete ("redis store: ...").
func (s *Store) runApply(ctx context.Context, id string, now, exp int64, created string, checks, ops []any) (applyResult, error) {
	args := make([]any, 0, 4+len(checks)+len(ops))
	args = append(args, now, exp, created, len(checks)/2)
	args = append(append(args, checks...), ops...)
	res, err := applyScript.Run(ctx, s.client, []string{s.Key(id)}, args...).Result()
	if err != nil {
		return applyResult{status: -1}, redisErr(ctx, "apply to session "+id, err)
	}
	switch r := res.(type) {
	case int64:
		return applyResult{status: int(r)}, nil
	case []any:
		if len(r) > 0 && r[0] == int64(scriptConflict) {
			return applyResult{status: scriptConflict, current: r[1:]}, nil
		}
		doc, err := decodeFields(id, r)
		if err != nil {
			return applyResult{status: -1}, fmt.Errorf("redis store: apply to session %s: %w", id, err)
		}
		return applyResult{status: -1, doc: doc}, nil
	}
	return applyResult{status: -1}, fmt.Errorf("redis store: apply to session %s: script returned %T", id, res)
}

// applyStatus turns a final status of runApply into Apply's error.
func (s *Store) applyStatus(id string, status int, err error) error {
	switch {
	case err != nil:
		return err
	case status == scriptNotFound:
		return fmt.Errorf("redis store: apply to session %s: %w", id, session.ErrNotFound)
	}
	return nil
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
