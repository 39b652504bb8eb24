package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/client"
	"github.com/medchain/medchain/crypto/keyring"
	"github.com/medchain/medchain/node"
)

// globals are the persistent flags.
type globals struct {
	home   string
	output string
	node   string
	stdout io.Writer
	stderr io.Writer
}

func defaultHome() string {
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".medchain")
	}
	return ".medchain"
}

func run(args []string) int {
	g := &globals{stdout: os.Stdout, stderr: os.Stderr}
	root := newRoot(g)
	root.SetArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		g.printErr(err)
		return 1
	}
	return 0
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "medchain",
		Short:         "medchain: a permissioned blockchain for healthcare",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.output != "text" && g.output != "json" {
				return fmt.Errorf("-o %q: use text or json", g.output)
			}
			return nil
		},
	}
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.home, "home", defaultHome(), "node and keyring directory")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	pf.StringVar(&g.node, "node", client.DefaultNode, "URL of the node API to talk to")
	root.AddCommand(newInitCmd(g), newStartCmd(g), newStateCmd(g), newStatusCmd(g), newKeysCmd(g), newTxCmd(g), newQueryCmd(g), newVersionCmd(g), newAuthCmd(g), newRecordsCmd(g),
		newTestnetCmd(g), newJoinCmd(g), newBenchCmd(g), newBenchNodeCmd(g))
	addSupplyCommands(g, root)
	return root
}

// printErr writes an error a person can act on: text to stderr, or a JSON
// error object with -o json.
func (g *globals) printErr(err error) {
	if g.output == "json" {
		code := "error"
		var ae *client.APIError
		if errors.As(err, &ae) {
			code = ae.Code
		}
		bz, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": err.Error()}})
		fmt.Fprintln(g.stderr, string(bz))
		return
	}
	fmt.Fprintln(g.stderr, "Error:", err)
}

// print writes v as indented JSON with -o json, else calls text.
func (g *globals) print(v any, text func(w io.Writer)) error {
	if g.output == "json" || text == nil {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(g.stdout)
	return nil
}

func (g *globals) client() (*client.Client, error) { return client.New(g.node) }

func (g *globals) keyring() (*keyring.Keyring, error) {
	return keyring.Open(node.KeyringDir(g.home), keyring.EnvOrPrompt())
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := map[string]string{"medchain": version, "cometbft": cometVersion()}
			return g.print(v, func(w io.Writer) { fmt.Fprintf(w, "medchain %s (CometBFT %s)\n", version, cometVersion()) })
		},
	}
}

// readInput reads the file a command names, or standard input for "-".
func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}
