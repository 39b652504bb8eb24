package app

import (
	"fmt"
	"strings"
)

// DefaultIndexEvents is the event attributes a node has CometBFT's
// transaction indexer index when its settings name none (ADR 0016): a
// signer's transactions (tx_search "tx.signer='did:medchain:…'").
var DefaultIndexEvents = []string{"tx.signer"}

// eventIndex decides which event attributes are marked for CometBFT's
// transaction indexer (abci.EventAttribute.Index). It is node-local: the
// Index flags are not part of the results CometBFT hashes into blocks
// (LastResultsHash covers code, data and gas only), nor of the events that
// block_results returns and that subscriptions match, which carry every
// attribute either way.
type eventIndex struct {
	all   bool            // "*"
	types map[string]bool // "type.*"
	attrs map[string]bool // "type.key"
	// The tx event's attributes, resolved once.
	txSigner, txSequence, txMsgs bool
}

// parseEventIndex reads a list of index_events entries: "*" (every
// attribute), "<type>.*" (every attribute of events of that type) or
// "<type>.<key>" (one attribute; the type may itself contain dots, as in
// "identity.registered.did"). Entries use the characters of event types and
// keys: letters, digits, '_', '-' and '.'.
func parseEventIndex(list []string) (eventIndex, error) {
	x := eventIndex{types: map[string]bool{}, attrs: map[string]bool{}}
	for _, e := range list {
		if e == "*" {
			x.all = true
			continue
		}
		i := strings.LastIndexByte(e, '.')
		if i <= 0 || i == len(e)-1 {
			return eventIndex{}, fmt.Errorf("index_events: %q: use \"*\", \"<event type>.*\" or \"<event type>.<attribute key>\"", e)
		}
		for _, c := range e {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*') {
				return eventIndex{}, fmt.Errorf("index_events: %q: %q is not allowed in an event type or key", e, c)
			}
		}
		typ, key := e[:i], e[i+1:]
		if strings.Contains(typ, "*") || key != "*" && strings.Contains(key, "*") {
			return eventIndex{}, fmt.Errorf("index_events: %q: '*' stands only for a whole key, or for everything", e)
		}
		if key == "*" {
			x.types[typ] = true
		} else {
			x.attrs[e] = true
		}
	}
	x.txSigner, x.txSequence, x.txMsgs = x.indexed("tx", "signer"), x.indexed("tx", "sequence"), x.indexed("tx", "msgs")
	return x, nil
}

// indexed reports whether attribute key of events of type typ is indexed.
func (x *eventIndex) indexed(typ, key string) bool {
	if x.all || x.types[typ] {
		return true
	}
	if len(x.attrs) == 0 {
		return false
	}
	return x.attrs[typ+"."+key]
}

// ValidateIndexEvents checks a list of index_events entries
// (Options.IndexEvents).
func ValidateIndexEvents(list []string) error {
	_, err := parseEventIndex(list)
	return err
}
