package redis

import (
	"context"
	"fmt"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/session"
)

var _ session.MultiApplier = (*Store)(nil)

// ApplyMulti applies each op as Apply would, and sends the script calls of
// all of them in one pipeline: one round trip for every op whose step is
// one script call in Apply (a native step, or a Go step whose values the
// Store's cache holds). Each op is its own atomic step with its own result
// and error. An op whose script reply needs more (a fallback to Go, a
// conflicting write) goes on as in Apply, after the pipeline; an op on the
// Go path whose values the cache does not hold, or whose step is a
// transaction, goes through Apply, concurrently with the pipeline. Ops on a
// session that appears more than once in ops go through Apply, one after
// another in their order (concurrent requests rarely share a session),
// concurrently with the pipeline too. In a Cluster, go-redis splits the
// pipeline by node.
func (s *Store) ApplyMulti(ctx context.Context, ops []session.ApplyOp) []session.ApplyResult {
	res := make([]session.ApplyResult, len(ops))
	if len(ops) == 1 { // alone: exactly Apply
		res[0].Doc, res[0].Err = s.Apply(ctx, ops[0].ID, ops[0].Update)
		return res
	}
	type call struct {
		i      int
		st     step
		native bool
		before session.Doc // Go path: the values the step was applied to
		args   []any
		cmd    *goredis.Cmd
	}
	calls := make([]*call, 0, len(ops))
	var solo []int // ops that go through Apply
	// A session with several ops: they go through Apply one after another,
	// in order, since a later one could be sent in the pipeline while an
	// earlier one still needs more round trips.
	seen := make(map[string]int, len(ops))
	for _, op := range ops {
		seen[op.ID]++
	}
	repeated := map[string][]int{}
	for i, op := range ops {
		id, u := op.ID, op.Update
		if seen[id] > 1 {
			repeated[id] = append(repeated[id], i)
			continue
		}
		if err := s.check(id); err != nil {
			solo = append(solo, i) // Apply gives the error
			continue
		}
		nops, native, err := nativeOps(u.Commands)
		if err != nil {
			res[i].Err = fmt.Errorf("redis store: apply to session %s: %w", id, err)
			continue
		}
		c := &call{i: i, st: s.newStep(id, u), native: native}
		touched := c.st.touched
		if c.st.tx() {
			// A transaction cannot go in this pipeline (MULTI has no key
			// for a Cluster to route): Apply sends it, concurrently.
			solo = append(solo, i)
			continue
		}
		if native {
			c.args = s.applyArgs(&c.st, "", nil, nops)
			calls = append(calls, c)
			continue
		}
		created, cached, ok := s.cache.get(id, touched)
		if !ok {
			solo = append(solo, i)
			continue
		}
		vals := make([]any, nReserved+len(touched))
		vals[posCreated] = created
		copy(vals[nReserved:], cached)
		before, checks, gops, err := c.st.prepare(vals)
		if err != nil { // maybe old cached values: Apply reads them again
			solo = append(solo, i)
			continue
		}
		c.before = before
		c.args = s.applyArgs(&c.st, created, checks, gops)
		calls = append(calls, c)
	}
	// The ops that go through Apply start now, so that their round trips
	// overlap the pipeline's.
	var wg sync.WaitGroup
	for _, i := range solo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i].Doc, res[i].Err = s.Apply(ctx, ops[i].ID, ops[i].Update)
		}()
	}
	for _, idx := range repeated {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, i := range idx {
				res[i].Doc, res[i].Err = s.Apply(ctx, ops[i].ID, ops[i].Update)
			}
		}()
	}
	if len(calls) > 0 {
		_, _ = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, c := range calls {
				c.cmd = applyScript.EvalSha(ctx, p, []string{s.Key(c.st.id)}, c.args...)
			}
			return nil
		})
	}
	for _, c := range calls {
		if noScript(c.cmd.Err()) {
			// Redis lost its script cache: Run loads it again.
			c.cmd = applyScript.Run(ctx, s.client, []string{s.Key(c.st.id)}, c.args...)
		}
		reply, err := c.cmd.Slice()
		r, err := s.applyReply(ctx, &c.st, reply, err)
		if err != nil {
			res[c.i].Err = err
			continue
		}
		switch {
		case r.status == scriptApplied && c.native:
			before, err := takesBefore(&c.st, r)
			if err != nil {
				res[c.i].Err = err
				continue
			}
			res[c.i].Doc, res[c.i].Err = s.finish(ctx, &c.st, before, r)
		case r.status == scriptApplied:
			res[c.i].Doc, res[c.i].Err = s.finish(ctx, &c.st, c.before, r)
		case r.status == scriptFallback && c.native, r.status == scriptConflict && !c.native:
			// Go on in Go from the values the script found, as Apply does,
			// concurrently with the other ops that need more round trips.
			if r.status == scriptFallback {
				s.fallbacks.Add(1)
			} else {
				s.retries.Add(1)
			}
			vals := r.vals[:nReserved+len(c.st.touched)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[c.i].Doc, res[c.i].Err = s.applyInGo(ctx, &c.st, vals, false)
			}()
		default:
			res[c.i].Err = r.unexpected(c.st.id)
		}
	}
	wg.Wait()
	return res
}

// takesBefore returns the values before the step of the keys of st's Take
// commands, from the applied script's reply r.
func takesBefore(st *step, r applyResult) (session.Doc, error) {
	if len(r.takes) == 0 {
		return nil, nil
	}
	before := session.Doc{}
	t := 0
	for _, c := range st.u.Commands {
		if c.Op == session.OpTake && t < len(r.takes) {
			if raw, ok := r.takes[t].(string); ok {
				v, err := decodeValue(raw)
				if err != nil {
					return nil, fmt.Errorf("redis store: apply to session %s: key %q: %w", st.id, c.Path, err)
				}
				before[c.Path] = v
			}
			t++
		}
	}
	return before, nil
}
