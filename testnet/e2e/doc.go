// Package e2e holds medchain's end-to-end tests: 4-validator testnets run
// as separate processes by package testnet/harness, under steady load,
// with crashes, partitions, governance changes, replays and a corrupted
// database; and the health-records scenarios (two organizations on two
// validators, an erasure interrupted by a crash). Run them with "go test ./testnet/e2e/" (skipped with -short);
// MEDCHAIN_E2E_SEED repeats a run, MEDCHAIN_E2E_KEEP=1 keeps the testnet
// directories of passing tests. See ../README.md.
package e2e
