package mongo

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/atomicsession/atomicsession/session"
)

// ErrCollectionNotSet is wrapped by the errors of a Store whose collection
// is not set yet (see SetCollection). It wraps session.ErrUnavailable, so
// the middleware answers 503 Service Unavailable.
var ErrCollectionNotSet = fmt.Errorf("mongo store: collection not set: %w", session.ErrUnavailable)

// Store is a session.Store that keeps each session as one document of a
// MongoDB collection: the session id in _id, the user's keys at the top
// level, expires and created as BSON dates, maxAge as int64 milliseconds.
//
// Each batch of commands is one findAndModify command (one round trip) that
// matches only a live session and returns the document after the update.
// A Store is safe for concurrent use. Make one with NewStore; a zero Store
// behaves as NewStore(nil).
type Store struct {
	coll   atomic.Pointer[driver.Collection]
	now    func() time.Time
	logger *slog.Logger

	sweepEvery time.Duration
	stop       context.CancelFunc
	done       chan struct{}
	closeOnce  sync.Once
}

var _ session.Store = (*Store)(nil)

// NewStore returns a Store on coll. coll may be nil, to be set later by
// SetCollection; until then every request fails with an error wrapping
// ErrCollectionNotSet (and so session.ErrUnavailable).
//
// NewStore does not create the TTL index that expires sessions: call
// EnsureIndex once at startup, or use WithSweepInterval on servers without
// TTL indexes. If WithSweepInterval is given then NewStore starts the
// background sweeper, which runs until Close.
func NewStore(coll *driver.Collection, opts ...Option) *Store {
	s := &Store{done: make(chan struct{})}
	for _, opt := range opts {
		opt(s)
	}
	if coll != nil {
		s.coll.Store(coll)
	}
	s.startSweeper()
	return s
}

// SetCollection sets the collection the store uses, for applications that
// connect to MongoDB after they build their handlers. Requests that start
// after it use coll. Setting nil makes the store unavailable again.
func (s *Store) SetCollection(coll *driver.Collection) {
	s.coll.Store(coll)
}

// Collection returns the collection the store uses, or nil if it is not set.
func (s *Store) Collection() *driver.Collection {
	return s.coll.Load()
}

// clock returns the current time by the store's clock (WithClock).
func (s *Store) clock() time.Time {
	if s.now == nil {
		return time.Now()
	}
	return s.now()
}

func (s *Store) collection() (*driver.Collection, error) {
	if c := s.coll.Load(); c != nil {
		return c, nil
	}
	return nil, ErrCollectionNotSet
}

// live is the filter that matches session id only while it has not expired.
func (s *Store) live(id string) bson.D {
	return bson.D{
		{Key: session.FieldID, Value: id},
		{Key: session.FieldExpires, Value: bson.D{{Key: "$gt", Value: s.clock()}}},
	}
}

// Load returns the live session id. If the session does not exist or has
// expired (whether or not it was removed yet) then Load returns an error
// wrapping session.ErrNotFound.
//
// Load finds the document by _id alone and checks expires itself: a read
// cannot resurrect anything, and FerretDB 1.x answers a filter on _id from
// its primary key but scans the collection for any other.
func (s *Store) Load(ctx context.Context, id string) (session.Doc, error) {
	coll, err := s.collection()
	if err != nil {
		return nil, fmt.Errorf("load session %s: %w", id, err)
	}
	raw, err := coll.FindOne(ctx, bson.D{{Key: session.FieldID, Value: id}}).Raw()
	if err != nil {
		return nil, fmt.Errorf("load session %s: %w", id, mapError(ctx, err))
	}
	doc, err := decodeDoc(raw)
	if err != nil {
		return nil, fmt.Errorf("load session %s: %w", id, err)
	}
	if exp, _ := doc[session.FieldExpires].(time.Time); !exp.After(s.clock()) {
		return nil, fmt.Errorf("load session %s: %w (expired)", id, session.ErrNotFound)
	}
	return doc, nil
}

