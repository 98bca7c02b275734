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
	envBare = "SESSIONTEST_BARE" // hide the UserIndex methods
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
	sessiontest.Run(t, func(*testing.T) session.Store {
		if os.Getenv(envBare) != "" {
			return storeOnly{newFlawedStore(flaw)}
		}
		return newFlawedStore(flaw)
	}, opts...)
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
		{flawWholeDoc, "Lifecycle", []string{"Lifecycle/Apply", "Lifecycle/Touch", "Lifecycle/Results", "Lifecycle/Fetch"}},
		{flawWholeDoc, "Operators", []string{"Operators/Unset/Existing", "Operators/Batch/Results", "Operators/Take/Existing"}},
		{flawWholeDoc, "Differential", []string{"Differential/Random"}},
		{flawKeepRemoved, "Lifecycle", []string{"Lifecycle/Results"}},
		{flawKeepRemoved, "Operators", []string{"Operators/Unset/Existing", "Operators/Rename/Existing"}},
		{flawLoadAll, "Lifecycle", []string{"Lifecycle/LoadKeys"}},
		{flawLoadAll, "Differential", []string{"Differential/Random"}},
		{flawIgnoreFetch, "Lifecycle", []string{"Lifecycle/Fetch"}},
		{flawIgnoreFetch, "Concurrency", []string{"Concurrency/FetchSnapshot"}},
		{flawTakeAfter, "Operators", []string{"Operators/Take/Existing", "Operators/Take/Dotted"}},
		{flawTakeAfter, "Lifecycle", []string{"Lifecycle/Results"}},
		{flawTakeAfter, "Concurrency", []string{"Concurrency/Take"}},
		{flawTakeRace, "Concurrency", []string{"Concurrency/Take"}},
		{flawIgnoreSlice, "Operators", []string{"Operators/PushLast/KeepsLast", "Operators/PushLast/NoValuesTrims"}},
		{flawIgnoreSlice, "Concurrency", []string{"Concurrency/PushLast"}},
		{flawIgnoreMaxAge, "Lifecycle", []string{"Lifecycle/MaxAge"}},
		{flawIgnoreLabel, "Lifecycle", []string{"Lifecycle/Label"}},
		{flawFetchApart, "Concurrency", []string{"Concurrency/FetchSnapshot"}},
		{flawSwallowDelete, "Context", []string{"Context/Canceled", "Context/DeadlineExceeded"}},
		{flawListExpired, "UserIndex", []string{"UserIndex/Expired"}},
		{flawRevokeIndexOnly, "UserIndex", []string{"UserIndex/DeleteKeep", "UserIndex/DeleteAll", "UserIndex/Revoked"}},
		{flawIndexFirst, "UserIndex", []string{"UserIndex/CreateRace"}},
		{flawScanUsers, "UserIndex", []string{"UserIndex/NoScan"}},
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

// TestWithoutUserIndex: on a store that does not implement
// session.UserIndex the UserIndex group is skipped, saying why, and the
// rest still runs.
func TestWithoutUserIndex(t *testing.T) {
	out, passed := runFlawed(t, flawNone, "", "(UserIndex|Context)", envBare+"=1")
	if !passed {
		t.Fatalf("the suite failed a store without UserIndex:\n%s", out)
	}
	for _, want := range []string{
		"--- SKIP: TestFlawed/UserIndex ", "does not implement session.UserIndex",
		"--- PASS: TestFlawed/Context/Canceled ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
