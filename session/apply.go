package session

// The reference semantics of the update operators.
//
// ApplyCommands is MongoDB's update operators written in Go: the memory and
// Redis stores apply commands with it, the MongoDB store sends the operators
// to the server, and the sessiontest conformance suite compares every store
// with it. The choices below follow MongoDB's documentation and, where that is
// silent, its server source (src/mongo/db/update: modifier_node.cpp,
// rename_node.cpp, path_support.cpp, arithmetic_node.cpp).
//
// Paths are field names joined by dots. ValidateKey forbids all-digit
// segments, so a path never indexes into an array and none of MongoDB's
// array-element paths ("a.0.b", "a.$") exist here. A path "runs through" an
// element when that element is one of its proper prefixes.
//
//   - Creating operators ($set, $inc, $push, $addToSet, and $rename's target)
//     create the missing documents along the path. If the path runs through
//     an element that exists and is not a document (a string, a number, null,
//     an array ...), they fail with ErrTypeMismatch, as MongoDB's
//     PathNotViable "Cannot create field 'b' in element {a: ...}".
//   - $unset of a missing path, or of one that runs through a non-document,
//     is a no-op (MongoDB's $unset accepts non-viable paths). Documents it
//     empties stay, as empty documents.
//   - $pull, $pullAll and $pop of a missing path are no-ops, but a path that
//     runs through a non-document fails with ErrTypeMismatch: MongoDB checks
//     the viability of the path for every operator but $unset, even when it
//     would change nothing. On a value that is not an array they fail.
//   - $inc: a missing field is created holding the amount. On a value that is
//     not a number (null and bool included) it fails. int64 + int64 stays
//     int64 and fails on overflow, as MongoDB fails ("Failed to apply $inc");
//     if either side is a float the result is float64. int32 and int values
//     found in a document count as integers (drivers decode small BSON
//     integers as int32). A float result of ±Inf fails too: MongoDB would
//     store Infinity, which JSON-based stores cannot hold.
//   - $push appends every value (as $push with $each); $addToSet appends each
//     value that is not yet in the array nor among the values it added before
//     (by Equal). On a missing field both create the array, an empty one if
//     there are no values (as MongoDB does for an empty $each). On a value
//     that is not an array they fail.
//   - $pull removes every element Equal to the operand, $pullAll every element
//     Equal to one of the operands. A document operand is compared whole:
//     MongoDB's $pull would read a document operand as a query on the
//     elements, so the session sends Pull to MongoDB as $pullAll.
//   - $pop removes the last element (1) or the first (-1); an empty array
//     stays empty.
//   - $rename: a missing source is a no-op, whatever the target. A source
//     path that runs through a non-document (array and null included) fails,
//     as MongoDB does ("cannot use the part ... to traverse the element").
//     The target is overwritten if it exists; a target path that runs through
//     a non-document fails. Source and target must not overlap (ErrConflict,
//     as MongoDB's "must not be on the same path").
//   - Equality (for $addToSet, $pull, $pullAll) is Equal: numbers by value
//     across types, times by millisecond, documents ignoring field order.
//     MongoDB compares BSON documents in field order; Go maps have none, so a
//     MongoDB store should encode maps with sorted keys to match this.
//
// ApplyCommands applies the commands in order, each seeing the result of the
// ones before; it does not forbid overlapping paths (the session splits those
// into separate updates). It is all or nothing: on the first failure it
// returns the error and no document.
//
// Sharing. ApplyCommands never changes doc, but it does not deep-copy it
// either: it copies the documents along each changed path (copy on write)
// and replaces changed arrays with new ones, so the result shares every
// value that the commands left alone with doc. On a 64 KB session a
// one-key $set then costs a copy of the top-level map, about 7 µs, instead
// of a deep copy of the whole session, about 200 µs and 770 allocations
// (BenchmarkApplyCommands). The price is that the values inside doc and
// inside the result must be treated as immutable: a store keeps the result
// as its new document (it may set top-level keys such as expires, as the
// top-level map is always new), never changes the values of a stored
// document in place, and hands out Doc.Clone copies (or documents that its
// callers promise not to change).

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"strings"
)

