// Package redis is a session.Store and session.UserIndex on Redis, with
// github.com/redis/go-redis/v9. It works with a single server, Redis
// Cluster and Ring: every script it runs names one key.
//
//	client := goredis.NewClient(&goredis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true})
//	store := redis.NewStore(client)
//
// # Layout
//
// A session is a hash under the key "session:{id}" (see WithPrefix; the
// braces make the id the Cluster hash tag). Each top-level user key is one
// field, holding the key's value encoded in Go as JSON that keeps Go's
// types: an int64 is a plain integer, a float64 always has a '.' or an
// exponent, a time.Time is {"$date":<Unix ms>}. So values come back exactly
// as stored: 2^53-1 stays an int64, 0.1+0.2 stays 0.30000000000000004, an
// empty array stays an array. The reserved fields are the fields
// "$expires", "$maxAge", "$created" (milliseconds), "$user" and "$label"
// (text, present only when set), next to "$indexed", which the user index
// uses; user keys never start with '$'.
//
// # Only what a request needs
//
// Load reads the reserved fields and the keys asked for (HMGET; HGETALL
// for all). Every update is one Lua script call, atomic on the server, that
// also returns the reserved fields, the top-level keys its commands touched
// and the keys it fetches: never the rest of the session. It reads what it
// needs with one HMGET, writes with one HSET (and HDEL, HINCRBY when the
// commands ask) and PEXPIREAT, and works out the values after the step
// itself: an update of one key costs Redis four commands, the script call
// included. No script ever decodes a user value: Lua's cjson would rewrite
// numbers to 14 significant digits and empty arrays to {}. A fetched key
// that the Store has seen hold more than 4 KB is read by HMGET (HGETALL for
// FetchAll) after the script, in one MULTI/EXEC with it, still one round
// trip: a value a script reads becomes a Lua string, which costs Redis
// more than the rest of the step for a 64 KB value.
//
//   - Set, Unset, Take, integer Inc and Push of top-level keys run in the
//     script itself (HSET, HDEL, HDEL after reading for Take, HINCRBY, and Push
//     appending the new elements' text to the stored array's), with the
//     check that the session is live and the new expires (also set with
//     PEXPIREAT): one round trip, and no retry however many clients write
//     at once.
//   - Any other batch (dotted paths, Pull, AddToSet, Pop, Rename, an Inc by
//     a float or of a float, a Push with Slice) is applied in Go, by
//     session.ApplyCommands, to the top-level keys it touches. The script
//     then writes the changed keys only if Redis still holds the values
//     the batch was applied to (compared by SHA-1); otherwise nothing
//     changes, the script answers with the current values, and the batch
//     is applied again, after a short jittered backoff. The values it
//     starts from are those the Store last saw of the session, kept in a
//     bounded cache (WithCacheBytes), so that a Load followed by any batch
//     costs two round trips; if the cache lacks a touched key the Store
//     reads it first with HMGET (one more). Writers of different top-level
//     keys of one session never make each other retry.
//
// # Users
//
// A session created with Meta.UserID joins its user's index, a sorted set
// under prefix + "u:" + userID whose scores bound the members' expiries, so
// that it drops expired sessions without reading them and expires with the
// last one. UserSessions and DeleteUserSessions cost round trips and time
// in the number of that user's sessions, never a scan. On a Cluster the
// set and the sessions are in different slots, so they are kept
// consistent without a cross-slot script: see UserSessions,
// DeleteUserSessions and docs/redis-layout.md.
//
// # Expiry
//
// Redis removes a session at its expires time (PEXPIREAT, moved by every
// write), and every read and write also compares the expires field with
// the application's clock, so an expired session is never served even
// before Redis has removed it; a deleted or revoked one is never brought
// back: an update of it is session.ErrNotFound and writes nothing.
//
// # Errors
//
// Errors wrap the sentinels of package session: ErrNotFound for a missing
// or expired session, ErrConflict for Create of a live id, ErrTypeMismatch
// and the other errors of session.ApplyCommands for commands that do not
// apply (as a *session.CommandError naming the command; the session is
// then unchanged), and ErrUnavailable, next to the go-redis error, when
// Redis cannot be reached or cannot serve (so the middleware answers 503).
// An ended context's error is wrapped too.
//
// Create the client with ContextTimeoutEnabled: true so that a context's
// deadline and cancellation interrupt commands on the wire; go-redis
// otherwise applies only its own ReadTimeout and WriteTimeout.
//
// The measurements behind this layout, against a WATCH/MULTI/EXEC general
// path, a whole-document string and the Store without its cache, are in
// docs/redis-layout.md.
package redis
