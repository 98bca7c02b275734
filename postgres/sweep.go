package postgres

import (
	"context"
	"fmt"
	"time"
)

// sweepBatch is how many expired sessions one statement of Sweep deletes,
// so that no statement holds many row locks for long.
const sweepBatch = 1000

// Sweep deletes the sessions that have expired, with their keys, through
// the index on expires, in statements of up to 1,000 sessions each, and
// returns how many it deleted. Rows that another Sweep or a request holds
// locked are skipped, so concurrent sweeps from several instances do not
// wait for each other. Expired sessions are never served whether or not
// they have been swept: sweeping only frees space.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	if err := s.check("sweep expired sessions"); err != nil {
		return 0, err
	}
	var total int64
	for {
		var n int64
		if err := s.pool.QueryRow(ctx, s.sweepSQL, s.now(), sweepBatch).Scan(&n); err != nil {
			return total, fmt.Errorf("postgres: sweep expired sessions: %w", classify(err))
		}
		total += n
		if n < sweepBatch {
			return total, nil
		}
	}
}

// Close stops the background sweeper, if one runs, and waits for it to
// finish. It does not close the pool. The Store stays usable after Close.
// Close may be called more than once; it always returns nil, and makes
// Store an io.Closer.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
	})
	return nil
}

// sweepLoop calls Sweep every sweepEvery until Close, logging errors.
func (s *Store) sweepLoop() {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	ticker := time.NewTicker(s.sweepEvery)
	defer ticker.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ticker.C:
			if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.logger.Error("atomicsession: postgres: background sweep failed", "err", err)
			}
		}
	}
}
