package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/atomicsession/atomicsession/session"
)

var _ session.MultiApplier = (*Store)(nil)

// ApplyMulti applies each op as Apply would, in one round trip: the calls
// of the apply function for all ops go to one connection as a pipeline,
// with a Sync after each, so that each op is its own transaction: its own
// lock on its session's row, held only for its own statement, its own
// result, and its own error (session.ErrNotFound, a
// *session.CommandError, ...), which neither undoes nor aborts the other
// ops. (A pgx.Batch would run them all in one implicit transaction, where
// one op's error rolls back every other.) Ops on the same session apply in
// order.
//
// The statement is prepared once per connection (pgx's Prepare, one more
// round trip the first time). On a pool configured for the simple protocol
// (pgx.QueryExecModeSimpleProtocol or QueryExecModeExec, for poolers that
// do not keep prepared statements) ApplyMulti calls Apply for each op
// instead.
func (s *Store) ApplyMulti(ctx context.Context, ops []session.ApplyOp) []session.ApplyResult {
	res := make([]session.ApplyResult, len(ops))
	failAll := func(err error) []session.ApplyResult {
		for i := range res {
			if res[i].Err == nil && res[i].Doc == nil {
				res[i].Err = fmt.Errorf("postgres: apply to session %s: %w", ops[i].ID, err)
			}
		}
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
	type call struct {
		i    int
		args []any
	}
	calls := make([]call, 0, len(ops))
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
		calls = append(calls, call{i: i, args: []any{op.ID, now, false, storeTime(u.Expires), maxAge, nil,
			nil, nonEmpty(u.Label), string(cmds), touched, u.Fetch, u.FetchAll}})
	}
	if len(calls) == 0 {
		return res
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return failAll(err)
	}
	defer conn.Release()
	c := conn.Conn()
	sd, err := c.Prepare(ctx, s.applySQL, s.applySQL)
	if err != nil {
		return failAll(err)
	}
	var eqb pgx.ExtendedQueryBuilder
	sent := calls[:0]
	pl := c.PgConn().StartPipeline(ctx)
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
		return failAll(err)
	}
	for _, cl := range sent {
		op := ops[cl.i]
		doc, err := s.pipelineResult(pl, c, op.ID)
		if err != nil {
			res[cl.i].Err = fmt.Errorf("postgres: apply to session %s: %w", op.ID, s.dbError(err, op.Update.Commands))
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) { // the connection failed: no more results
				_ = pl.Close()
				return failAll(err)
			}
			continue
		}
		res[cl.i].Doc = doc
	}
	if err := pl.Close(); err != nil {
		// Every result is in; the connection is closed and leaves the pool.
		_ = err
	}
	return res
}

// pipelineResult reads the result of one apply call of a pipeline and the
// Sync after it.
func (s *Store) pipelineResult(pl *pgconn.Pipeline, c *pgx.Conn, id string) (session.Doc, error) {
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
			err = errors.New("the apply function returned no session")
		}
	}
	var pgErr *pgconn.PgError
	if err != nil && !errors.As(err, &pgErr) {
		return nil, err
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
