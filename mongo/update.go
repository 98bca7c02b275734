package mongo

import (
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/atomicsession/atomicsession/session"
)

// buildUpdate returns the update document for cmds: one field per operator
// in the order the operators first appear, then extra (the store's own
// $set of expires, or $setOnInsert of the reserved fields). If extra's
// operator is also used by cmds then its fields are appended to it. Paths
// of cmds never overlap, so the server may apply the operators in any order.
//
// Values are encoded by encodeValue (maps with sorted keys).
//
// OpPull becomes $pullAll with one value: $pull would treat a document
// operand as a query and remove partial matches, while the reference
// semantics remove only equal elements.
func buildUpdate(cmds []session.Command, extra bson.E) (bson.D, error) {
	var update bson.D
	index := map[string]int{}
	add := func(op string, field bson.E) {
		i, ok := index[op]
		if !ok {
			i = len(update)
			index[op] = i
			update = append(update, bson.E{Key: op, Value: bson.D{}})
		}
		update[i].Value = append(update[i].Value.(bson.D), field)
	}
	for _, c := range cmds {
		op, field, err := operator(c)
		if err != nil {
			return nil, err
		}
		add(op, field)
	}
	for _, field := range extra.Value.(bson.D) {
		add(extra.Key, field)
	}
	return update, nil
}

// operator returns the MongoDB operator and its field for one command. It
// refuses reserved and invalid keys itself, so that a direct caller of the
// Store cannot overwrite the expiry or the user binding. OpTake is $unset
// (Apply returns the document before it); OpPush with Slice is $push with
// $each and $slice: -Slice, which keeps the last Slice elements.
func operator(c session.Command) (string, bson.E, error) {
	for _, p := range c.Paths() {
		if err := session.ValidateKey(p); err != nil {
			return "", bson.E{}, fmt.Errorf("command %s: %w", c, err)
		}
	}
	switch c.Op {
	case session.OpSet:
		return "$set", bson.E{Key: c.Path, Value: encodeValue(c.Value)}, nil
	case session.OpInc, session.OpPop:
		return c.Op.String(), bson.E{Key: c.Path, Value: c.Value}, nil
	case session.OpUnset, session.OpTake:
		return "$unset", bson.E{Key: c.Path, Value: ""}, nil
	case session.OpPush:
		each := bson.D{{Key: "$each", Value: encodeValues(c.Values)}}
		if c.Slice < 0 {
			return "", bson.E{}, fmt.Errorf("command %s: $slice length %d, want a positive number: %w", c, c.Slice, session.ErrInvalidValue)
		}
		if c.Slice > 0 {
			each = append(each, bson.E{Key: "$slice", Value: -int64(c.Slice)})
		}
		return "$push", bson.E{Key: c.Path, Value: each}, nil
	case session.OpAddToSet:
		return "$addToSet", bson.E{Key: c.Path, Value: bson.D{{Key: "$each", Value: encodeValues(c.Values)}}}, nil
	case session.OpPull:
		return "$pullAll", bson.E{Key: c.Path, Value: bson.A{encodeValue(c.Value)}}, nil
	case session.OpPullAll:
		return "$pullAll", bson.E{Key: c.Path, Value: encodeValues(c.Values)}, nil
	case session.OpRename:
		return "$rename", bson.E{Key: c.Path, Value: c.To}, nil
	}
	return "", bson.E{}, fmt.Errorf("command %s: unknown operator: %w", c, session.ErrInvalidValue)
}

// projection returns the projection of the reserved fields and of keys,
// deduplicated. A name that cannot be a top-level key (a dotted path, a
// '$' segment, a reserved field) is left out: the session cannot hold it
// as a key, so it is absent from the result, as in the reference store;
// and projecting a dotted path would return part of a key.
func projection(keys ...[]string) bson.D {
	reserved := session.ReservedFields()
	out := make(bson.D, 0, len(reserved)+len(keys))
	seen := make(map[string]bool, len(reserved)+len(keys))
	for _, f := range reserved {
		seen[f] = true
		out = append(out, bson.E{Key: f, Value: 1})
	}
	for _, ks := range keys {
		for _, k := range ks {
			if seen[k] || strings.IndexByte(k, '.') >= 0 || session.ValidateKey(k) != nil {
				continue
			}
			seen[k] = true
			out = append(out, bson.E{Key: k, Value: 1})
		}
	}
	return out
}

// resultProjection returns the projection of what Create and Apply return
// for u (see session.Update): the reserved fields, the touched top-level
// keys and u.Fetch; nil, the whole document, for u.FetchAll.
func resultProjection(u session.Update) bson.D {
	if u.FetchAll {
		return nil
	}
	return projection(session.TouchedKeys(u.Commands), u.Fetch)
}

// projected reports whether projection p includes top-level key k.
func projected(p bson.D, k string) bool {
	for _, e := range p {
		if e.Key == k {
			return true
		}
	}
	return false
}
