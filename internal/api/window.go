package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseWindow reads a look-back window as the CLI and the API take it: days
// ("90d"), weeks ("2w") or a Go duration ("36h", "90m"). It must be above zero.
func ParseWindow(s string) (time.Duration, error) {
	bad := fmt.Errorf("since %q is not a window: write it like 90d, 2w, 36h or 90m", s)
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if num, ok := strings.CutSuffix(s, suffix); ok {
			n, err := strconv.Atoi(num)
			if err != nil || n <= 0 {
				return 0, bad
			}
			return time.Duration(n) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, bad
	}
	return d, nil
}