// Create inserts session m.ID with the reserved fields of m and applies
// cmds to it, in one findAndModify command (an upsert that no existing
// document can match). If a document with id m.ID exists, live or expired,
// then Create returns an error wrapping session.ErrConflict and changes
// nothing.
func (s *Store) Create(ctx context.Context, m session.Meta, cmds []session.Command) (session.Doc, error) {
	coll, err := s.collection()
	if err != nil {
		return nil, fmt.Errorf("create session %s: %w", m.ID, err)
	}
	update, err := buildUpdate(cmds, bson.E{Key: "$setOnInsert", Value: metaFields(m)})
	if err != nil {
		return nil, fmt.Errorf("create session %s: %w", m.ID, err)
	}
	// created exists in every session document, so the filter matches none
	// and the upsert inserts m.ID, or fails with a duplicate key error.
	filter := bson.D{
		{Key: session.FieldID, Value: m.ID},
		{Key: session.FieldCreated, Value: bson.D{{Key: "$exists", Value: false}}},
	}
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)
	raw, err := coll.FindOneAndUpdate(ctx, filter, update, opts).Raw()
	if err != nil {
		if driver.IsDuplicateKeyError(err) {
			return nil, fmt.Errorf("create session %s: id exists: %w: %w", m.ID, session.ErrConflict, err)
		}
		return nil, fmt.Errorf("create session %s: %w", m.ID, mapError(ctx, err))
	}
	doc, err := decodeDoc(raw)
	if err != nil {
		return nil, fmt.Errorf("create session %s: %w", m.ID, err)
	}
	return doc, nil
}

// Apply applies cmds to the live session id and sets its expires field, in
// one findAndModify command that returns the document after. If no live
// session id exists then Apply returns an error wrapping
// session.ErrNotFound and creates nothing (it never upserts). If an
// operator does not apply to the stored value then the server rejects the
// whole update and Apply returns an error wrapping session.ErrTypeMismatch.
func (s *Store) Apply(ctx context.Context, id string, expires time.Time, cmds []session.Command) (session.Doc, error) {
	coll, err := s.collection()
	if err != nil {
		return nil, fmt.Errorf("apply to session %s: %w", id, err)
	}
	update, err := buildUpdate(cmds, bson.E{Key: "$set", Value: bson.D{{Key: session.FieldExpires, Value: expires}}})
	if err != nil {
		return nil, fmt.Errorf("apply to session %s: %w", id, err)
	}
	opts := options.FindOneAndUpdate().SetReturnDocument(options.After)
	raw, err := coll.FindOneAndUpdate(ctx, s.live(id), update, opts).Raw()
	if err != nil {
		return nil, fmt.Errorf("apply %s to session %s: %w", describe(cmds), id, mapError(ctx, err))
	}
	doc, err := decodeDoc(raw)
	if err != nil {
		return nil, fmt.Errorf("apply to session %s: %w", id, err)
	}
	return doc, nil
}

// Delete removes session id, live or expired. If the session does not
// exist then Delete is a no-op and returns nil.
func (s *Store) Delete(ctx context.Context, id string) error {
	coll, err := s.collection()
	if err != nil {
		return fmt.Errorf("delete session %s: %w", id, err)
	}
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: session.FieldID, Value: id}}); err != nil {
		return fmt.Errorf("delete session %s: %w", id, mapError(ctx, err))
	}
	return nil
}

func metaFields(m session.Meta) bson.D {
	return bson.D{
		{Key: session.FieldExpires, Value: m.Expires},
		{Key: session.FieldMaxAge, Value: m.MaxAge.Milliseconds()},
		{Key: session.FieldCreated, Value: m.Created},
		{Key: session.FieldSecret, Value: m.Secret},
	}
}

// describe names the commands of a batch for error messages, without values.
func describe(cmds []session.Command) string {
	if len(cmds) == 0 {
		return "touch"
	}
	out := ""
	for i, c := range cmds {
		if i > 0 {
			out += ", "
		}
		out += c.String()
	}
	return out
}
