package postgres

import (
	"log/slog"
	"time"
)

// Default names of the store's objects.
const (
	DefaultSchema = "public"         // the schema of the tables and functions unless WithSchema says otherwise
	DefaultPrefix = "atomicsession_" // the prefix of their names unless WithTablePrefix says otherwise
)

// Option configures a Store made by NewStore.
type Option func(*Store)

// WithSchema sets the PostgreSQL schema that holds the store's tables and
// functions; EnsureSchema creates it if it does not exist. The default
// value is "public". An empty name is ignored.
func WithSchema(name string) Option {
	return func(s *Store) {
		if name != "" {
			s.schemaName = name
		}
	}
}

// WithTablePrefix sets the prefix of the names of the store's tables,
// indexes and functions: <prefix>sessions, <prefix>keys,
// <prefix>schema_version, <prefix>apply and so on. Two stores with
// different prefixes (or schemas) in one database are independent. NewStore
// accepts only letters, digits and '_', at most 40 bytes; another prefix
// makes every call of the Store fail with an error saying so. The default
// value is "atomicsession_".
func WithTablePrefix(prefix string) Option {
	return func(s *Store) { s.prefix = prefix }
}

// WithClock sets the function the store reads the current time from, to
// decide which sessions have expired: reads and writes match only sessions
// whose expires is after it, and Sweep deletes the others. The time is the
// application's, like the expiry times the session computes, not the
// database server's. The default value is time.Now. A nil clock is ignored.
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// WithSweepInterval starts a background sweeper that calls Sweep every d
// until Close. Several instances may sweep one database at once: each
// skips the rows another is deleting. The default value is 0: no
// background sweeper (call Sweep from a job of your own, or not at all:
// expired sessions are never served either way).
func WithSweepInterval(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.sweepEvery = d
		}
	}
}

// WithLogger sets the logger that receives the background sweeper's
// errors. The default value is slog.Default(). A nil logger is ignored.
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.logger = l
		}
	}
}
