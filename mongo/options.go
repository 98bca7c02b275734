package mongo

import (
	"log/slog"
	"time"
)

// Option configures a Store made by NewStore.
type Option func(*Store)

// WithClock sets the function the store reads the current time from, to
// decide which sessions have expired (reads and writes match only sessions
// whose expires is after it; Sweep deletes the others). The default value
// is time.Now. A nil clock is ignored.
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// WithSweepInterval starts a background sweeper that calls Sweep every d
// until Close, for servers without TTL indexes (such as FerretDB 1.x; see
// EnsureIndex). The sweeper skips its turn while the collection is not set,
// and logs its errors. The default value is 0: no background sweeper.
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
