// Package e2e tests prosper from the outside, as its users meet it: the real
// binary started with `prosper up`, real git pushes over HTTP, real app processes
// behind the real router, and the CLI. It has no code of its own.
package e2e
