package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// SCS's own Redis and PostgreSQL stores (redisstore, pgxstore) are on the
// module proxy and the benchmark uses them as they are. Its MongoDB store
// is not, so the benchmark carries this stand-in: one command per call,
// with no extra work. It is not a copy of SCS's store (which keys its
// documents on a token field); it finds a session the way atomicsession's
// store on the same server does, so that the comparison is of the
// libraries and not of the server's query plans.

// scsMongoStore is an scs.CtxStore over a MongoDB collection: one document
// {_id: token, data: <gob>, expiry: <date>} per session.
type scsMongoStore struct {
	coll *driver.Collection
}

var _ scs.CtxStore = (*scsMongoStore)(nil)

// FindCtx returns the data of the live session token: one find command
// filtering on _id alone, with the expiry checked here, as atomicsession's
// Load does (and as SCS's own MongoDB store checks it): FerretDB 1.x serves
// an _id-only filter from its primary key and scans the collection for any
// other. If the token does not exist or has expired then found is false and
// err nil.
func (s *scsMongoStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	var doc struct {
		Data   []byte    `bson:"data"`
		Expiry time.Time `bson:"expiry"`
	}
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: token}}).Decode(&doc)
	if errors.Is(err, driver.ErrNoDocuments) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("scs mongo store: find: %w", err)
	}
	if !doc.Expiry.After(time.Now()) {
		return nil, false, nil
	}
	return doc.Data, true, nil
}

// CommitCtx writes the whole session, replacing what was there: one
// update command with upsert.
func (s *scsMongoStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "data", Value: b}, {Key: "expiry", Value: expiry}}}}
	_, err := s.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: token}}, update, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("scs mongo store: commit: %w", err)
	}
	return nil
}

// DeleteCtx removes the session token. If it does not exist then DeleteCtx
// is a no-op and returns nil.
func (s *scsMongoStore) DeleteCtx(ctx context.Context, token string) error {
	if _, err := s.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: token}}); err != nil {
		return fmt.Errorf("scs mongo store: delete: %w", err)
	}
	return nil
}

// Find is FindCtx with a background context.
func (s *scsMongoStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit is CommitCtx with a background context.
func (s *scsMongoStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete is DeleteCtx with a background context.
func (s *scsMongoStore) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}
