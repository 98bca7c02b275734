package mongo

import (
	"fmt"

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
// Store cannot overwrite the CSRF secret or the expiry.
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
	case session.OpUnset:
		return "$unset", bson.E{Key: c.Path, Value: ""}, nil
	case session.OpPush, session.OpAddToSet:
		return c.Op.String(), bson.E{Key: c.Path, Value: bson.D{{Key: "$each", Value: encodeValues(c.Values)}}}, nil
	case session.OpPull:
		return "$pullAll", bson.E{Key: c.Path, Value: bson.A{encodeValue(c.Value)}}, nil
	case session.OpPullAll:
		return "$pullAll", bson.E{Key: c.Path, Value: encodeValues(c.Values)}, nil
	case session.OpRename:
		return "$rename", bson.E{Key: c.Path, Value: c.To}, nil
	}
	return "", bson.E{}, fmt.Errorf("command %s: unknown operator: %w", c, session.ErrInvalidValue)
}
