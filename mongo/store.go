package mongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodriver "go.mongodb.org/mongo-driver/v2/mongo"
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
// matches only a live session and returns, through a projection, the
// reserved fields and the top-level keys the batch touched: never the
// whole document unless asked (session.Update.FetchAll).
// A Store is safe for concurrent use. Make one with NewStore; a zero Store
// behaves as NewStore(nil).
type Store struct {
	coll atomic.Pointer[mongodriver.Collection]
	now  func() time.Time

	// noFields is set once the server has answered that findAndModify
	// does not take a projection (FerretDB 1.x): the store then asks for
	// the whole document and keeps only the result's keys itself.
	noFields atomic.Bool

	logger *slog.Logger

	sweepEvery time.Duration
	stop       context.CancelFunc
	done       chan struct{}
	closeOnce  sync.Once
}

var (
	_ session.Store     = (*Store)(nil)
	_ session.UserIndex = (*Store)(nil)
)

// NewStore returns a Store on coll. coll may be nil, to be set later by
// SetCollection; until then every request fails with an error wrapping
// ErrCollectionNotSet (and so session.ErrUnavailable).
//
// NewStore does not create the TTL index that expires sessions: call
// EnsureIndex once at startup, or use WithSweepInterval on servers without
// TTL indexes. If WithSweepInterval is given then NewStore starts the
// background sweeper, which runs until Close.
func NewStore(coll *mongodriver.Collection, opts ...Option) *Store {
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
func (s *Store) SetCollection(coll *mongodriver.Collection) {
	s.coll.Store(coll)
}

// Collection returns the collection the store uses, or nil if it is not set.
func (s *Store) Collection() *mongodriver.Collection {
	return s.coll.Load()
}

// clock returns the current time by the store's clock (WithClock).
func (s *Store) clock() time.Time {
	if s.now == nil {
		return time.Now()
	}
	return s.now()
}

func (s *Store) collection() (*mongodriver.Collection, error) {
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

// Load returns the reserved fields of the live session id and its
// top-level keys named in keys, or the whole document when keys is nil.
// A named key the session does not hold, and a name that cannot be a
// top-level key (a dotted path, a reserved field), is absent from the
// result. If the session does not exist or has expired (whether or not it
// was removed yet) then Load returns an error wrapping
// session.ErrNotFound.
//
// Load is one find by _id with a projection of the reserved fields and
// keys, and checks expires itself: a read cannot resurrect anything, and
// FerretDB 1.x answers a filter on _id from its primary key but scans the
// collection for any other.
func (s *Store) Load(ctx context.Context, id string, keys []string) (session.Doc, error) {
	coll, err := s.collection()
	if err != nil {
		return nil, fmt.Errorf("load session %s: %w", id, err)
	}
	opts := options.FindOne()
	if keys != nil {
		opts.SetProjection(projection(keys))
	}
	raw, err := coll.FindOne(ctx, bson.D{{Key: session.FieldID, Value: id}}, opts).Raw()
	if err != nil {
		return nil, fmt.Errorf("load session %s: %w", id, mapError(ctx, err))
	}
	doc, err := decodeDoc(raw, nil)
	if err != nil {
		return nil, fmt.Errorf("load session %s: %w", id, err)
	}
	if exp, _ := doc[session.FieldExpires].(time.Time); !exp.After(s.clock()) {
		return nil, fmt.Errorf("load session %s: %w (expired)", id, session.ErrNotFound)
	}
	return doc, nil
}

// Create inserts session m.ID with the reserved fields of m (u.MaxAge and
// u.Label replace m's when set) and applies u's commands to it, in one
// findAndModify command: an upsert that no existing document can match,
// returning the result session.Update describes through a projection. If
// a document with id m.ID exists, live or expired, then Create returns an
// error wrapping session.ErrConflict and changes nothing. If a command does
// not apply then nothing is stored and the error wraps
// session.ErrTypeMismatch.
func (s *Store) Create(ctx context.Context, m session.Meta, u session.Update) (session.Doc, error) {
	coll, err := s.collection()
	if err != nil {
		return nil, fmt.Errorf("create session %s: %w", m.ID, err)
	}
	if m.ID == "" {
		return nil, fmt.Errorf("create session: empty id: %w", session.ErrInvalidValue)
	}
	if u.MaxAge > 0 {
		m.MaxAge = u.MaxAge
	}
	if u.Label != "" {
		m.Label = u.Label
	}
	update, err := buildUpdate(u.Commands, bson.E{Key: "$setOnInsert", Value: metaFields(m)})
	if err != nil {
		return nil, fmt.Errorf("create session %s: %w", m.ID, err)
	}
	// created exists in every session document, so the filter matches none
	// and the upsert inserts m.ID, or fails with a duplicate key error.
	filter := bson.D{
		{Key: session.FieldID, Value: m.ID},
		{Key: session.FieldCreated, Value: bson.D{{Key: "$exists", Value: false}}},
	}
	// A new session has no value before: the result of a Take is the key's
	// absence, which the document after shows as well (no other command
	// touches the key of a Take).
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)
	raw, doc, err := s.findAndModify(ctx, coll, filter, update, opts, u)
	if err != nil {
		if mongodriver.IsDuplicateKeyError(err) {
			return nil, fmt.Errorf("create session %s: id exists: %w: %w", m.ID, session.ErrConflict, err)
		}
		return nil, fmt.Errorf("create session %s with %s: %w", m.ID, describe(u.Commands), commandError(u.Commands, mapError(ctx, err)))
	}
	if err := s.trimSlices(ctx, coll, m.ID, u.Commands, raw, doc); err != nil {
		return nil, fmt.Errorf("create session %s: %w", m.ID, err)
	}
	return doc, nil
}

// Apply applies u to the live session id in one findAndModify command that
// also sets expires (and maxAge and _label when u sets them), and returns
// the result session.Update describes through a projection of the
// reserved fields and the touched and fetched keys (no projection for
// FetchAll). An Update with an OpTake command asks for the document
// before the step instead, which holds the Take's value before, and
// computes the other touched keys after the step from it with
// session.ApplyCommands, the reference semantics the server's operators
// follow; the reserved fields are the ones the step wrote.
//
// If no live session id exists then Apply returns an error wrapping
// session.ErrNotFound and creates nothing (it never upserts). If an
// operator does not apply to the stored value then the server rejects the
// whole update and Apply returns an error wrapping session.ErrTypeMismatch
// (a *session.CommandError when the Update has one command: MongoDB does
// not say which command of several failed).
func (s *Store) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	coll, err := s.collection()
	if err != nil {
		return nil, fmt.Errorf("apply to session %s: %w", id, err)
	}
	expires := storeTime(u.Expires)
	fields := bson.D{{Key: session.FieldExpires, Value: expires}}
	if u.MaxAge > 0 {
		fields = append(fields, bson.E{Key: session.FieldMaxAge, Value: u.MaxAge.Milliseconds()})
	}
	if u.Label != "" {
		fields = append(fields, bson.E{Key: session.FieldLabel, Value: u.Label})
	}
	update, err := buildUpdate(u.Commands, bson.E{Key: "$set", Value: fields})
	if err != nil {
		return nil, fmt.Errorf("apply to session %s: %w", id, err)
	}
	take := hasTake(u.Commands)
	opts := options.FindOneAndUpdate().SetReturnDocument(options.After)
	if take {
		opts.SetReturnDocument(options.Before)
	}
	raw, doc, err := s.findAndModify(ctx, coll, s.live(id), update, opts, u)
	if err != nil {
		return nil, fmt.Errorf("apply %s to session %s: %w", describe(u.Commands), id, commandError(u.Commands, mapError(ctx, err)))
	}
	if take {
		doc, err = s.takeResult(ctx, coll, id, u, doc)
		if err != nil {
			return nil, fmt.Errorf("apply %s to session %s: %w", describe(u.Commands), id, err)
		}
		for _, f := range fields {
			doc[f.Key] = f.Value
		}
		// The document before does not show whether the server applied
		// $slice: trimSlices reads the arrays of PushLast commands, if
		// any (a round trip more, for a batch the session never sends:
		// it sends a Take alone).
		raw = nil
	}
	if err := s.trimSlices(ctx, coll, id, u.Commands, raw, doc); err != nil {
		return nil, fmt.Errorf("apply to session %s: %w", id, err)
	}
	return doc, nil
}

