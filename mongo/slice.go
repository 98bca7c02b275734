package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodriver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/atomicsession/atomicsession/session"
)

// maxTrimAttempts bounds the compare-and-set rounds of trimStored.
const maxTrimAttempts = 16

// trimSlices makes good on $slice where the server ignored it. MongoDB
// applies $push's $slice in the update itself, and then no array of the
// result is longer than its command's Slice and trimSlices sends nothing.
// FerretDB 1.x accepts $slice and ignores it. For each OpPush with Slice
// whose array in raw (the document after the update) is longer,
// trimSlices keeps only the last Slice elements of the array in doc, the
// result, which is then what the step would have left; and it trims the
// stored array the same way with a compare-and-set on the array it saw.
// On FerretDB a bounded push is therefore two round trips, and the stored
// array may be longer than Slice between them.
//
// raw nil means the result does not hold the arrays after the update (an
// Update with a Take returns the document before): trimSlices then reads
// each array, and trims it if the server ignored $slice.
func (s *Store) trimSlices(ctx context.Context, coll *mongodriver.Collection, id string, cmds []session.Command, raw bson.Raw, doc session.Doc) error {
	for _, c := range cmds {
		if c.Op != session.OpPush || c.Slice <= 0 {
			continue
		}
		var seen bson.RawValue
		if raw != nil {
			rv, err := raw.LookupErr(strings.Split(c.Path, ".")...)
			if err != nil || !longer(rv, c.Slice) {
				continue
			}
			keepLast(doc, c.Path, c.Slice)
			seen = rv
		}
		if err := s.trimStored(ctx, coll, id, c, seen); err != nil {
			return err
		}
	}
	return nil
}

// longer reports whether rv is an array of more than n elements.
func longer(rv bson.RawValue, n int) bool {
	if rv.Type != bson.TypeArray {
		return false
	}
	vals, err := rv.Array().Values()
	return err == nil && len(vals) > n
}

// keepLast keeps the last n elements of the array at path in doc.
func keepLast(doc session.Doc, path string, n int) {
	segs := strings.Split(path, ".")
	m := map[string]any(doc)
	for _, seg := range segs[:len(segs)-1] {
		next, ok := m[seg].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
	last := segs[len(segs)-1]
	if arr, ok := m[last].([]any); ok && len(arr) > n {
		m[last] = arr[len(arr)-n:]
	}
}

// trimStored sets the stored array at c.Path to its last c.Slice elements
// if it is longer, by a compare-and-set on seen, the array as last read
// (read first if seen is the zero value), read again and retried while
// other requests change it.
func (s *Store) trimStored(ctx context.Context, coll *mongodriver.Collection, id string, c session.Command, seen bson.RawValue) error {
	segs := strings.Split(c.Path, ".")
	p := projection([]string{c.Top()})
	for attempt := 0; attempt < maxTrimAttempts; attempt++ {
		if seen.Type == 0 {
			raw, err := coll.FindOne(ctx, bson.D{{Key: session.FieldID, Value: id}}, options.FindOne().SetProjection(p)).Raw()
			if errors.Is(err, mongodriver.ErrNoDocuments) {
				return nil // the session is gone
			}
			if err != nil {
				return fmt.Errorf("trim %s to %d elements: %w", c, c.Slice, mapError(ctx, err))
			}
			if seen, err = raw.LookupErr(segs...); err != nil {
				return nil
			}
		}
		if !longer(seen, c.Slice) {
			return nil
		}
		vals, err := seen.Array().Values()
		if err != nil {
			return fmt.Errorf("trim %s to %d elements: %w", c, c.Slice, err)
		}
		last := make(bson.A, c.Slice)
		for i, v := range vals[len(vals)-c.Slice:] {
			last[i] = v
		}
		filter := bson.D{{Key: session.FieldID, Value: id}, {Key: c.Path, Value: seen}}
		update := bson.D{{Key: "$set", Value: bson.D{{Key: c.Path, Value: last}}}}
		res, err := coll.UpdateOne(ctx, filter, update)
		if err != nil {
			return fmt.Errorf("trim %s to %d elements: %w", c, c.Slice, mapError(ctx, err))
		}
		if res.MatchedCount == 1 {
			return nil
		}
		seen = bson.RawValue{} // another request changed the array: read it again
	}
	return fmt.Errorf("trim %s to %d elements: the array kept changing: %w", c, c.Slice, session.ErrConflict)
}
