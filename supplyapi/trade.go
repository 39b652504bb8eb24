package supplyapi

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/medchain/medchain/store"
	"github.com/medchain/medchain/x/org"
	"github.com/medchain/medchain/x/supply"
)

// Confidential trade details (ADR 0005, supplyapi/README.md). Captures are
// sealed: the chain receives each event's trade details (bizTransactionList,
// quantity lists, sourceList, destinationList) only as a salted commitment,
// and the details with their salt stay in the capturing node's TradeStore,
// from which GET /epcis/events and /epcis/provenance disclose them to the
// trading partners and regulators.

// TradeRecord is what a TradeStore keeps for one sealed event.
type TradeRecord struct {
	// Commitment is supply.TradeCommit(Salt, Details), the value the chain
	// stores in the event (Event.TradeCommitment); it names the record.
	Commitment []byte `json:"commitment"`
	// Salt is the 32 random bytes of the commitment.
	Salt    []byte              `json:"salt"`
	Details supply.TradeDetails `json:"details"`
	// Org is the capturing organization and EventHash the event's CBV hash:
	// a record is disclosed only for a stored event with both (another
	// organization copying a public commitment into its own event gains
	// nothing).
	Org       string `json:"org"`
	EventHash string `json:"event_hash,omitempty"`
}

// TradeDisclosure is the part of a TradeRecord a partner receives: the
// details and the salt that open the event's on-chain commitment (check
// with supply.TradeCommit).
type TradeDisclosure struct {
	Salt    []byte              `json:"salt"`
	Details supply.TradeDetails `json:"details"`
}

// Check reports whether d opens commitment.
func (d *TradeDisclosure) Check(commitment []byte) bool {
	return d != nil && len(commitment) == 32 && bytes.Equal(supply.TradeCommit(d.Salt, d.Details), commitment)
}

// TradeStore keeps TradeRecords in a directory of the node's home
// (<home>/data/trade): one JSON file per record, named by the hex of its
// commitment, mode 0600 in a 0700 directory, written atomically (temporary
// file, fsync, rename). Records are written before the capture is
// submitted: a record whose capture was refused is an orphan no stored
// event points to, and harmless.
type TradeStore struct{ dir string }

// OpenTradeStore opens (creating it) the store in dir.
func OpenTradeStore(dir string) (*TradeStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("trade-details store: %w", err)
	}
	return &TradeStore{dir: dir}, nil
}

// Dir returns the store's directory.
func (s *TradeStore) Dir() string { return s.dir }

func (s *TradeStore) path(commitment []byte) string {
	return filepath.Join(s.dir, hex.EncodeToString(commitment)+".json")
}

// Put writes rec (its Commitment must open with Salt and Details).
func (s *TradeStore) Put(rec *TradeRecord) error {
	if !(&TradeDisclosure{Salt: rec.Salt, Details: rec.Details}).Check(rec.Commitment) {
		return errors.New("trade-details store: the record does not open its commitment")
	}
	bz, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("trade-details store: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("trade-details store: %w", err)
	}
	if _, err := f.Write(bz); err != nil {
		f.Close()
		return fmt.Errorf("trade-details store: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("trade-details store: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("trade-details store: %w", err)
	}
	if err := os.Rename(tmp, s.path(rec.Commitment)); err != nil {
		return fmt.Errorf("trade-details store: %w", err)
	}
	return nil
}

// Get returns the record of commitment, or nil when the store has none (or
// only one that does not open it).
func (s *TradeStore) Get(commitment []byte) (*TradeRecord, error) {
	if len(commitment) != 32 {
		return nil, nil
	}
	bz, err := os.ReadFile(s.path(commitment))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("trade-details store: %w", err)
	}
	rec := &TradeRecord{}
	if err := json.Unmarshal(bz, rec); err != nil {
		return nil, fmt.Errorf("trade-details store: record %x is corrupt", commitment[:8])
	}
	if !bytes.Equal(rec.Commitment, commitment) || !(&TradeDisclosure{Salt: rec.Salt, Details: rec.Details}).Check(commitment) {
		return nil, fmt.Errorf("trade-details store: record %x does not open its commitment", commitment[:8])
	}
	return rec, nil
}

// Seal prepares ev for a confidential capture by orgID: when ev has trade
// details it draws a 32-byte random salt, returns the sealed event
// (supply.SealTrade: the commitment, and of the destinations only what the
// chain needs to resolve the receiving organization) and the record to
// keep; otherwise it returns ev unchanged and a nil record. orgs, when not
// nil, is the org store at the latest committed height: the sealed event
// then keeps the one destination the chain's resolution picks in that
// state. With a nil orgs (a member signing with its own key, without chain
// state) it keeps every destination the chain may resolve the receiver
// from, so the chain resolves the same receiver whatever its state.
func Seal(ev supply.Event, orgID string, orgs store.Reader) (supply.Event, *TradeRecord, error) {
	if !ev.Details().HasDetails() {
		return ev, nil, nil
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return ev, nil, fmt.Errorf("trade salt: %w", err)
	}
	var orgOf func(string) string
	if orgs != nil {
		orgOf = func(gln string) string { return activeOrgOfGLN(orgs, gln) }
	}
	sealed, d := supply.SealTrade(ev, salt, orgOf)
	return sealed, &TradeRecord{Commitment: sealed.TradeCommitment, Salt: salt, Details: d, Org: orgID, EventHash: ev.Hash}, nil
}

// orgOfGLN maps an SGLN/PGLN URN or a bare GLN to the active organization
// holding it, or "".
func orgOfGLN(orgs store.Reader, id string) string {
	gln, ok := supply.GLNFromURN(id)
	if !ok {
		return ""
	}
	return activeOrgOfGLN(orgs, gln)
}

// activeOrgOfGLN returns the active organization holding gln, or "" (the
// chain's view in supply's receiver resolution).
func activeOrgOfGLN(orgs store.Reader, gln string) string {
	o := (org.Keeper{}).OrgByGLN(orgs, gln)
	if o == "" || !(org.Keeper{}).IsActiveOrg(orgs, o) {
		return ""
	}
	return o
}

// tradeParties returns the organizations entitled to rec's details for the
// stored event se: the capturing organization, the receiver the chain
// resolved, and every active organization a GLN of the source or
// destination list names.
func tradeParties(orgs store.Reader, se *supply.StoredEvent, rec *TradeRecord) []string {
	out := []string{rec.Org}
	add := func(o string) {
		if o == "" {
			return
		}
		for _, x := range out {
			if x == o {
				return
			}
		}
		out = append(out, o)
	}
	add(se.Receiver)
	for _, p := range rec.Details.Sources {
		add(orgOfGLN(orgs, p.ID))
	}
	for _, p := range rec.Details.Destinations {
		add(orgOfGLN(orgs, p.ID))
	}
	return out
}
