package mongo

import (
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/atomicsession/atomicsession/session"
)

// decodeDoc converts a session document read from the server to a
// session.Doc of canonical values (see decodeValue). If only is not nil
// then only the top-level fields that the projection only includes are
// decoded; the others are left out.
func decodeDoc(raw bson.Raw, only bson.D) (session.Doc, error) {
	elems, err := raw.Elements()
	if err != nil {
		return nil, fmt.Errorf("decode session document: %w", err)
	}
	out := make(session.Doc, len(elems))
	for _, e := range elems {
		if only != nil && !projected(only, e.Key()) {
			continue
		}
		v, err := decodeValue(e.Value())
		if err != nil {
			return nil, fmt.Errorf("decode session document: field %q: %w", e.Key(), err)
		}
		out[e.Key()] = v
	}
	return out, nil
}

func decodeMap(raw bson.Raw) (map[string]any, error) {
	elems, err := raw.Elements()
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(elems))
	for _, e := range elems {
		v, err := decodeValue(e.Value())
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", e.Key(), err)
		}
		out[e.Key()] = v
	}
	return out, nil
}

func decodeArray(raw bson.RawArray) ([]any, error) {
	vals, err := raw.Values()
	if err != nil {
		return nil, err
	}
	out := make([]any, len(vals))
	for i, rv := range vals {
		v, err := decodeValue(rv)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}

// decodeValue converts one BSON value to the canonical types of a
// session.Doc: int32 and int64 become int64, doubles float64, dates
// time.Time in UTC, documents map[string]any, arrays []any, null and
// undefined nil. Other BSON types are not session values and are an error.
func decodeValue(rv bson.RawValue) (any, error) {
	switch rv.Type {
	case bson.TypeNull, bson.TypeUndefined:
		return nil, nil
	case bson.TypeBoolean:
		return rv.Boolean(), nil
	case bson.TypeString:
		return rv.StringValue(), nil
	case bson.TypeInt32:
		return int64(rv.Int32()), nil
	case bson.TypeInt64:
		return rv.Int64(), nil
	case bson.TypeDouble:
		return rv.Double(), nil
	case bson.TypeDateTime:
		return time.UnixMilli(rv.DateTime()).UTC(), nil
	case bson.TypeEmbeddedDocument:
		return decodeMap(rv.Document())
	case bson.TypeArray:
		return decodeArray(rv.Array())
	}
	return nil, fmt.Errorf("BSON type %s is not a session value: %w", rv.Type, session.ErrInvalidValue)
}

// encodeValue converts a canonical session value to what the driver sends:
// maps become documents with their keys sorted, recursively. MongoDB
// compares embedded documents field by field in order, so a map must
// always be written in the same order for $pull, $pullAll and $addToSet to
// find an equal document; Go's map order is random. Other values go as
// they are: int64 as a BSON int64, float64 as a double, time.Time as a
// BSON date (millisecond precision), nil as null.
func encodeValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return encodeMap(x)
	case session.Doc:
		return encodeMap(x)
	case []any:
		out := make(bson.A, len(x))
		for i, e := range x {
			out[i] = encodeValue(e)
		}
		return out
	}
	return v
}

func encodeMap(m map[string]any) bson.D {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(bson.D, len(keys))
	for i, k := range keys {
		out[i] = bson.E{Key: k, Value: encodeValue(m[k])}
	}
	return out
}

// encodeValues is encodeValue for the operands of a command; a nil slice
// becomes an empty array, as the server refuses null where it expects one.
func encodeValues(vs []any) bson.A {
	out := make(bson.A, len(vs))
	for i, v := range vs {
		out[i] = encodeValue(v)
	}
	return out
}