// PrepareCommand validates c and returns a copy of it with its operands
// normalized (see Normalize), ready for a Store. It checks that:
//
//   - c.Op is a known operator;
//   - c.Path, and c.To for OpRename, are valid keys (see ValidateKey);
//   - for OpRename, c.To differs from c.Path and neither is a dotted prefix
//     of the other (ErrConflict otherwise);
//   - for OpInc, c.Value is a Go integer or float (it becomes int64 or
//     float64);
//   - for OpPop, c.Value is a Go integer equal to 1 or -1 (it becomes int64);
//   - for OpSet and OpPull, c.Value normalizes; for OpPush, OpPullAll and
//     OpAddToSet, every element of c.Values does (a nil Values becomes an
//     empty slice);
//   - the operands, with the documents the path creates, nest at most 100
//     levels deep, and take at most MaxValueSize bytes.
//
// Fields the operator does not use are cleared in the copy. Errors wrap
// ErrInvalidKey, ErrReservedKey, ErrInvalidValue, ErrTooLarge or ErrConflict
// and name the operator and the key.
func PrepareCommand(c Command) (Command, error) {
	out, err := prepareCommand(c)
	if err != nil {
		return Command{}, fmt.Errorf("%s: %w", c, err)
	}
	return out, nil
}

func prepareCommand(c Command) (Command, error) {
	out := Command{Op: c.Op, Path: c.Path}
	if err := ValidateKey(c.Path); err != nil {
		return out, err
	}
	depth := strings.Count(c.Path, ".") // documents the path creates
	var err error
	switch c.Op {
	case OpSet, OpPull:
		out.Value, err = normalize(c.Value, depth)
	case OpUnset, OpTake:
	case OpInc:
		out.Value, err = incAmount(c.Value)
	case OpPop:
		out.Value, err = popEnd(c.Value)
	case OpPush, OpPullAll, OpAddToSet:
		out.Values, err = normalizeValues(c.Values, depth)
		if c.Op == OpPush && c.Slice != 0 {
			out.Slice = c.Slice
			if c.Slice < 0 {
				err = fmt.Errorf("the $slice length is %d, want a positive number: %w", c.Slice, ErrInvalidValue)
			}
		}
	case OpRename:
		out.To = c.To
		err = checkRename(c.Path, c.To)
	default:
		err = fmt.Errorf("unknown operator: %w", ErrInvalidValue)
	}
	if err != nil {
		return out, err
	}
	size := valueSize(out.Value)
	if out.Values != nil {
		size += valueSize(out.Values)
	}
	if size > MaxValueSize {
		return out, fmt.Errorf("operands take about %d bytes, more than MaxValueSize (%d): %w",
			size, MaxValueSize, ErrTooLarge)
	}
	return out, nil
}

// normalizeValues normalizes the operands of $push, $pullAll and $addToSet,
// which go into an array at depth (so its elements are one level deeper).
func normalizeValues(vs []any, depth int) ([]any, error) {
	if err := enterLevel(depth); err != nil {
		return nil, err
	}
	out := make([]any, len(vs))
	for i, v := range vs {
		n, err := normalize(v, depth+1)
		if err != nil {
			return nil, atIndex(err, i)
		}
		out[i] = n
	}
	return out, nil
}

// incAmount checks and converts the amount of $inc: any Go integer or float
// type, as int64 or float64.
func incAmount(v any) (any, error) {
	if v != nil {
		switch reflect.TypeOf(v).Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64:
			return Normalize(v)
		}
	}
	return nil, fmt.Errorf("the $inc amount is %T, not a number: %w", v, ErrInvalidValue)
}

// popEnd checks and converts the operand of $pop: a Go integer of value 1
// (the last element) or -1 (the first).
func popEnd(v any) (any, error) {
	if v != nil {
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			if n := rv.Int(); n == 1 || n == -1 {
				return n, nil
			}
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			if rv.Uint() == 1 {
				return int64(1), nil
			}
		}
	}
	return nil, fmt.Errorf("the $pop operand is %#v; want 1 (the last element) or -1 (the first): %w", v, ErrInvalidValue)
}

func checkRename(from, to string) error {
	if err := ValidateKey(to); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if Overlaps(from, to) {
		return fmt.Errorf("source and target overlap: %w", ErrConflict)
	}
	return nil
}

