package sessiontest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/atomicsession/atomicsession/session"
)

// reserved lists the reserved fields of a session document.
var reserved = session.ReservedFields()

// wantResult returns what Create and Apply must return for u, given the
// whole document before the step and after it, reserved fields included:
// the contract written on session.Update, spelt out here independently of
// session.Update.Result so that the suite checks that helper too.
//
//   - every reserved field the document holds after the step;
//   - for each command, its top-level key (and a Rename's target's) with
//     its whole value after the step, or absent if the step removed it;
//     for OpTake, the key's value before the step instead;
//   - the Fetch keys, or every key if FetchAll, as they are after the step;
//   - nothing else.
func wantResult(u session.Update, before, after session.Doc) session.Doc {
	out := session.Doc{}
	for _, f := range reserved {
		if v, ok := after[f]; ok {
			out[f] = v
		}
	}
	for k, v := range after {
		if u.FetchAll || slices.Contains(u.Fetch, k) {
			out[k] = v
		}
	}
	for _, c := range u.Commands {
		src := after
		if c.Op == session.OpTake {
			src = before
		}
		copyTop(out, src, c.Top())
		if c.Op == session.OpRename {
			copyTop(out, after, topOf(c.To))
		}
	}
	return out
}

func copyTop(dst, src session.Doc, k string) {
	if v, ok := src[k]; ok {
		dst[k] = v
	} else {
		delete(dst, k)
	}
}

// topOf returns the top-level key of a dotted path.
func topOf(path string) string {
	top, _, _ := strings.Cut(path, ".")
	return top
}

// touchedTops returns the top-level keys the commands of u touch.
func touchedTops(u session.Update) []string {
	var out []string
	for _, c := range u.Commands {
		out = append(out, c.Top())
		if c.Op == session.OpRename {
			out = append(out, topOf(c.To))
		}
	}
	return out
}

// checkResult checks that got, what Create or Apply returned for u, is
// exactly the result the contract asks for (see wantResult), given the
// reference documents before and after the step: the reserved fields after
// the step, and exactly the user keys it names, by session.Equal.
func checkResult(t testing.TB, label string, got session.Doc, u session.Update, before, after session.Doc) {
	t.Helper()
	want := wantResult(u, before, after)
	wm, err := session.MetaOf(want)
	if err != nil {
		t.Fatalf("sessiontest: reserved fields of the expected result: %v", err)
	}
	checkMeta(t, label+": result", got, wm)
	touched := touchedTops(u)
	var problems []string
	for _, k := range sortedKeys(map[string]any(want.User())) {
		g, ok := got[k]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("key %q is missing; want %s (%s)", k, show(want[k]), whyReturned(u, k)))
		case !session.Equal(g, want[k]):
			problems = append(problems, fmt.Sprintf("key %q is %s; want %s (%s)", k, show(g), show(want[k]), whyReturned(u, k)))
		}
	}
	for _, k := range sortedKeys(map[string]any(got.User())) {
		if _, ok := want[k]; ok {
			continue
		}
		if slices.Contains(touched, k) {
			problems = append(problems, fmt.Sprintf("key %q is %s; want it absent: the step removed it", k, show(got[k])))
		} else {
			problems = append(problems, fmt.Sprintf("key %q is %s; want it absent: the step did not touch it "+
				"(Create and Apply return the reserved fields, the touched top-level keys and the Fetch keys, "+
				"never the whole document: see session.Update)", k, show(got[k])))
		}
	}
	if len(problems) > 0 {
		t.Errorf("%s on %s: the result %s is wrong:\n\t%s", label, showUser(before), showUser(got), strings.Join(problems, "\n\t"))
	}
}

// whyReturned says why key k belongs in the result of u.
func whyReturned(u session.Update, k string) string {
	for _, c := range u.Commands {
		if c.Op == session.OpTake && c.Top() == k {
			return "the value before the step, which OpTake returns"
		}
	}
	if slices.Contains(touchedTops(u), k) {
		return "a touched key, as it is after the step"
	}
	return "a fetched key, as it is after the step"
}

// checkWhole checks that got, what Load(nil) returned, holds exactly the
// document want: its reserved fields and user keys.
func checkWhole(t testing.TB, label string, got, want session.Doc) {
	t.Helper()
	wm, err := session.MetaOf(want)
	if err != nil {
		t.Fatalf("sessiontest: reserved fields of the expected document: %v", err)
	}
	checkMeta(t, label, got, wm)
	if !sameUser(got, want) {
		t.Errorf("%s: user keys %s; want %s", label, showUser(got), showUser(want))
	}
}

// showUpdate formats an update for a test message.
func showUpdate(u session.Update) string {
	var b strings.Builder
	b.WriteString(showCommands(u.Commands))
	if u.MaxAge != 0 {
		fmt.Fprintf(&b, " maxAge %v", u.MaxAge)
	}
	if u.Label != "" {
		fmt.Fprintf(&b, " label %q", u.Label)
	}
	if u.Fetch != nil {
		fmt.Fprintf(&b, " fetch %q", u.Fetch)
	}
	if u.FetchAll {
		b.WriteString(" fetch all")
	}
	return b.String()
}
