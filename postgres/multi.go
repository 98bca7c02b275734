package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/atomicsession/atomicsession/session"
)

var _ session.MultiApplier = (*Store)(nil)

// multiConns is the most connections one ApplyMulti call spreads its ops
// over: the apply function's work is the server's, so one pipeline on one
// backend would run a whole group's steps one after another on one core.
const multiConns = 4

// idSeed spreads ApplyMulti's sessions over its connections.
var idSeed = maphash.MakeSeed()

// ApplyMulti applies each op as Apply would, with one round trip per
// connection used (two when a fast op missed, below): the ops are spread by session over up to 4 connections
// of the pool (at most its MaxConns), so that the server runs them on
// several backends, and the
// calls of the apply function for each connection go out as one pipeline,
// with a Sync after each call, so that each op is its own transaction: its
// own lock on its session's row, held only for its own statement, its own
// result, and its own error (session.ErrNotFound, a *session.CommandError,
// ...), which neither undoes nor aborts the other ops. (A pgx.Batch would
// run them all in one implicit transaction, where one op's error rolls
// back every other.) Ops on the same session go to the same connection
// and apply in order. A single op is exactly Apply.
//
// An op of top-level $set and $unset only, alone on its session in ops,
// is the fast statement of Apply instead of a call of the function; if its
// session changed while it waited for the lock then it changed nothing,
// and it runs through the function in one more pipelined round, after the
// first: two round trips per connection when some fast op missed. (A
// missing or expired session is session.ErrNotFound from the statement.)
//
// The statements are prepared once per connection (pgx's Prepare, one more
// round trip the first time). On a pool whose exec mode is not pgx's
// default QueryExecModeCacheStatement (the simple protocol, Exec,
// DescribeExec or CacheDescribe, as for poolers that do not keep named
// prepared statements) ApplyMulti calls Apply for each op instead.
func (s *Store) ApplyMulti(ctx context.Context, ops []session.ApplyOp) []session.ApplyResult {
	res := make([]session.ApplyResult, len(ops))
	if len(ops) == 1 { // alone: exactly Apply
		res[0].Doc, res[0].Err = s.Apply(ctx, ops[0].ID, ops[0].Update)
		return res
	}
	if err := s.check("apply to session"); err != nil {
		for i := range res {
			res[i].Err = err
		}
		return res
	}
	if !s.pipelines {
		for i, op := range ops {
			res[i].Doc, res[i].Err = s.Apply(ctx, op.ID, op.Update)
		}
		return res
	}
	lanes := make([][]pipelineCall, min(len(ops), s.lanes))
	now := s.now()
	// A session with several ops here gets no fast path: an op that falls
	// back runs after the pipeline, which would put it after the next op
	// on its session.
	perID := make(map[string]int, len(ops))
	for _, op := range ops {
		perID[op.ID]++
	}
	for i, op := range ops {
		u := op.Update
		maxAge, expires, label := maxAgeArg(u.MaxAge), storeTime(u.Expires), nonEmpty(u.Label)
		lane := maphash.String(idSeed, op.ID) % uint64(len(lanes))
		if perID[op.ID] == 1 {
			fb, ok, err := newFastBatch(u.Commands)
			if err != nil {
				res[i].Err = fmt.Errorf("postgres: apply to session %s: %w", op.ID, err)
				continue
			}
			if ok {
				lanes[lane] = append(lanes[lane], pipelineCall{i: i, fast: true,
					args: fastArgs(op.ID, now, expires, maxAge, label, fb, u)})
				continue
			}
		}
		cl, err := functionCall(i, op, now)
		if err != nil {
			res[i].Err = err
			continue
		}
		lanes[lane] = append(lanes[lane], cl)
	}
	s.runLanes(ctx, ops, lanes, res)
	// The fast statements whose session changed while they waited for its
	// lock changed nothing: the apply
	// function decides, in one more pipelined round on the same lanes
	// (each such op is alone on its session, so order is kept).
	retry := make([][]pipelineCall, len(lanes))
	again := false
	now = s.now()
	for l, calls := range lanes {
		for _, c := range calls {
			if r := &res[c.i]; c.fast && r.Doc == nil && errors.Is(r.Err, errFastMiss) {
				cl, err := functionCall(c.i, ops[c.i], now)
				if err != nil {
					r.Err = err
					continue
				}
				r.Err = nil
				retry[l] = append(retry[l], cl)
				again = true
			}
		}
	}
	if again {
		s.runLanes(ctx, ops, retry, res)
	}
	return res
}

// functionCall returns the pipeline call of op's batch through the apply
// function.
func functionCall(i int, op session.ApplyOp, now time.Time) (pipelineCall, error) {
	u := op.Update
	args, err := applyArgs(op.ID, now, false, storeTime(u.Expires), maxAgeArg(u.MaxAge), nil, nil, nonEmpty(u.Label), u)
	if err != nil {
		return pipelineCall{}, fmt.Errorf("postgres: apply to session %s: %w", op.ID, err)
	}
	return pipelineCall{i: i, args: args}, nil
}

// runLanes sends each lane's calls as one pipeline, the lanes at once on
// connections of their own, and waits for all of them.
func (s *Store) runLanes(ctx context.Context, ops []session.ApplyOp, lanes [][]pipelineCall, res []session.ApplyResult) {
	var wg sync.WaitGroup
	for _, calls := range lanes {
		if len(calls) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.pipeline(ctx, ops, calls, res)
		}()
	}
	wg.Wait()
}

