package app

// SeqKey is the auth store key of a DID's stored sequence, for tests.
var SeqKey = seqKey

// Prepare is App.prepare with the mempool pipeline's key hints, for the
// pipeline benchmark.
func Prepare(a *App, txs [][]byte) { a.prepare(txs, a.signerKeys.get) }

// KeyMemoized reports whether CheckTx's key memo holds keyID.
func (a *App) KeyMemoized(keyID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.check.keys[keyID]
	return ok
}
