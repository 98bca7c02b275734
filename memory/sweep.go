package memory

import "time"

// sweepLoop removes expired sessions every sweepInterval until Close.
func (s *Store) sweepLoop() {
	defer close(s.done)
	ticker := time.NewTicker(s.sweepInterval)
	defer ticker.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ticker.C:
			s.sweep()
		}
	}
}

// sweep removes every expired session, one shard at a time, so that
// commands on other shards go on meanwhile.
func (s *Store) sweep() {
	for i := range s.shards {
		sh := &s.shards[i]
		now := s.now()
		sh.mu.Lock()
		for id, e := range sh.sessions {
			if !e.expires.After(now) {
				s.remove(sh, id)
			}
		}
		sh.mu.Unlock()
	}
}
