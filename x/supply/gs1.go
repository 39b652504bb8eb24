package supply

import (
	"crypto/sha256"
	"strings"

	"github.com/medchain/medchain/x/org"
)

// EPC URN prefixes the custody rules know. Other schemes (GIAI, GRAI, …)
// are kept in stored events but carry no custody.
const (
	sgtinPrefix = "urn:epc:id:sgtin:"
	ssccPrefix  = "urn:epc:id:sscc:"
	sglnPrefix  = "urn:epc:id:sgln:"
	pglnPrefix  = "urn:epc:id:pgln:"
)

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// NormalizeGTIN returns the GTIN-14 form of a GTIN-8, -12, -13 or -14
// (left-padded with zeros) after checking its check digit.
func NormalizeGTIN(s string) (string, bool) {
	switch len(s) {
	case 8, 12, 13, 14:
	default:
		return "", false
	}
	if !allDigits(s) || !org.ValidGS1Number(s, len(s)) {
		return "", false
	}
	return strings.Repeat("0", 14-len(s)) + s, true
}

// SGTIN is a parsed urn:epc:id:sgtin URN.
type SGTIN struct {
	CompanyPrefix string
	GTIN          string // GTIN-14
	Serial        string // as in the URN (URN-escaped)
}

// ParseSGTIN parses urn:epc:id:sgtin:CompanyPrefix.IndicatorItemRef.Serial
// (EPC Tag Data Standard): the prefix and item reference together have 13
// digits, the serial 1 to 20 characters.
func ParseSGTIN(epc string) (SGTIN, bool) {
	rest, ok := strings.CutPrefix(epc, sgtinPrefix)
	if !ok {
		return SGTIN{}, false
	}
	parts := strings.SplitN(rest, ".", 3)
	if len(parts) != 3 {
		return SGTIN{}, false
	}
	cp, ir, serial := parts[0], parts[1], parts[2]
	if !org.ValidCompanyPrefix(cp) || !allDigits(ir) || len(cp)+len(ir) != 13 || serial == "" || len(serial) > 60 {
		return SGTIN{}, false
	}
	body := ir[:1] + cp + ir[1:]
	return SGTIN{CompanyPrefix: cp, GTIN: body + string(org.GS1CheckDigit(body)), Serial: serial}, true
}

// SGTINURN returns the URN of serial of gtin (GTIN-14) for a company
// prefix of length cpLen.
func SGTINURN(gtin string, cpLen int, serial string) string {
	return sgtinPrefix + gtin[1:1+cpLen] + "." + gtin[:1] + gtin[1+cpLen:13] + "." + serial
}

// ParseSSCC parses urn:epc:id:sscc:CompanyPrefix.SerialReference (17
// digits together) and returns the company prefix and the SSCC-18.
func ParseSSCC(epc string) (prefix, sscc string, ok bool) {
	rest, ok := strings.CutPrefix(epc, ssccPrefix)
	if !ok {
		return "", "", false
	}
	cp, sr, found := strings.Cut(rest, ".")
	if !found || !org.ValidCompanyPrefix(cp) || !allDigits(sr) || len(cp)+len(sr) != 17 {
		return "", "", false
	}
	body := sr[:1] + cp + sr[1:]
	return cp, body + string(org.GS1CheckDigit(body)), true
}

// GLNFromURN returns the GLN (13 digits) of an SGLN
// (urn:epc:id:sgln:CompanyPrefix.LocationRef.Extension) or PGLN
// (urn:epc:id:pgln:CompanyPrefix.PartyRef) URN, or of a bare GLN.
func GLNFromURN(s string) (string, bool) {
	var cp, ref string
	switch {
	case strings.HasPrefix(s, sglnPrefix):
		parts := strings.SplitN(strings.TrimPrefix(s, sglnPrefix), ".", 3)
		if len(parts) != 3 {
			return "", false
		}
		cp, ref = parts[0], parts[1]
	case strings.HasPrefix(s, pglnPrefix):
		var found bool
		cp, ref, found = strings.Cut(strings.TrimPrefix(s, pglnPrefix), ".")
		if !found {
			return "", false
		}
	default:
		return s, org.ValidGLN(s)
	}
	if !org.ValidCompanyPrefix(cp) || len(cp)+len(ref) != 12 || (ref != "" && !allDigits(ref)) {
		return "", false
	}
	return cp + ref + string(org.GS1CheckDigit(cp+ref)), true
}

// isUnitEPC reports whether epc names a serialized unit the custody rules
// track (SGTIN or SSCC).
func isUnitEPC(epc string) bool {
	if _, ok := ParseSGTIN(epc); ok {
		return true
	}
	_, _, ok := ParseSSCC(epc)
	return ok
}

// EPCHash is how keys name a unit: SHA-256 of a domain tag and the EPC
// URN. The unit index (IndexStoreName) maps it to the unit's number, and
// the custodian, child and EPC event indexes name units by it, so that
// their keys list no serials (ADR 0005; the unit records themselves are
// at sequential numbers since ADR 0010).
func EPCHash(epc string) [32]byte {
	return sha256.Sum256([]byte("medchain/supply/epc/v1\x00" + epc))
}

// validDate reports whether s is YYYY-MM-DD with a plausible month and day.
func validDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' || !allDigits(s[:4]) || !allDigits(s[5:7]) || !allDigits(s[8:]) {
		return false
	}
	m, d := (s[5]-'0')*10+s[6]-'0', (s[8]-'0')*10+s[9]-'0'
	return m >= 1 && m <= 12 && d >= 1 && d <= 31
}
