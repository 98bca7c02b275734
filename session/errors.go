package session

import "errors"

// Sentinel errors. Stores and the session wrap them with context, so test for
// them with errors.Is.
var (
	// ErrNotFound means the session does not exist or has expired. A store
	// never returns an expired session, whether or not it has removed it yet.
	ErrNotFound = errors.New("session not found")

	// ErrReservedKey means a command named a reserved field (_id, expires,
	// maxAge, created, secret) as its key. Those fields belong to the library.
	ErrReservedKey = errors.New("reserved session key")

	// ErrInvalidKey means a key is not a valid dotted path: it is empty, has an
	// empty segment, a segment that starts with '$', a segment of digits only,
	// a NUL byte, invalid UTF-8, more than 100 segments, or is longer than
	// MaxKeyLen.
	ErrInvalidKey = errors.New("invalid session key")

	// ErrInvalidValue means a value has a type that does not round-trip in
	// every store (see Normalize), or an Inc amount that is not a number.
	ErrInvalidValue = errors.New("invalid session value")

	// ErrTooLarge means a command's value is larger than MaxValueSize.
	ErrTooLarge = errors.New("session value too large")

	// ErrTypeMismatch means an operator does not apply to the value it found:
	// Inc on a non-number, past the int64 range or to an infinite float;
	// Push, AddToSet, Pull, PullAll or Pop on a non-array; or a path (the
	// path of any operator but Unset, or a Rename's source or target) that
	// runs through a value that is not a document. The session is left
	// unchanged.
	ErrTypeMismatch = errors.New("session operator does not apply to the stored value")

	// ErrConflict means two commands in one update touch overlapping paths
	// (such as "a" and "a.b", or a Rename onto its own source), or that a new
	// session's id exists already.
	ErrConflict = errors.New("session update conflict")

	// ErrInvalidCSRF means a CSRF token is missing, malformed or was not made
	// by this session's secret.
	ErrInvalidCSRF = errors.New("invalid CSRF token")

	// ErrUnavailable means the store cannot serve requests now, for example a
	// MongoDB store whose collection is not set yet. The middleware answers
	// 503 Service Unavailable for it.
	ErrUnavailable = errors.New("session store unavailable")
)
