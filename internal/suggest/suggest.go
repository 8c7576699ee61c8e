// Package suggest finds the words a mistyped word was probably meant to be, for
// "did you mean" in error messages about configuration keys, policy terms and Veeam
// role names. It is a helper of the packages that report such errors; it knows nothing
// of them.
package suggest

import "strings"

// Distance is the Levenshtein distance of a and b, counted in bytes.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Close reports whether candidate is close enough to word (compared in lower case) to
// be suggested for it: at most 2 edits, or a quarter of word's length for long words.
func Close(word, candidate string) bool {
	lw := strings.ToLower(word)
	return Distance(lw, strings.ToLower(candidate)) <= max(2, len(lw)/4)
}
