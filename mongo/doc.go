// Package mongo is a session.Store on MongoDB, built on
// go.mongodb.org/mongo-driver/v2.
//
// Each session is one document of a collection you choose: the session id
// (a hash of the cookie token) in _id, the user's keys at the top level,
// expires and created as BSON dates, maxAge as int64 milliseconds, and the
// CSRF secret. Every batch of commands is one findAndModify that matches
// only a live session ({_id, expires: {$gt: now}}) and returns the document
// after it; a new session and its first batch are one upsert that no
// existing document can match, so an existing id is a conflict and never
// merged into.
//
// # Using MongoDB
//
// Connect, pick a collection, create the TTL index once, and give the store
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
// EnsureIndex creates {expires: 1} with expireAfterSeconds 0: MongoDB then
// deletes each session within about a minute of its expiry. The store never
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
// PathNotViable; nothing changes), session.ErrConflict for an existing id
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
//     often. Load reads by _id alone and does not scan.
package mongo
