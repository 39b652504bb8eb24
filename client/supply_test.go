package client

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/medchain/medchain/api/types"
	"github.com/medchain/medchain/x/supply"
)

// TestCheckUnitProof: a unit proof is accepted only when it is of store
// supply at the answer's height, its value is the unit of the EPC asked,
// and its key is that unit's record key — so a node cannot pass off
// another unit's record (units are found through an unauthenticated
// index, ADR 0010).
func TestCheckUnitProof(t *testing.T) {
	const epc, other = "urn:epc:id:sgtin:0614141.107346.2018", "urn:epc:id:sgtin:0614141.107346.2019"
	value := func(epc string, n uint64) []byte {
		bz, err := json.Marshal(&supply.Unit{EPC: epc, Number: n, Status: supply.StatusActive})
		if err != nil {
			t.Fatal(err)
		}
		return bz
	}
	good := types.Proof{Store: supply.StoreName, Key: supply.UnitKey(5), Value: value(epc, 5), Height: 7}
	u, err := CheckUnitProof(&good, epc, 7)
	if err != nil || u.EPC != epc || u.Number != 5 {
		t.Fatalf("a good proof: %+v %v", u, err)
	}
	bad := map[string]types.Proof{
		"another unit's record":        {Store: supply.StoreName, Key: supply.UnitKey(6), Value: value(other, 6), Height: 7},
		"a key not the unit's number":  {Store: supply.StoreName, Key: supply.UnitKey(6), Value: value(epc, 5), Height: 7},
		"a key that is no unit key":    {Store: supply.StoreName, Key: supply.EventKey(5), Value: value(epc, 5), Height: 7},
		"a unit without a number":      {Store: supply.StoreName, Key: supply.UnitKey(0), Value: value(epc, 0), Height: 7},
		"another store":                {Store: "org", Key: supply.UnitKey(5), Value: value(epc, 5), Height: 7},
		"another height":               {Store: supply.StoreName, Key: supply.UnitKey(5), Value: value(epc, 5), Height: 6},
		"an absence":                   {Store: supply.StoreName, Key: supply.UnitKey(5), Height: 7},
		"a value that is not a record": {Store: supply.StoreName, Key: supply.UnitKey(5), Value: []byte("x"), Height: 7},
	}
	for what, p := range bad {
		if _, err := CheckUnitProof(&p, epc, 7); !errors.Is(err, ErrVerification) {
			t.Errorf("%s: %v, want ErrVerification", what, err)
		}
	}
	if _, err := CheckUnitProof(nil, epc, 7); !errors.Is(err, ErrVerification) {
		t.Errorf("no proof: %v", err)
	}
}

// TestSameEPC: the EPC a node answered for must be the one asked, as a
// URI or as a GS1 Digital Link rendered with any company-prefix length.
func TestSameEPC(t *testing.T) {
	const urn = "urn:epc:id:sgtin:0614141.107346.2018"
	link := "https://id.gs1.org/01/10614141073464/21/2018"
	cases := []struct {
		asked, urn string
		want       bool
	}{
		{urn, urn, true},
		{urn, "urn:epc:id:sgtin:0614141.107346.2019", false},
		{link, urn, true},
		{link, "urn:epc:id:sgtin:06141410.17346.2018", true}, // the same GTIN and serial, another partition
		{link, "urn:epc:id:sgtin:0614141.107346.2019", false},
		{link, "urn:epc:id:sgtin:0614141.107347.2018", false},
		{"https://id.gs1.org/00/106141411234567897", "urn:epc:id:sscc:0614141.1123456789", true},
		{"https://id.gs1.org/00/106141411234567897", "urn:epc:id:sscc:0614141.1123456780", false},
		{link, "not a urn", false},
	}
	for _, c := range cases {
		if got := SameEPC(c.asked, c.urn); got != c.want {
			t.Errorf("SameEPC(%s, %s) = %v, want %v", c.asked, c.urn, got, c.want)
		}
	}
}
