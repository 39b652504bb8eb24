package app

import (
	"encoding/json"
	"fmt"
)

// Params are chain-wide consensus parameters of the application, fixed in
// genesis so that every node admits the same transactions.
type Params struct {
	// MaxTxBytes is the largest transaction admitted (default 64 KiB).
	MaxTxBytes int `json:"max_tx_bytes"`
	// MaxMsgs is the most messages one transaction may carry (default 64).
	MaxMsgs int `json:"max_msgs"`
}

// DefaultParams returns the default parameters.
func DefaultParams() Params { return Params{MaxTxBytes: 64 << 10, MaxMsgs: 64} }

func (p Params) validate() error {
	if p.MaxTxBytes < 256 || p.MaxTxBytes > 4<<20 {
		return fmt.Errorf("params: max_tx_bytes %d out of range [256, 4194304]", p.MaxTxBytes)
	}
	if p.MaxMsgs < 1 || p.MaxMsgs > 1024 {
		return fmt.Errorf("params: max_msgs %d out of range [1, 1024]", p.MaxMsgs)
	}
	return nil
}

// GenesisState is the app_state of a medchain genesis file: the app
// parameters and one section per module, keyed by module name.
type GenesisState struct {
	Params  Params                     `json:"params"`
	Modules map[string]json.RawMessage `json:"modules"`
}
