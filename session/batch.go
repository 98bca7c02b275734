package session

import "strings"

// batches splits a queue into consecutive batches that are each one atomic
// update: a batch ends before a command whose paths overlap one already in
// it, or that touches a key a Fetch in it reads; Destroy, Regenerate and
// Take stand alone. It takes time linear in the total length of the paths.
func batches(queue []*pending) [][]*pending {
	var out [][]*pending
	var cur []*pending
	paths := newPathSet()
	reads := map[string]bool{}
	readAll := false
	cut := func() {
		if len(cur) > 0 {
			out = append(out, cur)
		}
		cur, paths, reads, readAll = nil, newPathSet(), map[string]bool{}, false
	}
	for _, p := range queue {
		switch p.kind {
		case kindDestroy, kindRegenerate, kindTake:
			cut()
			out = append(out, []*pending{p})
			continue
		case kindCommand:
			ps := p.cmd.Paths()
			if paths.overlapsAny(ps) || readAll || readsAny(reads, ps) {
				cut()
			}
			for _, path := range ps {
				paths.add(path)
			}
		case kindFetch:
			readAll = readAll || p.fetchAll
			for _, k := range p.fetch {
				reads[k] = true
			}
		}
		cur = append(cur, p)
	}
	cut()
	return out
}

// readsAny reports whether a Fetch of the batch reads the top-level key of
// one of ps.
func readsAny(reads map[string]bool, ps []string) bool {
	for _, p := range ps {
		if reads[topKey(p)] {
			return true
		}
	}
	return false
}

// pathSet holds the paths of one batch, and every proper prefix of them,
// so that an overlap check (see Overlaps) costs the length of the path
// checked, not the number of paths held.
type pathSet struct {
	exact    map[string]bool
	prefixes map[string]bool
}

func newPathSet() pathSet {
	return pathSet{exact: map[string]bool{}, prefixes: map[string]bool{}}
}

// overlapsAny reports whether one of ps overlaps a path in the set: equals
// it, lies under it, or lies above it.
func (ps pathSet) overlapsAny(paths []string) bool {
	for _, p := range paths {
		if ps.exact[p] || ps.prefixes[p] {
			return true
		}
		for i := strings.IndexByte(p, '.'); i >= 0; {
			if ps.exact[p[:i]] {
				return true
			}
			j := strings.IndexByte(p[i+1:], '.')
			if j < 0 {
				break
			}
			i += 1 + j
		}
	}
	return false
}

func (ps pathSet) add(p string) {
	ps.exact[p] = true
	for i := 0; i < len(p); i++ {
		if p[i] == '.' {
			ps.prefixes[p[:i]] = true
		}
	}
}
