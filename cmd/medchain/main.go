// Command medchain is the one medchain binary: it creates and runs nodes
// (init, join, start, state, testnet, bench) and is the command-line client
// (keys, tx, query, status, records, epcis, auth), which does everything
// through the Go SDK in package client.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}
