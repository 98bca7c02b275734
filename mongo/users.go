package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/atomicsession/atomicsession/session"
)

// UserSessions returns the reserved fields of the live sessions bound to
// userID (session.FieldUserID, set by Create from Meta.UserID), in no
// particular order: one find of {_user: userID, expires > now} with a
// projection of the reserved fields only. With the index EnsureIndex
// creates on _user, it reads that user's sessions and no others. A user
// without sessions, and the empty userID, give an empty list.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]session.Meta, error) {
	coll, err := s.collection()
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %q: %w", userID, err)
	}
	out := []session.Meta{}
	if userID == "" {
		return out, nil
	}
	filter := bson.D{
		{Key: session.FieldUserID, Value: userID},
		{Key: session.FieldExpires, Value: bson.D{{Key: "$gt", Value: s.clock()}}},
	}
	cur, err := coll.Find(ctx, filter, options.Find().SetProjection(projection()))
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %q: %w", userID, mapError(ctx, err))
	}
	defer func() { _ = cur.Close(context.WithoutCancel(ctx)) }()
	for cur.Next(ctx) {
		doc, err := decodeDoc(cur.Current, nil)
		if err != nil {
			return nil, fmt.Errorf("list sessions of user %q: %w", userID, err)
		}
		m, err := session.MetaOf(doc)
		if err != nil {
			return nil, fmt.Errorf("list sessions of user %q: %w", userID, err)
		}
		out = append(out, m)
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("list sessions of user %q: %w", userID, mapError(ctx, err))
	}
	return out, nil
}

// DeleteUserSessions deletes every live session bound to userID whose id
// is not in keep, in one deleteMany of {_user: userID, _id: {$nin: keep},
// expires > now} (which the index on _user serves), and returns how many
// it deleted. Expired sessions are left to the TTL index or Sweep; they
// are dead already and never listed. Apply never upserts, so
// a request in flight on a deleted session cannot bring it back. The empty
// userID deletes nothing.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string, keep ...string) (int, error) {
	coll, err := s.collection()
	if err != nil {
		return 0, fmt.Errorf("delete sessions of user %q: %w", userID, err)
	}
	if userID == "" {
		return 0, nil
	}
	nin := make(bson.A, len(keep))
	for i, id := range keep {
		nin[i] = id
	}
	filter := bson.D{
		{Key: session.FieldUserID, Value: userID},
		{Key: session.FieldID, Value: bson.D{{Key: "$nin", Value: nin}}},
		{Key: session.FieldExpires, Value: bson.D{{Key: "$gt", Value: s.clock()}}},
	}
	res, err := coll.DeleteMany(ctx, filter)
	if err != nil {
		return 0, fmt.Errorf("delete sessions of user %q: %w", userID, mapError(ctx, err))
	}
	return int(res.DeletedCount), nil
}
