package main

import (
	"fmt"
	"io"

	cmtversion "github.com/cometbft/cometbft/version"
	"github.com/spf13/cobra"

	"github.com/medchain/medchain/node"
)

const version = "0.1.0-dev"

func cometVersion() string { return cmtversion.TMCoreSemVer }

type addrFlags struct{ api, rpc, p2p string }

func (a *addrFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&a.api, "api-addr", "", "REST API listen address (default 127.0.0.1:8080, or the home's config)")
	cmd.Flags().StringVar(&a.rpc, "rpc-addr", "", "CometBFT RPC listen address (default 127.0.0.1:26657, or the home's config)")
	cmd.Flags().StringVar(&a.p2p, "p2p-addr", "", "CometBFT P2P listen address (default 127.0.0.1:26656, or the home's config)")
}

func (a *addrFlags) addrs() node.Addrs { return node.Addrs{API: a.api, RPC: a.rpc, P2P: a.p2p} }

func newInitCmd(g *globals) *cobra.Command {
	var a addrFlags
	var chainID, moniker string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a single-validator development chain in --home",
		Long: "Create a development chain in --home: CometBFT configuration and keys, a founding hospital\n" +
			"organization running the only validator, and its admin key \"admin\" in the keyring\n" +
			"(encrypted with MEDCHAIN_PASSPHRASE, or a passphrase you are asked for).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return initHome(g, chainID, moniker, a.addrs())
		},
	}
	a.register(cmd)
	cmd.Flags().StringVar(&chainID, "chain-id", "medchain-dev", "chain id")
	cmd.Flags().StringVar(&moniker, "moniker", "node0", "node name")
	return cmd
}

func initHome(g *globals, chainID, moniker string, a node.Addrs) error {
	kr, err := g.keyring()
	if err != nil {
		return err
	}
	doc, err := node.InitDev(g.home, node.InitOptions{ChainID: chainID, Moniker: moniker, Addrs: a, Keyring: kr})
	if err != nil {
		return err
	}
	info, _ := kr.Info("admin")
	out := map[string]any{"home": g.home, "chain_id": doc.ChainID, "admin_did": info.DID, "admin_key": "admin"}
	return g.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "initialised %s\nchain id:  %s\nadmin key: admin (%s)\n", g.home, doc.ChainID, info.DID)
	})
}

func newStartCmd(g *globals) *cobra.Command {
	var a addrFlags
	var logLevel string
	var cometMetrics bool
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run the node in --home, creating a development chain there first if it is empty",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !node.IsInitialized(g.home) {
				if err := initHome(g, "medchain-dev", "node0", a.addrs()); err != nil {
					return err
				}
			}
			return node.Run(cmd.Context(), g.home, node.RunOptions{Addrs: a.addrs(), LogLevel: logLevel, CometMetrics: cometMetrics})
		},
	}
	a.register(cmd)
	cmd.Flags().StringVar(&logLevel, "log-level", "", "CometBFT log filter (default \"*:error,state:info,medchain:info\")")
	cmd.Flags().BoolVar(&cometMetrics, "comet-metrics", true, "serve CometBFT's Prometheus metrics on instrumentation.prometheus_listen_addr (127.0.0.1:26660)")
	return cmd
}

func newStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the node's chain id, height and app hash",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(st, func(w io.Writer) {
				fmt.Fprintf(w, "chain id: %s\nheight:   %d\napp hash: %s\nnode:     %s (%s)\n", st.ChainID, st.Height, st.AppHash, st.Moniker, st.NodeID)
			})
		},
	}
}