// takeResult returns the result of u, an Update with an OpTake command,
// from before, the touched and fetched keys before the step. Takes give
// their keys' values before; the other commands' keys are computed after
// the step with session.ApplyCommands. If the reference semantics refuse
// what the server applied (they should not), the keys after are read
// again instead, in a second round trip that may see later writes too.
func (s *Store) takeResult(ctx context.Context, coll *mongodriver.Collection, id string, u session.Update, before session.Doc) (session.Doc, error) {
	after, err := session.ApplyCommands(before, u.Commands)
	if err != nil {
		opts := options.FindOne()
		p := resultProjection(u)
		if p != nil {
			opts.SetProjection(p)
		}
		raw, err := coll.FindOne(ctx, bson.D{{Key: session.FieldID, Value: id}}, opts).Raw()
		if err != nil {
			return nil, fmt.Errorf("read the keys after the update: %w", mapError(ctx, err))
		}
		if after, err = decodeDoc(raw, p); err != nil {
			return nil, err
		}
	}
	return u.Result(before, after), nil
}

// findAndModify runs one findAndModify command with the projection of u's
// result, and returns the document it returns, raw and decoded. On a
// server whose findAndModify takes no projection (FerretDB 1.x answers
// NotImplemented, having changed nothing), it sends the command again
// without one, and from then on always without, and keeps only the
// result's keys itself: the result is the same, but the whole document
// crosses the wire.
//
// Errors are the driver's, for the caller to map; a document that does
// not decode is an error wrapping session.ErrInvalidValue.
func (s *Store) findAndModify(ctx context.Context, coll *mongodriver.Collection, filter, update bson.D, opts *options.FindOneAndUpdateOptionsBuilder, u session.Update) (bson.Raw, session.Doc, error) {
	p := resultProjection(u)
	if p != nil && !s.noFields.Load() {
		raw, err := coll.FindOneAndUpdate(ctx, filter, update, opts.SetProjection(p)).Raw()
		if err == nil {
			doc, err := decodeDoc(raw, nil)
			return raw, doc, err
		}
		if !isProjectionNotImplemented(err) {
			return nil, nil, err
		}
		s.noFields.Store(true)
		opts.SetProjection(nil)
	}
	raw, err := coll.FindOneAndUpdate(ctx, filter, update, opts).Raw()
	if err != nil {
		return nil, nil, err
	}
	doc, err := decodeDoc(raw, p)
	return raw, doc, err
}

