// Command prosper is a small DevOps platform in one binary.
package main

import (
	"os"

	"github.com/prosperhq/prosper/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
