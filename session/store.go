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
type Store interface {
	// Load returns the document of the live session id, reserved fields
	// included. If the session does not exist or has expired then Load
	// returns an error wrapping ErrNotFound.
	Load(ctx context.Context, id string) (Doc, error)

	// Create stores a new session with the reserved fields of m and applies
	// cmds to it, in order, as one atomic operation (one round trip where the
	// database allows), and returns the document after. If a session with
	// id m.ID exists already then Create returns an error wrapping
	// ErrConflict and changes nothing. cmds may be empty.
	Create(ctx context.Context, m Meta, cmds []Command) (Doc, error)

	// Apply applies cmds, in order, to the live session id and sets its
	// expires field to expires, as one atomic operation, and returns the
	// document after. The paths of cmds never overlap (see Overlaps); cmds
	// may be empty, which only moves expires (Touch).
	//
	// If no live session id exists then Apply returns an error wrapping
	// ErrNotFound and changes nothing: it never creates (upserts) id. If a
	// command does not apply (ErrTypeMismatch) then nothing changes.
	Apply(ctx context.Context, id string, expires time.Time, cmds []Command) (Doc, error)

	// Delete removes session id. If the session does not exist then Delete
	// is a no-op and returns nil.
	Delete(ctx context.Context, id string) error
}

// Names of the reserved fields of a session document. Commands on them fail
// with ErrReservedKey.
const (
	FieldID      = "_id"
	FieldExpires = "expires"
	FieldMaxAge  = "maxAge"
	FieldCreated = "created"
	FieldSecret  = "secret"
)

// Meta holds the reserved fields of a session document.
type Meta struct {
	ID      string        // the store id: a hash of the cookie token
	Expires time.Time     // UTC, millisecond precision
	MaxAge  time.Duration // stored as int64 milliseconds
	Created time.Time     // UTC, millisecond precision
	Secret  string        // the CSRF secret, base64url of 32 random bytes
}

// Doc returns m as the reserved fields of a document: FieldID a string,
// FieldExpires and FieldCreated time.Time, FieldMaxAge int64 milliseconds and
// FieldSecret a string.
func (m Meta) Doc() Doc {
	return Doc{
		FieldID:      m.ID,
		FieldExpires: m.Expires,
		FieldMaxAge:  m.MaxAge.Milliseconds(),
		FieldCreated: m.Created,
		FieldSecret:  m.Secret,
	}
}
