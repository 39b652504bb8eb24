// Command medchain is the one medchain binary: it runs a node (init, start)
// and is the command-line client (keys, tx, query, status), which does
// everything through the Go SDK in package client.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}
