package session

import "context"

// ApplyOp is one Apply of a MultiApplier.ApplyMulti call: Update u for the
// live session ID.
type ApplyOp struct {
	ID     string
	Update Update
}

// ApplyResult is the outcome of one ApplyOp: what Store.Apply would have
// returned for it.
type ApplyResult struct {
	Doc Doc
	Err error
}

// MultiApplier is implemented by stores that can carry the Apply calls of
// several sessions in one round trip (a Redis pipeline, a PostgreSQL
// pipeline). It is optional: the middleware batches concurrent requests'
// Apply calls through it when the store has it (see middleware.Options
// NoBatching), and calls Apply one by one otherwise.
//
// ApplyMulti applies every op as Store.Apply would, with the same contract
// for each: each op is one atomic step on its own session, and gets its own
// result and its own error (ErrNotFound, a *CommandError, ...) in the
// result of the same index; one op's failure neither undoes nor prevents
// another's. Ops are not atomic together: another writer may act between
// them. Ops on the same session apply in their order. The returned slice
// has exactly len(ops) elements. An error of the whole call (the
// connection failed, ctx ended) is the Err of every op it affected; such
// an op may or may not have been applied, as with Apply.
type MultiApplier interface {
	ApplyMulti(ctx context.Context, ops []ApplyOp) []ApplyResult
}
