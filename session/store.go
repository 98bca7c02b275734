package session

import (
	"context"
	"time"
)

// Store keeps session documents. Every method must be safe for concurrent use
// by many goroutines and many processes sharing the same database, and must
// honour its context.
//
// A Store never returns an expired session: every read and write filters on
// expires > now, whether or not the store has removed the session yet.
// Errors that a caller can act on wrap the sentinel errors of this package.
// The sessiontest package holds the conformance suite every Store must pass.
//
// Stores move only what a request needs: Load returns the keys asked for,
// and Create and Apply return the top-level keys their commands touched
// (see Update), never the whole document.
type Store interface {
	// Load returns the reserved fields of the live session id and its
	// top-level keys named in keys; keys nil means every key. A named key
	// the session does not hold is absent from the result. If the session
	// does not exist or has expired then Load returns an error wrapping
	// ErrNotFound.
	Load(ctx context.Context, id string, keys []string) (Doc, error)

	// Create stores a new session with the reserved fields of m and applies
	// u to it as one atomic operation (one round trip where the database
	// allows), and returns the result described on Update. m.Expires is
	// the session's expiry; u.Expires is ignored. If a live session with id
	// m.ID exists already then Create returns an error wrapping ErrConflict
	// and changes nothing. If a command does not apply then Create returns
	// its error and stores nothing.
	Create(ctx context.Context, m Meta, u Update) (Doc, error)

	// Apply applies u to the live session id as one atomic operation, and
	// returns the result described on Update.
	//
	// If no live session id exists then Apply returns an error wrapping
	// ErrNotFound and changes nothing: it never creates (upserts) id. If a
	// command does not apply (ErrTypeMismatch) then nothing changes and the
	// error says which command, where the database tells (see
	// CommandError).
	Apply(ctx context.Context, id string, u Update) (Doc, error)

	// Delete removes session id, and its entry in the user index if the
	// store keeps one. If the session does not exist then Delete is a no-op
	// and returns nil. An error means the session may still exist; it is
	// never swallowed.
	Delete(ctx context.Context, id string) error
}

// Update is one atomic step on a session: commands, a new expiry, maybe a
// new lifetime or label, and keys to read back.
//
// The result of Create and Apply holds the reserved fields after the step,
// and of the user's top-level keys exactly these:
//   - the top-level key of every command's path (and of a Rename's target)
//     that exists after the step, with its whole value after the step; a
//     touched key that the step removed is absent;
//   - for an OpTake command, its key's value before the step (absent if it
//     had none);
//   - the top-level keys named in Fetch, or every key if FetchAll, as they
//     are after the step.
//
// No other key may be returned: a one-key change on a large session must
// not move the session.
type Update struct {
	// Commands are applied in order. Their paths never overlap (see
	// Overlaps); an OpTake command is always the only command of its
	// Update, which then has no Fetch; Commands may be empty (Touch).
	Commands []Command

	// Expires is the session's new expiry, for Apply. Create uses m.Expires.
	Expires time.Time

	// MaxAge, if not zero, is the session's new lifetime (SetMaxAge).
	MaxAge time.Duration

	// Label, if not empty, is the session's new label (FieldLabel).
	Label string

	// Fetch names top-level keys to return as they are after the step. A
	// non-nil empty Fetch returns no user key (Load: the reserved fields
	// only).
	Fetch []string

	// FetchAll returns every top-level key as it is after the step.
	FetchAll bool
}

// UserIndex is implemented by stores that keep an index from users to their
// live sessions: every store of this module does; it is optional for third
// parties. A session is bound to a user when it is created with Meta.UserID
// set (Session.Login); the binding never changes afterwards.
//
// Listing or revoking costs time in the number of that user's sessions,
// never a scan of every session.
type UserIndex interface {
	// UserSessions returns the reserved fields of the live sessions bound to
	// userID, in no particular order. Expired and deleted sessions are never
	// listed. A user without sessions gives an empty list and no error.
	UserSessions(ctx context.Context, userID string) ([]Meta, error)

	// DeleteUserSessions deletes every session bound to userID except those
	// whose ids are in keep, and returns how many it deleted. A deleted
	// session is never brought back by a request in flight on it.
	DeleteUserSessions(ctx context.Context, userID string, keep ...string) (int, error)
}

// Names of the reserved fields of a session document. Commands on them fail
// with ErrReservedKey.
const (
	FieldID      = "_id"
	FieldExpires = "expires"
	FieldMaxAge  = "maxAge"
	FieldCreated = "created"
	FieldUserID  = "_user"  // the user the session is bound to (Login); absent when none
	FieldLabel   = "_label" // the application's label for the session, such as a device name; absent when none
)

// reservedFields lists every reserved field.
var reservedFields = [...]string{FieldID, FieldExpires, FieldMaxAge, FieldCreated, FieldUserID, FieldLabel}

// ReservedFields returns the names of the reserved fields.
func ReservedFields() []string {
	return append([]string(nil), reservedFields[:]...)
}

// Meta holds the reserved fields of a session document.
type Meta struct {
	ID      string        // the store id: a hash of the cookie token
	Expires time.Time     // UTC, millisecond precision
	MaxAge  time.Duration // stored as int64 milliseconds
	Created time.Time     // UTC, millisecond precision
	UserID  string        // the bound user; empty when none
	Label   string        // the application's label; empty when none
}

// Doc returns m as the reserved fields of a document: FieldID a string,
// FieldExpires and FieldCreated time.Time, FieldMaxAge int64 milliseconds,
// and FieldUserID and FieldLabel strings, present only when not empty.
func (m Meta) Doc() Doc {
	d := Doc{
		FieldID:      m.ID,
		FieldExpires: m.Expires,
		FieldMaxAge:  m.MaxAge.Milliseconds(),
		FieldCreated: m.Created,
	}
	if m.UserID != "" {
		d[FieldUserID] = m.UserID
	}
	if m.Label != "" {
		d[FieldLabel] = m.Label
	}
	return d
}

// Result returns what Create and Apply return for u, given the whole
// document before the step and after it (reserved fields included), for a
// store that holds whole documents, as the memory store does. It copies
// nothing: the values are shared with before and after.
func (u Update) Result(before, after Doc) Doc {
	out := make(Doc, len(reservedFields)+len(u.Commands)+len(u.Fetch))
	for _, f := range reservedFields {
		if v, ok := after[f]; ok {
			out[f] = v
		}
	}
	if u.FetchAll {
		for k, v := range after {
			out[k] = v
		}
	}
	for _, k := range u.Fetch {
		if v, ok := after[k]; ok {
			out[k] = v
		}
	}
	for _, c := range u.Commands {
		src := after
		if c.Op == OpTake {
			src = before
		}
		copyKey(out, src, c.Top())
		if c.Op == OpRename {
			copyKey(out, after, topKey(c.To))
		}
	}
	return out
}

// copyKey copies top-level key k from src to dst, or removes it from dst
// when src lacks it.
func copyKey(dst, src Doc, k string) {
	if v, ok := src[k]; ok {
		dst[k] = v
	} else {
		delete(dst, k)
	}
}

// LoadResult returns what Load returns for keys, given the whole document:
// the reserved fields and the named keys (every key when keys is nil),
// sharing values with doc.
func LoadResult(doc Doc, keys []string) Doc {
	if keys == nil {
		return doc
	}
	out := make(Doc, len(reservedFields)+len(keys))
	for _, f := range reservedFields {
		if v, ok := doc[f]; ok {
			out[f] = v
		}
	}
	for _, k := range keys {
		if v, ok := doc[k]; ok {
			out[k] = v
		}
	}
	return out
}
