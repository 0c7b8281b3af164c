package hcloudsim

import "time"

// rateLimiter is the project-wide token bucket of the real API: size
// requests, one more every refill.
type rateLimiter struct {
	size   int
	refill time.Duration
	tokens float64
	last   time.Time
}

func newRateLimiter(size int, refill time.Duration) *rateLimiter {
	return &rateLimiter{size: size, refill: refill, tokens: float64(size), last: time.Now()}
}

// take spends one request if there is one and reports what the RateLimit
// headers say: the requests remaining and when the bucket is full again.
func (l *rateLimiter) take(now time.Time) (allowed bool, remaining int, reset time.Time) {
	l.tokens += float64(now.Sub(l.last)) / float64(l.refill)
	if l.tokens > float64(l.size) {
		l.tokens = float64(l.size)
	}
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		allowed = true
	}
	missing := float64(l.size) - l.tokens
	return allowed, int(l.tokens), now.Add(time.Duration(missing * float64(l.refill)))
}