// ApplyCommands applies cmds, in order, to doc and returns the document
// after them, with the semantics of MongoDB's update operators (the comment
// at the top of apply.go gives the details and the reasons):
//
//   - Set, Inc, Push and AddToSet create the missing documents on their
//     path; Inc, Push and AddToSet create a missing field (holding the
//     amount, or an array of the values);
//   - Unset, Pull, PullAll, Pop and Rename of a missing field are no-ops, as
//     is Pop of an empty array;
//   - a path that runs through a value that is not a document fails with
//     ErrTypeMismatch, except for Unset, for which it is a no-op;
//   - Inc on a non-number, past the int64 range, or to a float ±Inf, and
//     Push, AddToSet, Pull, PullAll or Pop on a non-array fail with
//     ErrTypeMismatch;
//   - AddToSet, Pull and PullAll compare values with Equal;
//   - Rename overwrites its target.
//
// Commands do not have to touch distinct paths: each sees the result of
// the ones before. A nil doc is an empty one.
//
// It is all or nothing: if a command does not apply, ApplyCommands returns a
// nil Doc and an error that names the command and wraps ErrTypeMismatch or,
// for a Rename onto its own path, ErrConflict. Commands should come from
// PrepareCommand; others get the same checks (ErrInvalidKey,
// ErrReservedKey, ErrInvalidValue) but no normalization, and never cause a
// panic.
//
// doc is never changed, but the result is not a deep copy of it (copy on
// write): the returned Doc is a new map, whose top-level keys the caller may
// set and delete, but the values in it that cmds did not change are shared
// with doc. So neither doc's values nor the result's may be changed in place
// afterwards; use Doc.Clone to get a copy to change.
func ApplyCommands(doc Doc, cmds []Command) (Doc, error) {
	return applyCommands(doc, cmds, true)
}

// ownedDoc is a document that the running ApplyCommands made and may change
// in place. Every other document (map[string]any, Doc) may be shared with
// the caller's doc and is copied into an ownedDoc before it changes.
// ApplyCommands turns every ownedDoc back into map[string]any before it
// returns.
type ownedDoc map[string]any

// applyCommands is ApplyCommands; with share false it first deep-copies doc
// entirely (the simple, slow way, which the tests compare against).
func applyCommands(doc Doc, cmds []Command, share bool) (Doc, error) {
	var root ownedDoc
	if share {
		root = make(ownedDoc, len(doc)+1)
		maps.Copy(root, doc)
	} else {
		root = ownAll(doc)
	}
	for i, c := range cmds {
		if err := applyCommand(root, c); err != nil {
			return nil, &CommandError{Index: i, Err: fmt.Errorf("%s: %w", c, err)}
		}
	}
	return Doc(releaseOwned(root)), nil
}

// applyCommand applies one command to root, in place.
func applyCommand(root ownedDoc, c Command) error {
	if err := ValidateKey(c.Path); err != nil {
		return err
	}
	p := splitPath(c.Path)
	switch c.Op {
	case OpSet:
		v, err := cloneOperand(c.Value)
		if err != nil {
			return err
		}
		return setAtPath(root, p, v)
	case OpUnset, OpTake:
		unsetAtPath(root, p)
		return nil
	case OpInc:
		return applyInc(root, p, c.Value)
	case OpPush:
		return applyPush(root, p, c.Values, c.Slice)
	case OpAddToSet:
		return applyAddToSet(root, p, c.Values)
	case OpPull:
		return applyPull(root, p, c.Op, []any{c.Value})
	case OpPullAll:
		return applyPull(root, p, c.Op, c.Values)
	case OpPop:
		return applyPop(root, p, c.Value)
	case OpRename:
		if err := checkRename(c.Path, c.To); err != nil {
			return err
		}
		return applyRename(root, p, splitPath(c.To))
	}
	return fmt.Errorf("unknown operator: %w", ErrInvalidValue)
}

// lookup finds the value at path p in root without changing anything. If
// the path exists it returns the value and ok. If the path runs through an
// element that is not a document, it returns that element and blocked, the
// number of segments that lead to it (p[:blocked]). Otherwise the path is
// missing but could be created.
func lookupPath(root ownedDoc, p []string) (v any, ok bool, blocked int) {
	m := map[string]any(root)
	for i, seg := range p {
		v, ok = m[seg]
		if !ok {
			return nil, false, 0
		}
		if i == len(p)-1 {
			return v, true, 0
		}
		if m, ok = asDoc(v); !ok {
			return v, false, i + 1
		}
	}
	return nil, false, 0
}

