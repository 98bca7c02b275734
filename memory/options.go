package memory

import "time"

// DefaultSweepInterval is how often the background sweep removes expired
// sessions unless WithSweepInterval says otherwise.
const DefaultSweepInterval = time.Minute

// Option configures a Store made by NewStore.
type Option func(*config)

type config struct {
	sweepInterval time.Duration
	now           func() time.Time
}

func newConfig(opts []Option) config {
	c := config{sweepInterval: DefaultSweepInterval, now: time.Now}
	for _, opt := range opts {
		opt(&c)
	}
	return c
}

// WithSweepInterval sets how often the background goroutine removes expired
// sessions from memory. A zero or negative interval disables the sweep, and
// no goroutine is started; expired sessions are then removed only when a
// Load, Create or Apply meets them. The default value is 1 minute.
func WithSweepInterval(d time.Duration) Option {
	return func(c *config) { c.sweepInterval = d }
}

// WithClock sets the function the store reads the current time from, to
// decide which sessions have expired. A nil now is ignored. The default
// value is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}
