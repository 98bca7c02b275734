package session

import (
	"fmt"
	"strings"
	"testing"
)

// doc64KB returns a session document of about 64 KB (estimated as BSON):
// 64 top-level keys, each a document of 16 fields holding strings, numbers
// and a small array.
func doc64KB() Doc {
	doc := Doc{}
	for i := range 64 {
		sub := map[string]any{}
		for j := range 16 {
			switch j % 4 {
			case 0:
				sub[fmt.Sprintf("n%d", j)] = int64(i * j)
			case 1:
				sub[fmt.Sprintf("l%d", j)] = []any{"x", int64(j), 1.5}
			default:
				sub[fmt.Sprintf("s%d", j)] = strings.Repeat("v", 88)
			}
		}
		doc[fmt.Sprintf("key%02d", i)] = sub
	}
	return doc
}

func TestDoc64KBIsAbout64KB(t *testing.T) {
	if size := valueSize(map[string]any(doc64KB())); size < 60<<10 || size > 68<<10 {
		t.Fatalf("doc64KB is %d bytes", size)
	}
}

// BenchmarkApplyCommands measures a one-key $set on a 64 KB session: the
// memory store does this under its lock. "CopyOnWrite" is ApplyCommands;
// "DeepCopy" is the same with a deep copy of the whole document first, and
// "Clone" the deep copy alone, for comparison.
func BenchmarkApplyCommands(b *testing.B) {
	doc := doc64KB()
	top, err := PrepareCommand(Command{Op: OpSet, Path: "visits", Value: 1})
	if err != nil {
		b.Fatal(err)
	}
	nested, err := PrepareCommand(Command{Op: OpInc, Path: "key07.n4", Value: 1})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		cmd   Command
		share bool
	}{
		{"CopyOnWrite/SetTopLevel", top, true},
		{"CopyOnWrite/IncNested", nested, true},
		{"DeepCopy/SetTopLevel", top, false},
		{"DeepCopy/IncNested", nested, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			cmds := []Command{c.cmd}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := applyCommands(doc, cmds, c.share); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("Clone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = doc.Clone()
		}
	})
}

// BenchmarkPrepareCommand measures validating and normalizing a command with
// a small document operand.
func BenchmarkPrepareCommand(b *testing.B) {
	c := Command{Op: OpSet, Path: "cart.items", Value: map[string]any{"sku": "A-1", "qty": 2, "tags": []string{"x", "y"}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PrepareCommand(c); err != nil {
			b.Fatal(err)
		}
	}
}