// notViable is the error of a path p that runs through p[:blocked], which
// holds v, not a document.
func notViable(p []string, blocked int, v any) error {
	return fmt.Errorf("cannot create field %q in element %q, which holds %s, not a document: %w",
		p[blocked], strings.Join(p[:blocked], "."), describeValue(v), ErrTypeMismatch)
}

// parentFor returns the document that holds (or will hold) the last segment
// of p, ready to change: the documents on the way are copied if shared and
// created if missing. It fails if p runs through a non-document.
func parentFor(root ownedDoc, p []string) (ownedDoc, error) {
	m := root
	for i, seg := range p[:len(p)-1] {
		child, present := m[seg]
		if owned, ok := child.(ownedDoc); ok {
			m = owned
			continue
		}
		next := ownedDoc{}
		if present {
			shared, ok := asDoc(child)
			if !ok {
				return nil, notViable(p, i+1, child)
			}
			next = make(ownedDoc, len(shared)+1)
			maps.Copy(next, shared)
		}
		m[seg] = next
		m = next
	}
	return m, nil
}

func lastSegment(p []string) string { return p[len(p)-1] }

func setAtPath(root ownedDoc, p []string, v any) error {
	m, err := parentFor(root, p)
	if err != nil {
		return err
	}
	m[lastSegment(p)] = v
	return nil
}

func unsetAtPath(root ownedDoc, p []string) {
	if _, ok, _ := lookupPath(root, p); !ok {
		return // missing, or through a non-document: a no-op
	}
	if m, err := parentFor(root, p); err == nil {
		delete(m, lastSegment(p))
	}
}

func applyInc(root ownedDoc, p []string, amount any) error {
	by, ok := asNumber(amount)
	if !ok || (by.isFloat && (math.IsNaN(by.f) || math.IsInf(by.f, 0))) {
		return fmt.Errorf("the $inc amount is %T %v, not a finite number: %w", amount, amount, ErrInvalidValue)
	}
	cur, ok, blocked := lookupPath(root, p)
	if blocked > 0 {
		return notViable(p, blocked, cur)
	}
	if !ok {
		return setAtPath(root, p, by.value())
	}
	n, isNum := asNumber(cur)
	if !isNum {
		return fmt.Errorf("cannot apply $inc to %s: %w", describeValue(cur), ErrTypeMismatch)
	}
	sum, err := addNumbers(n, by)
	if err != nil {
		return err
	}
	return setAtPath(root, p, sum)
}

// add adds two numbers as MongoDB's $inc does.
func addNumbers(a, b numValue) (any, error) {
	if !a.isFloat && !b.isFloat {
		s := a.i + b.i
		if (a.i >= 0) == (b.i >= 0) && (s >= 0) != (a.i >= 0) {
			return nil, fmt.Errorf("%d + %d overflows int64: %w", a.i, b.i, ErrTypeMismatch)
		}
		return s, nil
	}
	s := a.float() + b.float()
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return nil, fmt.Errorf("%v + %v is not a finite float64: %w", a.value(), b.value(), ErrTypeMismatch)
	}
	return s, nil
}

// existingArray looks up the array that op changes at p. It returns ok false
// if the path is missing, and an error if the path runs through a
// non-document or the value is not an array.
func existingArray(root ownedDoc, p []string, op Op) (arr []any, ok bool, err error) {
	cur, ok, blocked := lookupPath(root, p)
	if blocked > 0 {
		return nil, false, notViable(p, blocked, cur)
	}
	if !ok {
		return nil, false, nil
	}
	if arr, ok = asArray(cur); !ok {
		return nil, false, fmt.Errorf("cannot apply %s to %s, not an array: %w", op, describeValue(cur), ErrTypeMismatch)
	}
	return arr, true, nil
}

func applyPush(root ownedDoc, p []string, values []any, slice int) error {
	arr, ok, err := existingArray(root, p, OpPush)
	if err != nil || (ok && len(values) == 0 && (slice <= 0 || len(arr) <= slice)) {
		return err
	}
	out := make([]any, len(arr), len(arr)+len(values))
	copy(out, arr)
	for _, v := range values {
		c, err := cloneOperand(v)
		if err != nil {
			return err
		}
		out = append(out, c)
	}
	if slice > 0 && len(out) > slice {
		out = append([]any(nil), out[len(out)-slice:]...)
	}
	return setAtPath(root, p, out)
}

