// Command hello is the program the image tests put into an image and run from
// the extracted filesystem: it shows that its arguments, its working directory's
// files and its environment arrived.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	greeting, err := os.ReadFile("data/greeting.txt")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%s args=%s port=%s\n", strings.TrimSpace(string(greeting)), strings.Join(os.Args[1:], ","), os.Getenv("PORT"))
}
