// Package mongo is a session.Store on MongoDB, built on
// go.mongodb.org/mongo-driver/v2.
//
// Each session is one document of a collection you choose: the session id
// (a hash of the cookie token) in _id, the user's keys at the top level,
// and the reserved fields expires and created (BSON dates), maxAge (int64
// milliseconds), _user (the user a session is bound to by Login, absent
// when none) and _label (the application's label, absent when none).
//
// Every batch of commands is one findAndModify that matches only a live
// session ({_id, expires: {$gt: now}}) and returns, through a projection,
// the reserved fields and the top-level keys the batch touched or fetched,
// never the whole document: a one-key write on a 64 KB session should send
// and receive a few hundred bytes (TestBytesOnTheWire checks it when
// MONGODB_URI names a MongoDB; on FerretDB, see below, it receives the
// session). Load is one find by _id with a projection
// of the keys asked for. A new session and its first batch are one upsert
// that no existing document can match, so an existing id is a conflict and
// never merged into.
//
// Take (session.OpTake) is one findAndModify with $unset and
// returnDocument: before, projected on its key: exactly one of any number
// of concurrent Takes gets the value. (Batched with commands on other
// keys, which session.Update's contract rules out, the same findAndModify
// returns
// their keys before too, and the store computes them after with
// session.ApplyCommands.) PushLast (Command.Slice) is $push
// with $each and $slice: -n. SetMaxAge and SetLabel set maxAge and _label
// in the same findAndModify as the batch.
//
// The store is a session.UserIndex: UserSessions is one find of {_user,
// expires > now} projected on the reserved fields, DeleteUserSessions one
// deleteMany of {_user, _id: {$nin: keep}, expires > now}. Both use the
// index on _user that EnsureIndex creates, and so cost time in the number
// of that user's sessions, never a scan (on MongoDB; see FerretDB below).
//
// # Using MongoDB
//
// Connect, pick a collection, create the indexes once, and give the store
// to the middleware:
//
//	client, err := mongodriver.Connect(options.Client().ApplyURI("mongodb://localhost:27017/"))
//	if err != nil { ... }
//	defer client.Disconnect(context.Background())
//
//	store := mongo.NewStore(client.Database("app").Collection("sessions"))
//	defer store.Close()
//	if err := store.EnsureIndex(ctx); err != nil { ... }
//
//	m, err := middleware.New(store, middleware.Options{Keys: keys})
//
// (mongodriver is go.mongodb.org/mongo-driver/v2/mongo, renamed because
// this package is also called mongo.)
//
// EnsureIndex creates {_user: 1} (sparse: only bound sessions) and
// {expires: 1} with expireAfterSeconds 0: MongoDB then deletes each session
// within about a minute of its expiry. The store never
// returns an expired session before that either: writes filter on
// {_id, expires > now}, and Load reads by _id and refuses an expired
// document.
//
// Late binding, as the original's "Collection not set!": NewStore(nil)
// gives a store that answers every request with an error wrapping
// ErrCollectionNotSet and session.ErrUnavailable (503 from the middleware)
// until SetCollection is called.
//
// Options: WithClock (the time that decides expiry; default time.Now),
// WithSweepInterval (a background sweeper, default none) and WithLogger
// (where the sweeper's errors go; default slog.Default()).
//
// Errors wrap session's sentinels: session.ErrNotFound for a missing or
// expired session, session.ErrTypeMismatch when an operator does not apply
// to the stored value (the server's TypeMismatch, BadValue and
// PathNotViable; nothing changes; a *session.CommandError when the batch
// has one command, as MongoDB does not say which of several failed), session.ErrConflict for an existing id
// on Create, session.ErrTooLarge past MongoDB's 16 MiB document limit, and
// session.ErrUnavailable when the server cannot be reached. A cancelled or
// expired context gives an error that wraps the context's error.
//
// Embedded documents are written with their keys in sorted order, because
// MongoDB compares documents field by field in order and Go's map order is
// random: $pull and $addToSet then find a document equal to one written
// whole. A document assembled key by key through dotted paths ("a.y" then
// "a.x") is stored in the order of those writes, and a later Pull of
// map{"x", "y"} does not match it.
//
// # FerretDB
//
// FerretDB 1.x speaks MongoDB's wire protocol and the store works on it,
// with these differences (measured on v1.24.0 with SQLite, which the
// repository's tests use when MONGODB_URI is not set):
//   - No TTL indexes: EnsureIndex returns an error wrapping ErrNoTTLIndex.
//     Expired sessions are still never served, but nothing deletes them;
//     call Sweep periodically or use WithSweepInterval.
//   - Update operators are applied as read-modify-write without a lock, so
//     concurrent updates of one session from several connections can lose
//     writes. Give the client one connection (maxPoolSize=1) or use MongoDB
//     where sessions are updated concurrently.
//   - Arrays inside arrays are refused (session.ErrInvalidValue), -0.0
//     comes back as 0, and a $rename onto a path below a scalar is an
//     InternalError, which the store maps to session.ErrTypeMismatch as
//     MongoDB's PathNotViable.
//   - Filters beyond {_id} scan the collection, so every write (and Sweep)
//     costs time in proportion to the number of stored sessions: sweep
//     often. Load reads by _id alone and does not scan. The _user index is
//     created but not used: UserSessions and DeleteUserSessions scan too.
//   - findAndModify takes no projection (NotImplemented "fields"): the
//     store learns this from the first answer (one extra round trip per
//     Store), then asks for whole documents and keeps only the result's
//     keys itself. Results are the same; a write receives the whole
//     session (65,762 bytes for a one-key write on a 64 KB session, where
//     MongoDB's reply holds the touched key and the reserved fields).
//   - $push ignores $slice: the store sees the longer array in the result
//     and trims it to its last n elements with a compare-and-set on the
//     array it saw, retried when another request changed it. PushLast is
//     then two round trips, and the array may hold more than n between
//     them; once every request has finished it holds exactly n.
package mongo