// errFastMiss is the result of a fast statement (fastSQL) whose session
// changed since its snapshot: it changed nothing, and the op goes to the
// apply function.
var errFastMiss = errors.New("the session changed since the fast statement's snapshot")

// pipelineCall is one op of an ApplyMulti pipeline: its index in ops, its
// statement (fastSQL or the apply function) and its arguments.
type pipelineCall struct {
	i    int
	fast bool
	args []any
}

// pipeline sends calls on one connection as one pipeline and sets their
// results in res.
func (s *Store) pipeline(ctx context.Context, ops []session.ApplyOp, calls []pipelineCall, res []session.ApplyResult) {
	failRest := func(rest []pipelineCall, err error) {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %w", cerr, err) // cut short by ctx's end
		}
		for _, cl := range rest {
			if res[cl.i].Err == nil && res[cl.i].Doc == nil {
				res[cl.i].Err = fmt.Errorf("postgres: apply to session %s: %w", ops[cl.i].ID, classify(err))
			}
		}
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		failRest(calls, err)
		return
	}
	defer conn.Release()
	c := conn.Conn()
	var sd, fastSD *pgconn.StatementDescription
	for _, cl := range calls {
		sql, d := s.applySQL, &sd
		if cl.fast {
			sql, d = s.fastSQL, &fastSD
		}
		if *d == nil {
			if *d, err = c.Prepare(ctx, sql, sql); err != nil {
				failRest(calls, err)
				return
			}
		}
	}
	// pgx v5.8's Pipeline leaves the goroutine that watches its context
	// behind when the connection fails while results are read; so the
	// pipeline watches no context, and the end of ctx sets a past deadline
	// on the connection instead, as pgx's own watcher does. A connection
	// given that deadline is closed, so that it leaves the pool.
	pc := c.PgConn()
	pl := pc.StartPipeline(context.Background())
	stop := context.AfterFunc(ctx, func() { _ = pc.Conn().SetDeadline(time.Now()) })
	defer func() {
		if !stop() {
			_ = pc.Close(context.Background())
		}
	}()
	var eqb pgx.ExtendedQueryBuilder
	sent := make([]pipelineCall, 0, len(calls))
	for _, cl := range calls {
		d := sd
		if cl.fast {
			d = fastSD
		}
		if err := eqb.Build(c.TypeMap(), d, cl.args); err != nil {
			res[cl.i].Err = fmt.Errorf("postgres: apply to session %s: %w", ops[cl.i].ID, err)
			continue
		}
		pl.SendQueryPrepared(d.Name, eqb.ParamValues, eqb.ParamFormats, eqb.ResultFormats)
		pl.SendPipelineSync()
		sent = append(sent, cl)
	}
	if err := pl.Flush(); err != nil {
		_ = pl.Close()
		failRest(sent, err)
		return
	}
	for k, cl := range sent {
		op := ops[cl.i]
		doc, err := pipelineResult(pl, c, op.ID, cl.fast)
		if errors.Is(err, errFastMiss) {
			res[cl.i].Err = err // ApplyMulti runs it again through the function
			continue
		}
		var own *opError
		if errors.As(err, &own) { // this op's answer did not decode; the others are fine
			res[cl.i].Err = fmt.Errorf("postgres: apply to session %s: %w", op.ID, own.err)
			continue
		}
		if err != nil {
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) { // the connection failed: no more results
				_ = pl.Close()
				failRest(sent[k:], err)
				return
			}
			res[cl.i].Err = fmt.Errorf("postgres: apply to session %s: %w", op.ID, classify(s.dbError(err, op.Update.Commands)))
			continue
		}
		res[cl.i].Doc = doc
	}
	// Every result is in. If closing fails, the connection is closed and
	// leaves the pool.
	_ = pl.Close()
}

// pipelineResult reads the result of one apply call of a pipeline and the
// Sync after it. A *pgconn.PgError is the statement's own error; any
// other error is the connection's.
//
// The result of a fast statement whose session changed since its snapshot
// is errFastMiss.
func pipelineResult(pl *pgconn.Pipeline, c *pgx.Conn, id string, fast bool) (session.Doc, error) {
	r, err := pl.GetResults()
	var doc session.Doc
	if err == nil {
		rr, ok := r.(*pgconn.ResultReader)
		if !ok {
			return nil, fmt.Errorf("pipeline: got %T, want a result", r)
		}
		var found bool
		doc, found, err = readDoc(pgx.RowsFromResultReader(c.TypeMap(), rr), id)
		switch {
		case err == nil && !found && fast:
			err = errFastMiss
		case err == nil && !found:
			err = &pgconn.PgError{Message: "the apply function returned no session"}
		}
	}
	var pgErr *pgconn.PgError
	if err != nil && !errors.As(err, &pgErr) {
		if unavailable(err) {
			return nil, err
		}
		err = &opError{err} // a decode error of this answer: read its Sync, go on
	}
	// After the statement (or its error) comes its Sync.
	r, syncErr := pl.GetResults()
	if syncErr != nil {
		return nil, syncErr
	}
	if _, ok := r.(*pgconn.PipelineSync); !ok {
		return nil, fmt.Errorf("pipeline: got %T, want its Sync", r)
	}
	return doc, err
}

// opError is an error of one op of a pipeline that leaves the connection
// and the other ops' results as they are: its answer did not decode.
type opError struct{ err error }

func (e *opError) Error() string { return e.err.Error() }
func (e *opError) Unwrap() error { return e.err }
