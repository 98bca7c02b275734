// Package redis is a session.Store on Redis, with
// github.com/redis/go-redis/v9. It works with a single server, Redis
// Cluster and Ring: each session is one key.
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
// "$expires", "$maxAge", "$created" (milliseconds) and "$secret"; user
// keys never start with '$'.
//
// # Atomicity
//
// Every batch is one Lua script call, atomic on the server, sent in MULTI
// with an HGETALL of the session so that the document after the batch
// comes back in the same round trip. No script ever decodes a user value:
// Lua's cjson would rewrite numbers to 14 significant digits and empty
// arrays to {}.
//
//   - Set, Unset, integer Inc and Push of top-level keys run in the script
//     itself (HSET, HDEL, HINCRBY, and Push appending the new elements' text
//     to the stored array's), with the check that the session is live and
//     the new expires (also set with PEXPIREAT): one round trip, and no
//     retry however many clients write at once.
//   - Any other batch (dotted paths, Pull, AddToSet, Pop, Rename, an Inc by
//     a float or of a float) is applied in Go, by session.ApplyCommands, to
//     the top-level keys it touches, read with HMGET. The script then writes
//     the changed keys only if the values it finds still have the SHA-1 they
//     had when read; otherwise nothing changes, and the batch is applied
//     again, after a short jittered backoff, to the values the HGETALL
//     returned (two round trips, plus one per retry). Writers of different
//     top-level keys of one session never make each other retry.
//
// A write therefore sends about the size of the change (of the touched
// top-level keys on the Go path), never the whole session; it receives the
// whole document after the batch, as session.Store requires. Create writes
// a new session and its first batch in one script call.
//
// # Expiry
//
// Redis removes a session at its expires time (PEXPIREAT, moved by every
// write), and every read and write also compares the expires field with
// the application's clock, so an expired session is never served even
// before Redis has removed it.
//
// # Errors
//
// Errors wrap the sentinels of package session: ErrNotFound for a missing
// or expired session, ErrConflict for Create of a live id, ErrTypeMismatch
// and the other errors of session.ApplyCommands for commands that do not
// apply (the session is then unchanged), and ErrUnavailable, next to the
// go-redis error, when Redis cannot be reached or cannot serve (so the
// middleware answers 503). An ended context's error is wrapped too.
//
// Create the client with ContextTimeoutEnabled: true so that a context's
// deadline and cancellation interrupt commands on the wire; go-redis
// otherwise applies only its own ReadTimeout and WriteTimeout.
//
// The measurements behind this layout, against a WATCH/MULTI/EXEC general
// path and a whole-document string, are in docs/redis-layout.md.
package redis
