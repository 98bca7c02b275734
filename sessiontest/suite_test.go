package sessiontest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/atomicsession/atomicsession/session"
	"github.com/atomicsession/atomicsession/sessiontest"
)

// TestCorrectStorePasses runs the suite on flawedStore without a flaw: the
// suite passes a correct store, so the failures below come from the flaws.
func TestCorrectStorePasses(t *testing.T) {
	sessiontest.Run(t, func(*testing.T) session.Store { return newFlawedStore(flawNone) })
}

// Environment of the child process that TestFlawed runs in.
const (
	envFlaw = "SESSIONTEST_FLAW"
	envSkip = "SESSIONTEST_SKIP"
	envFlat = "SESSIONTEST_FLAT"
)

// TestFlawed runs the suite on the flawed store named by $SESSIONTEST_FLAW,
// skipping $SESSIONTEST_SKIP; it runs only as a child of the tests below.
func TestFlawed(t *testing.T) {
	flaw, ok := os.LookupEnv(envFlaw)
	if !ok {
		t.Skip("runs as a child process of TestSuiteCatchesFlaws")
	}
	var opts []sessiontest.Option
	if name := os.Getenv(envSkip); name != "" {
		opts = append(opts, sessiontest.Skip(name, "reason given to Skip"))
	}
	if os.Getenv(envFlat) != "" {
		opts = append(opts, sessiontest.WithoutNestedArrays("reason given to WithoutNestedArrays"))
	}
	sessiontest.Run(t, func(*testing.T) session.Store { return newFlawedStore(flaw) }, opts...)
}

// runFlawed runs TestFlawed/group in a child process and returns its
// output and whether it passed.
func runFlawed(t *testing.T, flaw, skip, group string, env ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFlawed$/^"+group+"$", "-test.v", "-test.short", "-test.count=1")
	cmd.Env = append(append(os.Environ(), envFlaw+"="+flaw, envSkip+"="+skip), env...)
	out, err := cmd.CombinedOutput()
	if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
		t.Fatalf("running the child test: %v", err)
	}
	return string(out), err == nil
}

func TestSuiteCatchesFlaws(t *testing.T) {
	cases := []struct {
		flaw, group string
		fails       []string // subtests that must fail
	}{
		{flawUpsert, "Lifecycle", []string{"Lifecycle/ApplyMissing", "Lifecycle/Delete"}},
		{flawUpsert, "Concurrency", []string{"Concurrency/Destroy"}},
		{flawUpsert, "Expiry", []string{"Expiry/Past", "Expiry/Lapse"}},
		{flawServeExpired, "Expiry", []string{"Expiry/Past", "Expiry/Lapse"}},
		{flawLostUpdates, "Concurrency", []string{"Concurrency/Inc"}},
		{flawPartialBatches, "Operators", []string{"Operators/Batch/AllOrNothingLast"}},
		{flawPartialBatches, "Differential", []string{"Differential/Random"}},
		{flawSharedDocs, "Lifecycle", []string{"Lifecycle/Isolation"}},
		{flawIgnoreContext, "Context", []string{"Context/Canceled", "Context/DeadlineExceeded"}},
		{flawKeepExpires, "Lifecycle", []string{"Lifecycle/Apply", "Lifecycle/Touch"}},
		{flawKeepExpires, "Expiry", []string{"Expiry/ApplyExtends"}},
		{flawCreateOverwrites, "Lifecycle", []string{"Lifecycle/CreateConflict"}},
		{flawCreateOverwrites, "Concurrency", []string{"Concurrency/Create"}},
		{flawIntsAsFloats, "Values", []string{"Values/BeyondFloatPrecision", "Values/MaxInt64", "Values/All"}},
		{flawAddToSetPushes, "Operators", []string{"Operators/AddToSet/Present", "Operators/AddToSet/EachOnce"}},
		{flawAddToSetPushes, "Differential", []string{"Differential/Random"}},
		{flawNoNestedArrays, "Values", []string{"Values/Array", "Values/All"}},
		{flawNoNestedArrays, "Operators", []string{"Operators/Push/Append", "Operators/Pull/Array"}},
	}
	for _, c := range cases {
		t.Run(c.flaw+"/"+c.group, func(t *testing.T) {
			t.Parallel()
			out, passed := runFlawed(t, c.flaw, "", c.group)
			if passed {
				t.Fatalf("the suite passed a store with flaw %q:\n%s", c.flaw, out)
			}
			for _, name := range c.fails {
				if !strings.Contains(out, "--- FAIL: TestFlawed/"+name+" ") {
					t.Errorf("flaw %q: subtest %s did not fail:\n%s", c.flaw, name, out)
				}
			}
		})
	}
}

func TestSkip(t *testing.T) {
	t.Run("Subtest", func(t *testing.T) {
		t.Parallel()
		out, passed := runFlawed(t, flawCreateOverwrites, "Concurrency/Create", "Concurrency")
		if !passed {
			t.Errorf("the only failing subtest was skipped, yet the suite failed:\n%s", out)
		}
		for _, want := range []string{"--- SKIP: TestFlawed/Concurrency/Create ", "reason given to Skip", "--- PASS: TestFlawed/Concurrency/Inc "} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("Group", func(t *testing.T) {
		t.Parallel()
		out, passed := runFlawed(t, flawSharedDocs, "Lifecycle", "Lifecycle")
		if !passed || !strings.Contains(out, "--- SKIP: TestFlawed/Lifecycle ") {
			t.Errorf("Skip of a whole group did not skip it:\n%s", out)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		t.Parallel()
		out, passed := runFlawed(t, flawNone, "Lifecycle/NoSuchTest", "Lifecycle")
		if passed || !strings.Contains(out, `Skip("Lifecycle/NoSuchTest") matches no subtest`) {
			t.Errorf("Skip of an unknown subtest did not fail the run:\n%s", out)
		}
	})
}

// TestWithoutNestedArrays: a store that rejects arrays in arrays passes
// with WithoutNestedArrays, which skips only the cases that need them.
func TestWithoutNestedArrays(t *testing.T) {
	out, passed := runFlawed(t, flawNoNestedArrays, "", ".*", envFlat+"=1")
	if !passed {
		t.Fatalf("the suite failed a store without nested arrays despite WithoutNestedArrays:\n%s", out)
	}
	for _, want := range []string{
		"--- SKIP: TestFlawed/Values/Array ", "--- PASS: TestFlawed/Values/All ",
		"--- SKIP: TestFlawed/Operators/Pull/Array ", "--- PASS: TestFlawed/Operators/Pull/Value ",
		"--- PASS: TestFlawed/Differential/Random ", "reason given to WithoutNestedArrays",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
