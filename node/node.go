package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	cmtdb "github.com/cometbft/cometbft-db"
	cmtcfg "github.com/cometbft/cometbft/config"
	cmtflags "github.com/cometbft/cometbft/libs/cli/flags"
	"github.com/cometbft/cometbft/libs/log"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	rpclocal "github.com/cometbft/cometbft/rpc/client/local"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/viper"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/medchain/medchain/api"
	"github.com/medchain/medchain/app"
	"github.com/medchain/medchain/supplyapi"
	"github.com/medchain/medchain/vault"
)

// RunOptions override a home's configuration for one run.
type RunOptions struct {
	Addrs    Addrs
	LogLevel string // CometBFT log filter, default "*:error,state:info,medchain:info"
	Logger   log.Logger
	// CometMetrics serves CometBFT's Prometheus metrics on its own address
	// (config instrumentation.prometheus_listen_addr); it registers them
	// globally, so at most one node per process may set it.
	CometMetrics bool
	// Ready, if set, receives the running node once its API listens.
	Ready func(*Node)
}

// OpenApplicationDB opens the application state database in dir
// (application.db). Its options were chosen for the IAVL backend, whose
// write pattern they suit (the memtree backend writes one change set per
// block and is indifferent to them): every block
// writes the new tree nodes of every modified path, so a larger memtable
// means fewer level-0 flushes and compactions, and seek-triggered
// compactions (set off by the many reads of tree nodes) are disabled. The
// block cache (128 MB) keeps the tables' index blocks and the tree nodes
// that miss IAVL's node cache: at 10^5 records and more, 32 MB let index
// blocks be evicted and read (and decompressed) again on most node reads.
func OpenApplicationDB(dir string) (*dbm.GoLevelDB, error) {
	return dbm.NewGoLevelDBWithOpts("application", dir, &opt.Options{
		Filter:                 filter.NewBloomFilter(10), // as dbm.NewGoLevelDB
		WriteBuffer:            32 << 20,
		BlockCacheCapacity:     128 << 20,
		CompactionTableSize:    8 << 20,
		DisableSeeksCompaction: true,
	})
}

// DefaultGCPercent is the garbage collector's target (GOGC) a node runs
// with unless the GOGC environment variable sets one. The application keeps
// a large, pointer-rich live heap (the IAVL node caches, a few hundred MB
// under load) that every collection marks in full; at Go's default of 100 a
// loaded node spent about 15 % of its CPU in the collector. 200 halves the
// number of collections for up to twice the heap growth between them
// (ADR 0008).
const DefaultGCPercent = 200

// SetGCPercent applies DefaultGCPercent unless GOGC is set in the
// environment, and returns the setting in effect.
func SetGCPercent() string {
	if v := os.Getenv("GOGC"); v != "" {
		return v
	}
	debug.SetGCPercent(DefaultGCPercent)
	return strconv.Itoa(DefaultGCPercent)
}

// Node is a running medchain node.
type Node struct {
	Home     string
	App      *app.App
	Comet    *nm.Node
	API      *api.Server
	Settings Settings
	Config   *cmtcfg.Config
	Vault    *vault.Service // nil when the home has no vault key
	Supply   *supplyapi.Handler
}

// LoadCometConfig reads <home>/config/config.toml.
func LoadCometConfig(home string) (*cmtcfg.Config, error) {
	conf := DefaultCometConfig(home)
	v := viper.New()
	v.SetConfigFile(filepath.Join(home, "config", "config.toml"))
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("read CometBFT config: %w", err)
	}
	if err := v.Unmarshal(conf); err != nil {
		return nil, fmt.Errorf("parse CometBFT config: %w", err)
	}
	conf.SetRoot(home)
	if err := conf.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("config.toml: %w", err)
	}
	return conf, nil
}

