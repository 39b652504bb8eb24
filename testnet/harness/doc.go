// Package harness runs medchain testnets as real OS processes for
// end-to-end tests, injects faults, drives load and checks the invariants
// of ../shared/docs/RELIABILITY.md over the public APIs afterwards.
//
// A test builds the medchain binary once (Binary), creates a testnet with
// New (N validator homes from node.InitTestnet in a fresh directory, every
// directed peer link routed through a TCP proxy the harness owns, every
// node started as "medchain start --home D/nodeK" with GOMAXPROCS=1), then
// applies fault verbs while a Load runs:
//
//	Kill (SIGKILL), Stop (SIGTERM), Start, Restart, Pause (SIGSTOP),
//	Resume (SIGCONT), Partition / Cut (proxies drop the links), Heal,
//	CorruptAppDB (flip or truncate files of a stopped node's application.db),
//	AddNode (a joiner from the same genesis), and governance helpers.
//
// Every transaction the harness sends is recorded in a History with its
// outcome: committed (in a block with code 0), rejected (a definite refusal
// with its codespace and code, or a connection refused), or unknown (a
// timeout or a broken connection: it may or may not commit). Check then
// settles the network and verifies, on every running node:
//
//   - INV-AGREE: the same block hash at every height;
//   - INV-APPHASH: the same app hash at every height (a header's app_hash
//     at h+1 is the state after h), and each node's own app hash equal to
//     the next header's;
//   - INV-NOLOSS: every committed operation is in that block on every node;
//   - INV-ONCE: no (signer, sequence) executed more than once.
//
// The harness only signals processes it started, by the PID it holds, and
// every wait is bounded by a deadline. When a test fails (or
// MEDCHAIN_E2E_KEEP=1) the testnet directory is kept, with every node's
// node.log, history.jsonl and report.json, and its path is logged.
package harness
