package dora

import (
	"math/bits"
	"slices"
)

// medianP90 returns the median (the mean of the two middle values for an even
// count) and, if p90, the 90th percentile by nearest rank of xs, in linear time.
// It reorders xs. Both are 0 for no value.
func medianP90(xs []float64, p90 bool) (median, p float64) {
	n := len(xs)
	if n == 0 {
		return 0, 0
	}
	k := n / 2
	median = nth(xs, k)
	if n%2 == 0 {
		// After selecting k, xs[:k] holds the k smallest: the other middle value
		// is their maximum.
		median = (slices.Max(xs[:k]) + median) / 2
	}
	if p90 {
		r := (9*n+9)/10 - 1 // nearest rank ⌈0.9n⌉, 1-based, in integers
		if r == k {         // n ≤ 2: the rank is the middle one already found
			p = xs[k]
		} else {
			p = nth(xs[k+1:], r-k-1)
		}
	}
	return median, p
}

// nth reorders xs so that xs[k] is the value of rank k, all before it no
// greater and all after it no smaller, and returns it (introselect: quickselect
// with a median-of-three pivot, falling back to sorting if it degrades).
func nth(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	budget := 2 * bits.Len(uint(len(xs)))
	for hi > lo {
		if budget == 0 {
			slices.Sort(xs[lo : hi+1])
			break
		}
		budget--
		mid := lo + (hi-lo)/2
		if xs[mid] < xs[lo] {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[hi] < xs[mid] {
			xs[hi], xs[mid] = xs[mid], xs[hi]
		}
		pivot := xs[mid]
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}

// Thresholds of the DORA 2023 Accelerate State of DevOps report's clusters.
const (
	day   = 24 * 3600.0
	week  = 7 * day
	month = 30 * day
)

func frequencyBucket(perDay float64) string {
	switch {
	case perDay >= 1:
		return "elite"
	case perDay >= 1.0/7:
		return "high"
	case perDay >= 1.0/30:
		return "medium"
	}
	return "low"
}

func leadTimeBucket(samples int, median float64) string {
	switch {
	case samples == 0:
		return "none"
	case median < day:
		return "elite"
	case median < week:
		return "high"
	case median < month:
		return "medium"
	}
	return "low"
}

func failureBucket(deployments int, rate float64) string {
	switch {
	case deployments == 0:
		return "none"
	case rate <= 0.05:
		return "elite"
	case rate <= 0.10:
		return "high"
	case rate <= 0.15:
		return "medium"
	}
	return "low"
}

func recoveryBucket(recoveries int, median float64) string {
	switch {
	case recoveries == 0:
		return "none"
	case median < 3600:
		return "elite"
	case median < day:
		return "high"
	case median < week:
		return "medium"
	}
	return "low"
}
