package mongo

import (
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/atomicsession/atomicsession/session"
)

func keysOf(p bson.D) []string {
	if p == nil {
		return nil
	}
	out := []string{}
	for _, e := range p {
		out = append(out, e.Key)
	}
	return out
}

func TestResultProjection(t *testing.T) {
	reserved := session.ReservedFields()
	with := func(keys ...string) []string { return append(append([]string{}, reserved...), keys...) }
	cases := []struct {
		name string
		u    session.Update
		want []string
	}{
		{"touch", session.Update{}, with()},
		{"touched tops, deduplicated", session.Update{Commands: []session.Command{
			{Op: session.OpSet, Path: "a.b"}, {Op: session.OpInc, Path: "a.c"}, {Op: session.OpRename, Path: "x", To: "y.z"},
		}}, with("a", "x", "y")},
		{"fetch", session.Update{Commands: []session.Command{{Op: session.OpSet, Path: "a"}}, Fetch: []string{"b", "a", "c.d", "_user"}}, with("a", "b")},
		{"take", session.Update{Commands: []session.Command{{Op: session.OpTake, Path: "flash"}}}, with("flash")},
		{"fetch all", session.Update{Commands: []session.Command{{Op: session.OpSet, Path: "a"}}, FetchAll: true}, nil},
	}
	for _, tc := range cases {
		if got := keysOf(resultProjection(tc.u)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: projection %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPushWithSliceOperator(t *testing.T) {
	op, field, err := operator(session.Command{Op: session.OpPush, Path: "recent", Values: []any{int64(1)}, Slice: 5})
	want := bson.E{Key: "recent", Value: bson.D{{Key: "$each", Value: bson.A{int64(1)}}, {Key: "$slice", Value: int64(-5)}}}
	if err != nil || op != "$push" || !reflect.DeepEqual(field, want) {
		t.Fatalf("PushLast operator = %s %v, %v; want $push %v", op, field, err, want)
	}
	_, field, _ = operator(session.Command{Op: session.OpPush, Path: "all", Values: []any{int64(1)}})
	for _, e := range field.Value.(bson.D) {
		if e.Key == "$slice" {
			t.Fatalf("Push without Slice sent $slice: %v", field)
		}
	}
}
