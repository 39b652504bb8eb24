package main

import "github.com/spf13/cobra"

// extraCommands returns commands defined in other files of this package
// (testnet, bench); kept apart so those files can be developed separately.
func extraCommands(g *globals) []*cobra.Command { return []*cobra.Command{newTestnetCmd(g)} }
