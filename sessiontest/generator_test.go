package sessiontest

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/atomicsession/atomicsession/session"
)

// TestGeneratorCoverage checks that the Differential subtest's random
// batches exercise what it is for: every operator in batches that apply,
// and a fair share of batches that fail, on the reference semantics.
func TestGeneratorCoverage(t *testing.T) {
	g := &generator{r: rand.New(rand.NewPCG(1, 2))}
	var applied, failed, total int
	opsApplied := map[session.Op]int{}
	sliced, fetched := 0, 0
	for range 20 {
		model := session.Doc{}
		for range 100 {
			b := g.batch()
			total++
			if len(b) == 0 {
				t.Fatal("generator made an empty batch")
			}
			for _, c := range b {
				if c.Op == session.OpTake && len(b) > 1 {
					t.Fatalf("batch %s holds a Take with other commands; the session sends Take alone", showCommands(b))
				}
			}
			u := session.Update{Commands: b}
			g.fetch(&u)
			if u.FetchAll || len(u.Fetch) > 0 {
				fetched++
			}
			ref, err := session.ApplyCommands(model, b)
			if err != nil {
				if !errors.Is(err, session.ErrTypeMismatch) {
					t.Errorf("batch %s fails with %v; want only ErrTypeMismatch failures", showCommands(b), err)
				}
				failed++
				continue
			}
			applied++
			for _, c := range b {
				opsApplied[c.Op]++
				if c.Slice > 0 {
					sliced++
				}
			}
			model = ref
		}
	}
	t.Logf("%d batches: %d applied, %d failed, %d fetching; operators in applied batches: %v, %d with $slice",
		total, applied, failed, fetched, opsApplied, sliced)
	if applied < total/3 || failed < total/10 {
		t.Errorf("%d of %d batches applied and %d failed; want at least a third applied and a tenth failed", applied, total, failed)
	}
	if sliced < 20 || fetched < total/5 {
		t.Errorf("%d applied pushes with $slice and %d of %d batches fetching; want at least 20 and a fifth", sliced, fetched, total)
	}
	for op := session.OpSet; op <= session.OpTake; op++ {
		if opsApplied[op] < 20 {
			t.Errorf("%s is in %d applied batches; want at least 20", op, opsApplied[op])
		}
	}
}

// TestGeneratorPrepares checks that almost every generated command is
// valid, so the batches are not mostly retries.
func TestGeneratorPrepares(t *testing.T) {
	g := &generator{r: rand.New(rand.NewPCG(3, 4))}
	bad := 0
	for range 1000 {
		if _, err := session.PrepareCommand(g.command()); err != nil {
			bad++
		}
	}
	if bad > 20 {
		t.Errorf("%d of 1000 generated commands fail PrepareCommand; want at most 20", bad)
	}
}

// TestGeneratorFlat checks that with WithoutNestedArrays no command, and no
// document the commands make, holds an array inside an array, while arrays
// are still made.
func TestGeneratorFlat(t *testing.T) {
	g := &generator{r: rand.New(rand.NewPCG(5, 6)), flat: true}
	arrays := 0
	for range 20 {
		model := session.Doc{}
		for range 100 {
			b := g.batch()
			for _, c := range b {
				if hasNestedArray(c.Value) || hasNestedArray(c.Values) {
					t.Fatalf("command %s holds a nested array", showCommands([]session.Command{c}))
				}
				if _, ok := c.Value.([]any); ok && c.Op == session.OpPull {
					t.Fatalf("command %s pulls an array", showCommands([]session.Command{c}))
				}
			}
			if ref, err := session.ApplyCommands(model, b); err == nil {
				model = ref
			}
			if hasNestedArray(map[string]any(model)) {
				t.Fatalf("after %s the document holds a nested array: %s", showCommands(b), showUser(model))
			}
		}
		for _, v := range model {
			if _, ok := v.([]any); ok {
				arrays++
			}
		}
	}
	if arrays < 10 {
		t.Errorf("only %d top-level arrays in 20 final documents; flat mode should still make arrays", arrays)
	}
}
