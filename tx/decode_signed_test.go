package tx

import (
	"bytes"
	"errors"
	"testing"
)

// DecodeSigned's sign bytes, cut from the encoding, are exactly what the
// signer signed (Body.SignBytes); non-canonical input fails as in Decode.
func TestDecodeSignedSignBytes(t *testing.T) {
	for name, tx := range sampleTxs() {
		got, sb, err := DecodeSigned(tx.MarshalWire())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !equalTx(got, tx) {
			t.Errorf("%s: decoded %+v, want %+v", name, got, tx)
		}
		if want := tx.Body.SignBytes(); !bytes.Equal(sb, want) {
			t.Errorf("%s: sign bytes %x, want %x", name, sb, want)
		}
	}
	base := sampleTxs()["one msg"]
	for _, v := range variants() {
		if _, sb, err := DecodeSigned(v.make(base)); !errors.Is(err, v.want) || sb != nil {
			t.Errorf("%s: DecodeSigned = (%x, %v), want error %v", v.name, sb, err, v.want)
		}
	}
}