// Delete removes session id, live or expired, and so its entry in the user
// index (the index is on the document's _user field). If the session does
// not exist then Delete is a no-op and returns nil.
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

// metaFields returns the reserved fields of m as stored, _id aside (the
// upsert takes it from the filter): _user and _label only when set.
func metaFields(m session.Meta) bson.D {
	d := bson.D{
		{Key: session.FieldExpires, Value: storeTime(m.Expires)},
		{Key: session.FieldMaxAge, Value: m.MaxAge.Milliseconds()},
		{Key: session.FieldCreated, Value: storeTime(m.Created)},
	}
	if m.UserID != "" {
		d = append(d, bson.E{Key: session.FieldUserID, Value: m.UserID})
	}
	if m.Label != "" {
		d = append(d, bson.E{Key: session.FieldLabel, Value: m.Label})
	}
	return d
}

// storeTime returns t as a BSON date holds it: UTC, millisecond precision.
func storeTime(t time.Time) time.Time {
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// hasTake reports whether cmds hold an OpTake command.
func hasTake(cmds []session.Command) bool {
	for _, c := range cmds {
		if c.Op == session.OpTake {
			return true
		}
	}
	return false
}

// commandError makes err, the error of an update of cmds, a
// *session.CommandError when there is one command and the stored value
// refused it: MongoDB does not say which of several commands failed, so
// for more the session finds it itself.
func commandError(cmds []session.Command, err error) error {
	if len(cmds) == 1 && errors.Is(err, session.ErrTypeMismatch) {
		return &session.CommandError{Index: 0, Err: err}
	}
	return err
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
