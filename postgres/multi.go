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
// connection used: the ops are spread by session over up to 4 connections
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
// The statement is prepared once per connection (pgx's Prepare, one more
// round trip the first time). On a pool configured for the simple protocol
// (pgx.QueryExecModeSimpleProtocol or QueryExecModeExec, for poolers that
// do not keep prepared statements) ApplyMulti calls Apply for each op
// instead.
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
	switch s.pool.Config().ConnConfig.DefaultQueryExecMode {
	case pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec:
		for i, op := range ops {
			res[i].Doc, res[i].Err = s.Apply(ctx, op.ID, op.Update)
		}
		return res
	}
	lanes := make([][]pipelineCall, max(min(len(ops), multiConns, int(s.pool.Config().MaxConns)), 1))
	now := s.now()
	for i, op := range ops {
		u := op.Update
		cmds, err := encodeCommands(u.Commands)
		if err != nil {
			res[i].Err = fmt.Errorf("postgres: apply to session %s: %w", op.ID, err)
			continue
		}
		touched := session.TouchedKeys(u.Commands)
		if touched == nil {
			touched = []string{}
		}
		var maxAge *int64
		if u.MaxAge > 0 {
			maxAge = ptrTo(u.MaxAge.Milliseconds())
		}
		lane := maphash.String(idSeed, op.ID) % uint64(len(lanes))
		lanes[lane] = append(lanes[lane], pipelineCall{i: i, args: []any{op.ID, now, false, storeTime(u.Expires),
			maxAge, nil, nil, nonEmpty(u.Label), string(cmds), touched, u.Fetch, u.FetchAll}})
	}
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
	return res
}

// pipelineCall is one op of an ApplyMulti pipeline: its index in ops and
// the apply function's arguments.
type pipelineCall struct {
	i    int
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
	sd, err := c.Prepare(ctx, s.applySQL, s.applySQL)
	if err != nil {
		failRest(calls, err)
		return
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
		if err := eqb.Build(c.TypeMap(), sd, cl.args); err != nil {
			res[cl.i].Err = fmt.Errorf("postgres: apply to session %s: %w", ops[cl.i].ID, err)
			continue
		}
		pl.SendQueryPrepared(sd.Name, eqb.ParamValues, eqb.ParamFormats, eqb.ResultFormats)
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
		doc, err := pipelineResult(pl, c, op.ID)
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
func pipelineResult(pl *pgconn.Pipeline, c *pgx.Conn, id string) (session.Doc, error) {
	r, err := pl.GetResults()
	var doc session.Doc
	if err == nil {
		rr, ok := r.(*pgconn.ResultReader)
		if !ok {
			return nil, fmt.Errorf("pipeline: got %T, want a result", r)
		}
		var found bool
		doc, found, err = readDoc(pgx.RowsFromResultReader(c.TypeMap(), rr), id)
		if err == nil && !found {
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