// Run starts the node in home and blocks until ctx is cancelled, then stops
// it cleanly. The home must be initialised.
func Run(ctx context.Context, home string, o RunOptions) error {
	if !IsInitialized(home) {
		return fmt.Errorf("%s has no genesis; run \"medchain init --home %s\" first", home, home)
	}
	conf, err := LoadCometConfig(home)
	if err != nil {
		return err
	}
	settings, err := LoadSettings(home)
	if err != nil {
		return err
	}
	if o.Addrs.RPC != "" {
		conf.RPC.ListenAddress = "tcp://" + o.Addrs.RPC
	}
	if o.Addrs.P2P != "" {
		conf.P2P.ListenAddress = "tcp://" + o.Addrs.P2P
	}
	if o.Addrs.API != "" {
		settings.APIAddr = o.Addrs.API
	}
	if err := settings.Validate(); err != nil {
		return err
	}
	conf.Instrumentation.Prometheus = o.CometMetrics

	logger := o.Logger
	if logger == nil {
		logger = log.NewTMLogger(log.NewSyncWriter(os.Stdout))
		lvl := o.LogLevel
		if lvl == "" {
			lvl = "*:error,state:info,medchain:info"
		}
		if logger, err = cmtflags.ParseLogLevel(lvl, logger, "info"); err != nil {
			return fmt.Errorf("--log-level: %w", err)
		}
	}

	gogc := SetGCPercent()
	db, err := OpenApplicationDB(conf.DBDir())
	if err != nil {
		return fmt.Errorf("open application database: %w", err)
	}
	defer db.Close()
	reg := prometheus.NewRegistry()
	application, err := app.New(db, app.Options{
		Logger: logger.With("module", "medchain"), Metrics: app.NewMetrics(reg),
		StateBackend: settings.StateBackend, KeepHeights: settings.KeepHeights,
		SnapshotDir: filepath.Join(conf.DBDir(), "state-snapshots"), SnapshotInterval: settings.SnapshotInterval,
		IndexEvents: settings.IndexEvents,
	})
	if err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	defer application.Close() // before db.Close: a snapshot may be writing
	indexed := "none"
	switch {
	case settings.IndexEvents == nil:
		indexed = strings.Join(app.DefaultIndexEvents, ",")
	case len(settings.IndexEvents) > 0:
		indexed = strings.Join(settings.IndexEvents, ",")
	}
	logger.With("module", "medchain").Info("application state opened", "backend", application.StateBackend(), "index_events", indexed)
	nodeKey, err := p2p.LoadNodeKey(conf.NodeKeyFile())
	if err != nil {
		return fmt.Errorf("load node key: %w", err)
	}
	pv := privval.LoadFilePV(conf.PrivValidatorKeyFile(), conf.PrivValidatorStateFile())
	// CometBFT v0.38 does not close every database it opens (the tx index
	// stays open after Stop), which would keep their file locks for the life
	// of the process; track them and close them all on the way out.
	var opened []cmtdb.DB
	defer func() {
		for _, d := range opened {
			_ = d.Close()
		}
	}()
	dbProvider := func(c *cmtcfg.DBContext) (cmtdb.DB, error) {
		d, err := cmtcfg.DefaultDBProvider(c)
		if err == nil {
			opened = append(opened, d)
		}
		return d, err
	}
	cn, err := nm.NewNodeWithContext(ctx, conf, pv, nodeKey,
		app.ClientCreator(application),
		nm.DefaultGenesisDocProviderFunc(conf), dbProvider,
		nm.DefaultMetricsProvider(conf.Instrumentation), logger)
	if err != nil {
		return fmt.Errorf("create CometBFT node: %w", err)
	}
	if err := cn.Start(); err != nil {
		return fmt.Errorf("start CometBFT node: %w", err)
	}
	defer func() {
		if cn.IsRunning() {
			_ = cn.Stop()
			cn.Wait()
		}
	}()

	srv := api.New(api.Config{
		App: application, RPC: rpclocal.New(cn), RPCAddr: conf.RPC.ListenAddress,
		MaxBodyBytes: settings.MaxBodyBytes, CommitTimeout: time.Duration(settings.CommitTimeout),
		Gatherer: prometheus.Gatherers{reg, prometheus.DefaultGatherer}, Logger: logger.With("module", "api"),
	})
	vlt, err := startVault(ctx, home, application, srv, settings, logger.With("module", "vault"))
	if err != nil {
		return err
	}
	if vlt != nil {
		if err := mountFHIR(srv, application, vlt, logger.With("module", "fhir")); err != nil {
			return err
		}
	}
	sup, err := mountSupply(application, cn, home, srv, vlt, logger.With("module", "supply"))
	if err != nil {
		return err
	}
	ln, err := api.Listen(settings.APIAddr)
	if err != nil {
		return fmt.Errorf("API listen on %s: %w", settings.APIAddr, err)
	}
	httpSrv := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	httpSrv.RegisterOnShutdown(sup.Close) // ends the recall streams, which never go idle
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()

	if err := os.WriteFile(PIDFile(home), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	defer os.Remove(PIDFile(home))
	logger.Info("medchain node started", "module", "medchain", "home", home, "api", "http://"+ln.Addr().String(),
		"rpc", conf.RPC.ListenAddress, "p2p", conf.P2P.ListenAddress, "chain_id", cn.GenesisDoc().ChainID, "gogc", gogc)
	if o.Ready != nil {
		o.Ready(&Node{Home: home, App: application, Comet: cn, API: srv, Settings: settings, Config: conf, Vault: vlt, Supply: sup})
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("API server: %w", err)
		}
	}
	logger.Info("stopping medchain node", "module", "medchain")
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(shutCtx)
	srv.Close()
	if vlt != nil {
		vlt.Wait() // its sweeps read the database closed below
	}
	return nil
}

// MigrateState converts the application state in home from the IAVL
// backend to memtree (ADR 0015) at its latest height, and clears a
// "state_backend": "iavl" setting so that the node opens it. The node must
// be stopped. Heights before the latest are no longer readable from this
// node afterwards.
func MigrateState(home string) (height int64, appHash []byte, err error) {
	conf, err := LoadCometConfig(home)
	if err != nil {
		return 0, nil, err
	}
	settings, err := LoadSettings(home)
	if err != nil {
		return 0, nil, err
	}
	db, err := OpenApplicationDB(conf.DBDir())
	if err != nil {
		return 0, nil, fmt.Errorf("open application database (is the node still running?): %w", err)
	}
	defer db.Close()
	id, err := app.MigrateState(db, filepath.Join(conf.DBDir(), "state-snapshots"))
	if err != nil {
		return 0, nil, err
	}
	if settings.StateBackend == app.StateIAVL {
		settings.StateBackend = ""
		if err := SaveSettings(home, settings); err != nil {
			return id.Version, id.Hash, fmt.Errorf("state migrated, but medchain.json still says state_backend iavl: %w", err)
		}
	}
	return id.Version, id.Hash, nil
}
