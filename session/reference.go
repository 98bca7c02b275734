package session

// STUB: owned by the reference-semantics work; replaced there.

// MaxKeyLen is the longest key (dotted path) a command accepts, in bytes.
const MaxKeyLen = 256

// MaxValueSize is the largest encoded size, in bytes, of one command's
// operands. The default is 1 MiB.
const MaxValueSize = 1 << 20

// PrepareCommand validates c and returns it with its operands normalized.
func PrepareCommand(c Command) (Command, error) { return c, nil }

// ValidateKey reports whether key is a valid, non-reserved dotted path.
func ValidateKey(key string) error { return nil }

// Overlaps reports whether paths a and b overlap.
func Overlaps(a, b string) bool { return a == b }

// Normalize converts v to the canonical types of a Doc.
func Normalize(v any) (any, error) { return v, nil }

// Equal reports whether a and b are equal values, numbers by value.
func Equal(a, b any) bool { return false }

// ApplyCommands applies cmds in order to a copy of doc: the reference semantics.
func ApplyCommands(doc Doc, cmds []Command) (Doc, error) { return doc.Clone(), nil }
