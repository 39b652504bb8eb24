package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/node"
)

// newStateCmd returns "medchain state": maintenance of the node's
// application state.
func newStateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "state", Short: "Maintain the node's application state (stop the node first)"}
	cmd.AddCommand(&cobra.Command{
		Use:   "migrate",
		Short: "Convert the state in --home from the IAVL backend to memtree, at its latest height (ADR 0015)",
		Long: `Convert the application state in --home from the IAVL backend to memtree (ADR 0015), at its
latest height: the trees are rebuilt node for node, checked against the committed app hash, and
written as a memtree snapshot; then the IAVL nodes are deleted. Heights before the latest are no
longer readable from this node. Stop the node first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, hash, err := node.MigrateState(g.home)
			if err != nil {
				return err
			}
			res := struct {
				Height  int64  `json:"height"`
				AppHash string `json:"app_hash"`
				Backend string `json:"state_backend"`
			}{h, fmt.Sprintf("%X", hash), "memtree"}
			return g.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "migrated the state at height %d (app hash %X) to memtree\n", h, hash)
			})
		},
	})
	return cmd
}
