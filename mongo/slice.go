package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/atomicsession/atomicsession/session"
)

// maxTrimAttempts bounds the compare-and-set rounds of trimSlice.
const maxTrimAttempts = 16

// trimSlices makes good on $slice where the server ignored it. MongoDB
// applies $push's $slice in the update itself, and then no array of the
// result is longer than its command's Slice and trimSlices sends nothing.
// FerretDB 1.x accepts $slice and ignores it: for each OpPush with Slice
// whose array in raw (the document after the update) is longer, trimSlices
// sets the array to its last Slice elements with a compare-and-set on the
// array it saw, and puts the value after in doc. On FerretDB a bounded
// array is therefore a push and then a trim, two round trips, and may be
// longer than Slice between them.
func (s *Store) trimSlices(ctx context.Context, coll *driver.Collection, id string, cmds []session.Command, raw bson.Raw, doc session.Doc) error {
	for _, c := range cmds {
		if c.Op != session.OpPush || c.Slice <= 0 {
			continue
		}
		rv, err := raw.LookupErr(strings.Split(c.Path, ".")...)
		if err != nil || rv.Type != bson.TypeArray {
			continue
		}
		if err := s.trimSlice(ctx, coll, id, c, rv, doc); err != nil {
			return err
		}
	}
	return nil
}

// trimSlice trims the array at c.Path, whose value is seen, to its last
// c.Slice elements; see trimSlices.
func (s *Store) trimSlice(ctx context.Context, coll *driver.Collection, id string, c session.Command, seen bson.RawValue, doc session.Doc) error {
	top := c.Top()
	p := projection([]string{top})
	for range maxTrimAttempts {
		vals, err := seen.Array().Values()
		if err != nil {
			return fmt.Errorf("trim %s to %d elements: %w", c, c.Slice, err)
		}
		if len(vals) <= c.Slice {
			return nil
		}
		last := make(bson.A, c.Slice)
		for i, v := range vals[len(vals)-c.Slice:] {
			last[i] = v
		}
		filter := bson.D{{Key: session.FieldID, Value: id}, {Key: c.Path, Value: seen}}
		update := bson.D{{Key: "$set", Value: bson.D{{Key: c.Path, Value: last}}}}
		opts := options.FindOneAndUpdate().SetReturnDocument(options.After)
		_, after, err := s.findAndModify(ctx, coll, filter, update, opts, session.Update{Fetch: []string{top}})
		if err == nil {
			copyTop(doc, after, top)
			return nil
		}
		if !errors.Is(err, driver.ErrNoDocuments) {
			return fmt.Errorf("trim %s to %d elements: %w", c, c.Slice, mapError(ctx, err))
		}
		// Another request changed the array (or deleted the session)
		// since: read it again.
		raw, err := coll.FindOne(ctx, bson.D{{Key: session.FieldID, Value: id}}, options.FindOne().SetProjection(p)).Raw()
		if errors.Is(err, driver.ErrNoDocuments) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("trim %s to %d elements: %w", c, c.Slice, mapError(ctx, err))
		}
		now, err := decodeDoc(raw, p)
		if err != nil {
			return fmt.Errorf("trim %s to %d elements: %w", c, c.Slice, err)
		}
		copyTop(doc, now, top)
		if seen, err = raw.LookupErr(strings.Split(c.Path, ".")...); err != nil || seen.Type != bson.TypeArray {
			return nil
		}
	}
	return fmt.Errorf("trim %s to %d elements: the array kept changing: %w", c, c.Slice, session.ErrConflict)
}

// copyTop sets top-level key k of dst to its value in src, or removes it.
func copyTop(dst, src session.Doc, k string) {
	if v, ok := src[k]; ok {
		dst[k] = v
	} else {
		delete(dst, k)
	}
}
