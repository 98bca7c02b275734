package sessiontest

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/session"
)

// TestNames checks that the names Skip accepts are exactly the subtests Run
// runs, so that Skip and the suite cannot drift apart.
func TestNames(t *testing.T) {
	var ran []string
	record := func(c *config) { c.onRun = func(name string) { ran = append(ran, name) } }
	Run(t, func(t *testing.T) session.Store {
		s := memory.NewStore()
		t.Cleanup(func() { s.Close() })
		return s
	}, record, WithConcurrency(2, 2), WithSetRounds(2), WithDifferential(1, 2), WithShortMaxAge(time.Millisecond))
	want := (&suite{cfg: newConfig(nil)}).names()
	if !slices.Equal(ran, want) {
		t.Errorf("Run ran subtests\n%v\nbut names() lists\n%v", ran, want)
	}
}

// TestNamesDocumented checks that the package documentation lists every
// subtest: by full name, but for the operator cases, which it describes by
// pattern, and the values, which it lists by their last part.
func TestNamesDocumented(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	for _, name := range (&suite{cfg: newConfig(nil)}).names() {
		switch {
		case strings.HasPrefix(name, "Operators/"):
			continue
		case strings.HasPrefix(name, "Values/"):
			name = strings.TrimPrefix(name, "Values/")
		}
		if !strings.Contains(text, name) {
			t.Errorf("doc.go does not mention subtest %s", name)
		}
	}
}
