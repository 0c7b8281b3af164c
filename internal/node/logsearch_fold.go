package node

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// Searches ignore the case of ASCII letters only: "Timeout" finds "TIMEOUT",
// while other characters must match exactly. That keeps the raw-byte prefilter
// and the check of decoded text in agreement, and the prefilter fast.

// lowerASCII lowers the ASCII letters of s.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// containsFold tells whether s contains needle, ignoring ASCII case.
func containsFold(s, needle string) bool {
	return indexFold([]byte(s), []byte(lowerASCII(needle))) >= 0
}

// byteRarity ranks bytes from the most to the least common in stored log
// records (lowered: English words, JSON punctuation, timestamps, hex ids), so
// the search pivots on a needle's rarest byte and stops at fewer false
// candidates. Bytes not listed are rarer still.
const byteRarity = " e\"tao:in0s1r2-h,l.d3c5u4m6789/=_fpgwybvkxjqz"

// pivot returns the index of the needle byte to look for first: its rarest.
func pivot(n []byte) int {
	best, bestRank := 0, -1
	for i, c := range n {
		r := strings.IndexByte(byteRarity, c)
		if r < 0 {
			r = len(byteRarity)
		}
		if r > bestRank {
			best, bestRank = i, r
		}
	}
	return best
}

// indexFold returns the first index of needle (already lowered) in h ignoring
// ASCII case, or -1.
func indexFold(h, needle []byte) int {
	f := newFoldFinder(needle)
	return f.index(h, 0)
}

// foldFinder finds a lowered needle in one haystack, ignoring ASCII case. It
// jumps between occurrences of the needle's rarest byte with bytes.IndexByte,
// which is vectorised, and compares only there. It remembers the next
// occurrence of each case of that byte, so successive calls on the same
// haystack never scan a stretch twice; reset it for another haystack.
type foldFinder struct {
	needle         []byte
	k              int  // index of the pivot byte in needle
	lo, up         byte // its two cases (equal for a non-letter)
	nextLo, nextUp int  // next occurrences found; -1 unknown, len(h) none
}

func newFoldFinder(needle []byte) *foldFinder {
	return newFoldFinderFor(needle, nil)
}

// newFoldFinderFor picks the pivot by counting the needle's bytes (both
// cases) in a sample of the haystack, when given: what is rare depends on the
// logs (hex ids make a-f common, timestamps digits and dashes).
func newFoldFinderFor(needle, sample []byte) *foldFinder {
	f := &foldFinder{needle: needle}
	if len(needle) > 0 {
		f.k = pivot(needle)
		if len(sample) > 0 {
			var counts [256]int
			for _, c := range sample {
				counts[c]++
			}
			best := -1
			for i, c := range needle {
				n := counts[c]
				if 'a' <= c && c <= 'z' {
					n += counts[c-'a'+'A']
				}
				if best < 0 || n < best || n == best && i > f.k {
					best, f.k = n, i
				}
			}
		}
		f.lo = needle[f.k]
		f.up = f.lo
		if 'a' <= f.lo && f.lo <= 'z' {
			f.up = f.lo - 'a' + 'A'
		}
	}
	f.reset()
	return f
}

func (f *foldFinder) reset() { f.nextLo, f.nextUp = -1, -1 }

// index returns the first index at or after from where the needle starts in h,
// or -1.
func (f *foldFinder) index(h []byte, from int) int {
	n, k := len(f.needle), f.k
	if n == 0 {
		return min(from, len(h))
	}

	for i := from + k; i <= len(h)-(n-k); {
		if f.nextLo < i {
			if j := bytes.IndexByte(h[i:], f.lo); j >= 0 {
				f.nextLo = i + j
			} else {
				f.nextLo = len(h)
			}
		}
		if f.up == f.lo {
			f.nextUp = f.nextLo
		} else if f.nextUp < i {
			if j := bytes.IndexByte(h[i:], f.up); j >= 0 {
				f.nextUp = i + j
			} else {
				f.nextUp = len(h)
			}
		}
		p := min(f.nextLo, f.nextUp)
		start := p - k
		if p >= len(h) || start+n > len(h) {
			return -1
		}
		if equalFoldASCII(h[start:start+n], f.needle) {
			return start
		}
		i = p + 1
	}
	return -1
}

// equalFoldASCII compares a with the lowered b, ignoring ASCII case.
func equalFoldASCII(a, b []byte) bool {
	for i, c := range a {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b[i] {
			return false
		}
	}
	return true
}

// rawSafe tells whether needle appears unchanged inside the JSON encoding of a
// text containing it, so raw stored bytes can be searched before decoding:
// encoding/json escapes control characters, quotes, backslashes, <, > and &,
// U+2028, U+2029 and invalid UTF-8 (written as U+FFFD).
func rawSafe(needle string) bool {
	if !utf8.ValidString(needle) {
		return false
	}
	for _, r := range needle {
		switch {
		case r < 0x20, r == '"', r == '\\', r == '<', r == '>', r == '&',
			r == '\u2028', r == '\u2029', r == utf8.RuneError:
			return false
		}
	}
	return true
}
