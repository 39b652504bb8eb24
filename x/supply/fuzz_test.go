package supply_test

import (
	"bytes"
	"testing"

	"github.com/medchain/medchain/x/supply"
)

// FuzzDecodeCapture: any bytes either fail to decode or decode to a
// message that re-encodes to the same bytes (one encoding per value), and
// ValidateBasic never panics.
func FuzzDecodeCapture(f *testing.F) {
	ev := ship(mfr, dist, sgtin("1"), sscc(2))
	ev.Sensors = []supply.SensorReading{{Type: "Temperature", ValueMilli: -18500, HasValue: true, UOM: "CEL"}}
	ev.Quantities = []supply.Quantity{{EPCClass: "urn:epc:class:lgtin:4012345.012345.998877", Amount: "10", UOM: "KGM"}}
	f.Add((&supply.MsgCapture{Org: mfr, Events: []supply.Event{ev, pack(sscc(3), sgtin("9"))}}).MarshalWire())
	f.Add((&supply.MsgCapture{Org: mfr, Events: []supply.Event{commission("L1", "2030-01-01", sgtin("1"))}}).MarshalWire())
	f.Add([]byte{})
	var decode func([]byte) (interface {
		MarshalWire() []byte
		ValidateBasic() error
	}, error)
	for _, mt := range supply.New(nil).MsgTypes() {
		if mt.TypeURL == supply.TypeCapture {
			d := mt.Decode
			decode = func(b []byte) (interface {
				MarshalWire() []byte
				ValidateBasic() error
			}, error) {
				return d(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, bz []byte) {
		m, err := decode(bz)
		if err != nil {
			return
		}
		if got := m.MarshalWire(); !bytes.Equal(got, bz) {
			t.Fatalf("re-encoding differs:\n%x\n%x", got, bz)
		}
		_ = m.ValidateBasic()
	})
}
