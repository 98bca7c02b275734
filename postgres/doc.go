// Package postgres is a session.Store and session.UserIndex on PostgreSQL,
// on github.com/jackc/pgx/v5 (pgxpool).
//
//	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	...
//	store := postgres.NewStore(pool, postgres.WithSweepInterval(time.Minute))
//	defer store.Close()
//	if err := store.EnsureSchema(ctx); err != nil { ... } // at every start: idempotent, safe from many instances
//	manager, err := middleware.New(store, middleware.Options{Keys: keys})
//
// # Layout
//
// A session is one row of reserved fields in <prefix>sessions (id,
// expires, max_age, created, user_id, label; indexes on expires and on
// user_id) and one row per top-level key in <prefix>keys (session_id, key,
// value jsonb), deleted with its session (ON DELETE CASCADE). A one-key
// write rewrites that key's row and the small session row, never the whole
// session: on a 64 KB session it writes about 400 bytes of WAL, where a
// single jsonb column would write the whole 64 KB again (docs/postgres.md
// has the figures and the command that measures them).
//
// Values are stored in a typed JSON encoding that round-trips exactly:
// int64 stays int64 (exact beyond 2^53), 1.0 stays a float64, a time.Time
// keeps its milliseconds, empty arrays stay arrays, strings may hold NUL.
//
// # One round trip per batch
//
// Every method is one SQL statement (Apply's fast path, below, is two when
// it misses). A batch of commands (any operators,
// dotted paths, arrays, Take, $push with $slice, keys to fetch) is one call
// of the plpgsql function <prefix>apply that EnsureSchema installs. It
// locks the session's row (the UPDATE that moves its expiry), so that
// concurrent batches on one session, from any connection or application
// instance, take turns, while batches on different sessions never wait for
// each other; then it applies the commands to the top-level keys they
// touch, MongoDB's operator semantics written in plpgsql over jsonb,
// writes back the keys that changed and returns the touched and fetched
// keys. A new session and its first batch are one call too. The
// conformance and differential tests compare the function with
// session.ApplyCommands, the reference semantics.
//
// The common batch of a web request, $set and $unset of top-level keys
// with keys to fetch (read "user", write "seen"), skips the function: it
// is one plain UPDATE of the session's row with the key writes and the
// fetch in the same statement, which costs the server a fraction of the
// function's call. Its snapshot predates its wait for the row lock, so it
// applies only if the session's row is still the version its snapshot
// sees (no batch committed in between: then what it reads is the latest);
// otherwise it changes nothing and the batch goes to the function, one
// more round trip only when batches on one session collide. A session
// missing or expired in its snapshot is session.ErrNotFound at once.
//
// The first use of each statement on a connection also prepares it (pgx's
// statement cache), one extra round trip per connection and statement. The
// store works in every pgx QueryExecMode, the simple protocol and
// PgBouncer's transaction pooling included.
//
// # Expiry
//
// Reads and writes match only sessions whose expires is after the
// application's clock (WithClock), so an expired session is never served
// or changed and a batch on it creates nothing. Sweep deletes expired
// sessions through the index on expires; WithSweepInterval runs it in the
// background until Close.
//
// # Transactions
//
// The store runs each statement on its own (autocommit) in the pool's
// default isolation, READ COMMITTED, which the function needs: under
// REPEATABLE READ or SERIALIZABLE a batch that waited for another batch on
// the same session fails with a serialization error instead of applying.
// A call whose context ends while the database is working returns an
// error, but the statement may still complete on the server: an error
// does not mean that nothing changed.
package postgres
