package mongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodriver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/atomicsession/atomicsession/session"
)

// ErrNoTTLIndex is wrapped by EnsureIndex's error when the server does not
// implement TTL indexes (FerretDB 1.x answers NotImplemented). The store
// still never returns an expired session, but nothing deletes them: call
// Sweep periodically or make the store with WithSweepInterval.
var ErrNoTTLIndex = errors.New("the server does not support TTL indexes (expireAfterSeconds): expired sessions stay stored until swept; use Sweep or WithSweepInterval")

// UserIndexName is the name of the index EnsureIndex creates on the _user
// field (session.FieldUserID), which UserSessions and DeleteUserSessions
// use.
const UserIndexName = "_user_1"

// EnsureIndex creates the store's two indexes. The first is {_user: 1}
// (named UserIndexName, sparse: only sessions bound to a user are in it),
// which makes UserSessions and DeleteUserSessions cost time in the number
// of that user's sessions. The second is the TTL index {expires: 1} with
// expireAfterSeconds 0, with which MongoDB deletes each session shortly
// after its expires time.
//
// An index that exists already is left as it is and is no error; an index
// on the same field with other options gives the server's error. If the
// server lacks TTL indexes then the user index is still created and the
// error wraps ErrNoTTLIndex. Call it once at startup.
func (s *Store) EnsureIndex(ctx context.Context) error {
	coll, err := s.collection()
	if err != nil {
		return fmt.Errorf("ensure indexes: %w", err)
	}
	where := coll.Database().Name() + "." + coll.Name()
	users := mongodriver.IndexModel{
		Keys:    bson.D{{Key: session.FieldUserID, Value: 1}},
		Options: options.Index().SetName(UserIndexName).SetSparse(true),
	}
	if _, err := coll.Indexes().CreateOne(ctx, users); err != nil {
		return fmt.Errorf("ensure user index on %s: %w", where, mapError(ctx, err))
	}
	ttl := mongodriver.IndexModel{
		Keys:    bson.D{{Key: session.FieldExpires, Value: 1}},
		Options: options.Index().SetExpireAfterSeconds(0),
	}
	if _, err := coll.Indexes().CreateOne(ctx, ttl); err != nil {
		if isNotImplemented(err) {
			return fmt.Errorf("ensure TTL index on %s: %w: %w", where, ErrNoTTLIndex, err)
		}
		return fmt.Errorf("ensure TTL index on %s: %w", where, mapError(ctx, err))
	}
	return nil
}

// Sweep deletes the sessions that have expired (expires at or before the
// store's clock) and returns how many it deleted. Servers with a TTL index
// (see EnsureIndex) do this by themselves; Sweep is for those without.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	coll, err := s.collection()
	if err != nil {
		return 0, fmt.Errorf("sweep expired sessions: %w", err)
	}
	filter := bson.D{{Key: session.FieldExpires, Value: bson.D{{Key: "$lte", Value: s.clock()}}}}
	res, err := coll.DeleteMany(ctx, filter)
	if err != nil {
		return 0, fmt.Errorf("sweep expired sessions: %w", mapError(ctx, err))
	}
	return res.DeletedCount, nil
}

// Close stops the background sweeper, if any (see WithSweepInterval), and
// waits until it has stopped; a sweep in progress is cancelled. It does not
// disconnect the client: the application owns it. The store still serves
// requests after Close. Close is safe to call more than once and always
// returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			s.stop()
			<-s.done
		}
	})
	return nil
}

func (s *Store) startSweeper() {
	if s.sweepEvery <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go s.sweepLoop(ctx)
}

func (s *Store) sweepLoop(ctx context.Context) {
	defer close(s.done)
	ticker := time.NewTicker(s.sweepEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			s.sweepOnce(ctx)
		}
	}
}

func (s *Store) sweepOnce(ctx context.Context) {
	if s.Collection() == nil {
		return
	}
	n, err := s.Sweep(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log().Error("mongo session store: background sweep failed", "err", err)
	case n > 0:
		s.log().Debug("mongo session store: swept expired sessions", "deleted", n)
	}
}

func (s *Store) log() *slog.Logger {
	if s.logger == nil {
		return slog.Default()
	}
	return s.logger
}