func applyAddToSet(root ownedDoc, p []string, values []any) error {
	arr, ok, err := existingArray(root, p, OpAddToSet)
	if err != nil {
		return err
	}
	var added []any
	for _, v := range values {
		c, err := cloneOperand(v)
		if err != nil {
			return err
		}
		if !containsEqual(arr, c) && !containsEqual(added, c) {
			added = append(added, c)
		}
	}
	if ok && len(added) == 0 {
		return nil
	}
	out := make([]any, 0, len(arr)+len(added))
	out = append(out, arr...)
	return setAtPath(root, p, append(out, added...))
}

func applyPull(root ownedDoc, p []string, op Op, values []any) error {
	arr, ok, err := existingArray(root, p, op)
	if err != nil || !ok {
		return err
	}
	for _, v := range values {
		if err := checkOperand(v); err != nil {
			return err
		}
	}
	out := make([]any, 0, len(arr))
	for _, e := range arr {
		if !containsEqual(values, e) {
			out = append(out, e)
		}
	}
	if len(out) == len(arr) {
		return nil
	}
	return setAtPath(root, p, out)
}

func applyPop(root ownedDoc, p []string, end any) error {
	e, err := popEnd(end)
	if err != nil {
		return err
	}
	arr, ok, err := existingArray(root, p, OpPop)
	if err != nil || !ok || len(arr) == 0 {
		return err
	}
	out := make([]any, len(arr)-1)
	if e == int64(1) {
		copy(out, arr[:len(arr)-1])
	} else {
		copy(out, arr[1:])
	}
	return setAtPath(root, p, out)
}

func applyRename(root ownedDoc, from, to []string) error {
	v, ok, blocked := lookupPath(root, from)
	if blocked > 0 {
		return fmt.Errorf("cannot rename %q: element %q holds %s, not a document: %w",
			strings.Join(from, "."), strings.Join(from[:blocked], "."), describeValue(v), ErrTypeMismatch)
	}
	if !ok {
		return nil
	}
	if cur, _, blocked := lookupPath(root, to); blocked > 0 {
		return notViable(to, blocked, cur)
	}
	unsetAtPath(root, from)
	return setAtPath(root, to, v) // moved, not copied: it left from
}

// cloneOperand deep-copies a command's operand into the document, so that
// the result does not share it with the command. It fails on values nested
// too deeply (such as a cyclic value in a command that was not prepared).
func cloneOperand(v any) (any, error) {
	if err := checkOperand(v); err != nil {
		return nil, err
	}
	return cloneValue(v), nil
}

// checkOperand fails if v nests more than maxDepth levels (a prepared
// operand never does), so that a cyclic operand cannot exhaust the stack.
func checkOperand(v any) error {
	if nesting(v, 0) > maxDepth {
		return invalidValue("operand nests more than %d levels deep (is it cyclic?)", maxDepth)
	}
	return nil
}

// nesting returns how deeply v nests documents and arrays, stopping past
// maxDepth.
func nesting(v any, depth int) int {
	if depth > maxDepth {
		return depth
	}
	deepest := depth
	visit := func(e any) {
		if d := nesting(e, depth+1); d > deepest {
			deepest = d
		}
	}
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			visit(e)
			if deepest > maxDepth {
				break
			}
		}
	case map[string]any:
		for _, e := range x {
			visit(e)
			if deepest > maxDepth {
				break
			}
		}
	case Doc:
		return nesting(map[string]any(x), depth)
	}
	return deepest
}

// describe names the type of a document value for error messages.
func describeValue(v any) string {
	if v == nil {
		return "null"
	}
	if _, ok := asDoc(v); ok {
		return "a document"
	}
	if _, ok := asArray(v); ok {
		return "an array"
	}
	return fmt.Sprintf("a value of type %T", v)
}

// release turns the ownedDocs under m back into map[string]any. Only owned
// documents can hold owned documents, so it descends into nothing else.
func releaseOwned(m ownedDoc) map[string]any {
	for k, v := range m {
		if owned, ok := v.(ownedDoc); ok {
			m[k] = releaseOwned(owned)
		}
	}
	return map[string]any(m)
}

// ownAll deep-copies doc as owned documents (arrays as []any).
func ownAll(doc map[string]any) ownedDoc {
	out := make(ownedDoc, len(doc))
	for k, v := range doc {
		if d, ok := asDoc(v); ok {
			out[k] = ownAll(d)
		} else {
			out[k] = cloneValue(v)
		}
	}
	return out
}
