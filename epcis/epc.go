package epcis

import (
	"errors"
	"net/url"
	"sort"
	"strings"
)

// GS1 identifiers: EPC URIs (TDS 2.x pure identities, classes and id
// patterns) and GS1 Digital Link URIs.

// CheckDigit returns the GS1 mod-10 check digit for digits (the key without
// its check digit), or -1 if digits holds a non-digit.
func CheckDigit(digits string) int {
	sum := 0
	for i := 0; i < len(digits); i++ {
		c := digits[len(digits)-1-i]
		if c < '0' || c > '9' {
			return -1
		}
		d := int(c - '0')
		if i%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return (10 - sum%10) % 10
}

// ValidCheckDigit reports whether key (GTIN, GLN, SSCC, ...: all digits)
// ends in its correct check digit.
func ValidCheckDigit(key string) bool {
	if len(key) < 2 || !allDigits(key) {
		return false
	}
	return CheckDigit(key[:len(key)-1]) == int(key[len(key)-1]-'0')
}

// withCheck appends the check digit to digits.
func withCheck(digits string) string {
	return digits + string(rune('0'+CheckDigit(digits)))
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// dlEscape percent-encodes the characters GS1 Digital Link requires to be
// escaped in path values and that EPC URIs may carry literally.
var dlEscaper = strings.NewReplacer("!", "%21", "(", "%28", ")", "%29", "*", "%2A", "+", "%2B", ",", "%2C", ":", "%3A")

// epcCharsOK reports whether s uses only the EPC URI serial characters
// (GS1 AI encodable set 82 as written in EPC URIs, with %-escapes).
func epcCharsOK(s string, max int) bool {
	if s == "" || len(s) > max*3 {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case strings.IndexByte("!'()*+,-.:;=_", c) >= 0:
		default:
			return false
		}
		n++
	}
	return n <= max
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// splitCP splits "cp.ref..." into the company prefix and the rest, checking
// the prefix is 6 to 12 digits.
func splitCP(body string, parts int) ([]string, bool) {
	p := strings.SplitN(body, ".", parts)
	if len(p) != parts || len(p[0]) < 6 || len(p[0]) > 12 || !allDigits(p[0]) {
		return nil, false
	}
	return p, true
}

// digitsOfLen reports whether s is all digits (or empty when n is 0) and has length n.
func digitsOfLen(s string, n int) bool {
	if n == 0 {
		return s == ""
	}
	return len(s) == n && allDigits(s)
}

const dlBase = "https://id.gs1.org/"

// URNToDL converts an EPC URI (urn:epc:id:…, urn:epc:class:lgtin:…,
// urn:epc:idpat:…) to its canonical GS1 Digital Link URI.
func URNToDL(urn string) (string, bool) {
	switch {
	case strings.HasPrefix(urn, "urn:epc:id:"):
		scheme, body, ok := strings.Cut(urn[len("urn:epc:id:"):], ":")
		if !ok {
			return "", false
		}
		return idToDL(scheme, body)
	case strings.HasPrefix(urn, "urn:epc:class:lgtin:"):
		p, ok := splitCP(urn[len("urn:epc:class:lgtin:"):], 3)
		if !ok || !digitsOfLen(p[1], 13-len(p[0])) || !epcCharsOK(p[2], 20) {
			return "", false
		}
		return dlBase + "01/" + withCheck(p[1][:1]+p[0]+p[1][1:]) + "/10/" + dlEscaper.Replace(p[2]), true
	case strings.HasPrefix(urn, "urn:epc:idpat:"):
		scheme, body, ok := strings.Cut(urn[len("urn:epc:idpat:"):], ":")
		if !ok || !strings.HasSuffix(body, ".*") {
			return "", false
		}
		return idpatToDL(scheme, strings.TrimSuffix(body, ".*"))
	}
	return "", false
}

func idToDL(scheme, body string) (string, bool) {
	switch scheme {
	case "sgtin", "upui":
		p, ok := splitCP(body, 3)
		if !ok || !digitsOfLen(p[1], 13-len(p[0])) {
			return "", false
		}
		gtin := withCheck(p[1][:1] + p[0] + p[1][1:])
		if scheme == "upui" {
			if !epcCharsOK(p[2], 28) {
				return "", false
			}
			return dlBase + "01/" + gtin + "/235/" + dlEscaper.Replace(p[2]), true
		}
		if !epcCharsOK(p[2], 20) {
			return "", false
		}
		return dlBase + "01/" + gtin + "/21/" + dlEscaper.Replace(p[2]), true
	case "sscc":
		p, ok := splitCP(body, 2)
		if !ok || !digitsOfLen(p[1], 17-len(p[0])) {
			return "", false
		}
		return dlBase + "00/" + withCheck(p[1][:1]+p[0]+p[1][1:]), true
	case "sgln":
		p, ok := splitCP(body, 3)
		if !ok || !digitsOfLen(p[1], 12-len(p[0])) || !epcCharsOK(p[2], 20) {
			return "", false
		}
		gln := withCheck(p[0] + p[1])
		if p[2] == "0" {
			return dlBase + "414/" + gln, true
		}
		return dlBase + "414/" + gln + "/254/" + dlEscaper.Replace(p[2]), true
	case "pgln":
		p, ok := splitCP(body, 2)
		if !ok || !digitsOfLen(p[1], 12-len(p[0])) {
			return "", false
		}
		return dlBase + "417/" + withCheck(p[0]+p[1]), true
	case "grai":
		p, ok := splitCP(body, 3)
		if !ok || !digitsOfLen(p[1], 12-len(p[0])) || !epcCharsOK(p[2], 16) {
			return "", false
		}
		return dlBase + "8003/" + withCheck("0"+p[0]+p[1]) + dlEscaper.Replace(p[2]), true
	case "giai":
		p, ok := splitCP(body, 2)
		if !ok || !epcCharsOK(p[1], 30-len(p[0])) {
			return "", false
		}
		return dlBase + "8004/" + p[0] + dlEscaper.Replace(p[1]), true
	case "gsrn", "gsrnp":
		p, ok := splitCP(body, 2)
		if !ok || !digitsOfLen(p[1], 17-len(p[0])) {
			return "", false
		}
		ai := "8018/"
		if scheme == "gsrnp" {
			ai = "8017/"
		}
		return dlBase + ai + withCheck(p[0]+p[1]), true
	case "gdti", "sgcn":
		p, ok := splitCP(body, 3)
		if !ok || !digitsOfLen(p[1], 12-len(p[0])) {
			return "", false
		}
		if scheme == "sgcn" {
			if p[2] != "" && (!allDigits(p[2]) || len(p[2]) > 12) {
				return "", false
			}
			return dlBase + "255/" + withCheck(p[0]+p[1]) + p[2], true
		}
		if p[2] != "" && !epcCharsOK(p[2], 17) {
			return "", false
		}
		return dlBase + "253/" + withCheck(p[0]+p[1]) + dlEscaper.Replace(p[2]), true
	case "cpi":
		p, ok := splitCP(body, 2)
		if !ok {
			return "", false
		}
		i := strings.LastIndexByte(p[1], '.')
		if i < 0 || !allDigits(p[1][i+1:]) || len(p[1][i+1:]) > 12 || p[1][:i] == "" {
			return "", false
		}
		return dlBase + "8010/" + dlEscaper.Replace(p[0]+p[1][:i]) + "/8011/" + p[1][i+1:], true
	case "ginc":
		p, ok := splitCP(body, 2)
		if !ok || !epcCharsOK(p[1], 30-len(p[0])) {
			return "", false
		}
		return dlBase + "401/" + p[0] + dlEscaper.Replace(p[1]), true
	case "gsin":
		p, ok := splitCP(body, 2)
		if !ok || !digitsOfLen(p[1], 16-len(p[0])) {
			return "", false
		}
		return dlBase + "402/" + withCheck(p[0]+p[1]), true
	case "itip":
		p, ok := splitCP(body, 5)
		if !ok || !digitsOfLen(p[1], 13-len(p[0])) || !digitsOfLen(p[2], 2) || !digitsOfLen(p[3], 2) || !epcCharsOK(p[4], 20) {
			return "", false
		}
		return dlBase + "8006/" + withCheck(p[1][:1]+p[0]+p[1][1:]) + p[2] + p[3] + "/21/" + dlEscaper.Replace(p[4]), true
	}
	return "", false
}

func idpatToDL(scheme, body string) (string, bool) {
	p := strings.Split(body, ".")
	if len(p) < 2 || len(p[0]) < 6 || len(p[0]) > 12 || !allDigits(p[0]) {
		return "", false
	}
	switch scheme {
	case "sgtin", "upui":
		if len(p) != 2 || !digitsOfLen(p[1], 13-len(p[0])) {
			return "", false
		}
		return dlBase + "01/" + withCheck(p[1][:1]+p[0]+p[1][1:]), true
	case "grai":
		if len(p) != 2 || !digitsOfLen(p[1], 12-len(p[0])) {
			return "", false
		}
		return dlBase + "8003/" + withCheck("0"+p[0]+p[1]), true
	case "gdti", "sgcn":
		if len(p) != 2 || !digitsOfLen(p[1], 12-len(p[0])) {
			return "", false
		}
		ai := "253/"
		if scheme == "sgcn" {
			ai = "255/"
		}
		return dlBase + ai + withCheck(p[0]+p[1]), true
	case "cpi":
		if len(p) != 2 || p[1] == "" {
			return "", false
		}
		return dlBase + "8010/" + dlEscaper.Replace(p[0]+p[1]), true
	case "itip":
		if len(p) != 4 || !digitsOfLen(p[1], 13-len(p[0])) || !digitsOfLen(p[2], 2) || !digitsOfLen(p[3], 2) {
			return "", false
		}
		return dlBase + "8006/" + withCheck(p[1][:1]+p[0]+p[1][1:]) + p[2] + p[3], true
	}
	return "", false
}

// Digital Link primary key AIs and their short names.
var dlKeyAliases = map[string]string{
	"01": "01", "gtin": "01", "8006": "8006", "itip": "8006", "8010": "8010", "cpid": "8010",
	"414": "414", "gln": "414", "417": "417", "party": "417", "8017": "8017", "gsrnp": "8017",
	"8018": "8018", "gsrn": "8018", "255": "255", "gcn": "255", "00": "00", "sscc": "00",
	"253": "253", "gdti": "253", "401": "401", "ginc": "401", "402": "402", "gsin": "402",
	"8003": "8003", "grai": "8003", "8004": "8004", "giai": "8004",
}

// Key qualifier AIs and their short names.
var dlQualifierAliases = map[string]string{
	"22": "22", "cpv": "22", "10": "10", "lot": "10", "21": "21", "ser": "21",
	"235": "235", "254": "254", "8011": "8011", "7040": "7040",
}

// DigitalLink is a parsed GS1 Digital Link URI.
type DigitalLink struct {
	// Key is the primary key's AI ("01", "00", "414", ...) and Value its value.
	Key, Value string
	// Qualifiers are the key qualifiers in the path (AI → value, unescaped).
	Qualifiers map[string]string
	// Attributes are the data attributes in the query string (AI → value),
	// for example "17" (expiry YYMMDD) or "10" (lot).
	Attributes map[string]string
}

// ParseDigitalLink parses a GS1 Digital Link URI (any host; the path may
// start with extra segments before the primary key).
func ParseDigitalLink(s string) (*DigitalLink, error) {
	if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") {
		return nil, errors.New("not an http(s) URI")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return nil, errors.New("not a valid URI")
	}
	segs := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	start := -1
	for i := 0; i+1 < len(segs); i++ {
		if _, ok := dlKeyAliases[segs[i]]; ok && len(segs[i+1]) >= 4 && allDigits(segs[i+1][:4]) {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, errors.New("no GS1 primary key in the path")
	}
	dl := &DigitalLink{Key: dlKeyAliases[segs[start]], Qualifiers: map[string]string{}, Attributes: map[string]string{}}
	v, err := url.PathUnescape(segs[start+1])
	if err != nil {
		return nil, errors.New("bad percent-encoding in the key value")
	}
	dl.Value = v
	rest := segs[start+2:]
	if len(rest)%2 != 0 {
		return nil, errors.New("a key qualifier has no value")
	}
	for i := 0; i < len(rest); i += 2 {
		ai, ok := dlQualifierAliases[rest[i]]
		if !ok {
			return nil, errors.New("unknown key qualifier " + clip(rest[i]))
		}
		q, err := url.PathUnescape(rest[i+1])
		if err != nil || q == "" {
			return nil, errors.New("bad key qualifier value")
		}
		dl.Qualifiers[ai] = q
	}
	for k, vals := range u.Query() {
		if allDigits(k) && len(vals) > 0 {
			dl.Attributes[k] = vals[0]
		}
	}
	switch dl.Key {
	case "01":
		switch len(dl.Value) {
		case 8, 12, 13:
			dl.Value = strings.Repeat("0", 14-len(dl.Value)) + dl.Value
		}
		if !digitsOfLen(dl.Value, 14) {
			return nil, errors.New("GTIN must be 8, 12, 13 or 14 digits")
		}
	case "00", "8017", "8018":
		if !digitsOfLen(dl.Value, 18) {
			return nil, errors.New("key must be 18 digits")
		}
	case "414", "417":
		if !digitsOfLen(dl.Value, 13) {
			return nil, errors.New("GLN must be 13 digits")
		}
	case "8006":
		if !digitsOfLen(dl.Value, 18) {
			return nil, errors.New("ITIP must be 18 digits")
		}
	case "402":
		if !digitsOfLen(dl.Value, 17) {
			return nil, errors.New("GSIN must be 17 digits")
		}
	}
	for ai, q := range dl.Qualifiers {
		if len(q) > 28 || (ai == "22" || ai == "10" || ai == "21" || ai == "254") && len(q) > 20 {
			return nil, errors.New("key qualifier " + ai + " is too long")
		}
	}
	return dl, nil
}

// Canonical returns the constrained canonical Digital Link: host
// id.gs1.org, numeric AIs, GTIN padded to 14 digits, no query string, and
// only the finest identification level (serial over lot; CPV dropped).
func (dl *DigitalLink) Canonical() string {
	esc := func(s string) string { return dlEscaper.Replace(strings.ReplaceAll(url.PathEscape(s), "%3A", ":")) }
	b := dlBase + dl.Key + "/" + esc(dl.Value)
	q := dl.Qualifiers
	switch dl.Key {
	case "01", "8006":
		switch {
		case q["21"] != "":
			b += "/21/" + esc(q["21"])
		case q["10"] != "":
			b += "/10/" + esc(q["10"])
		case q["235"] != "" && dl.Key == "01":
			b += "/235/" + esc(q["235"])
		}
	case "414":
		if q["254"] != "" {
			b += "/254/" + esc(q["254"])
		}
	case "8010":
		if q["8011"] != "" {
			b += "/8011/" + esc(q["8011"])
		}
	}
	return b
}

// CanonicalDL returns the canonical Digital Link for an EPC URI or a GS1
// Digital Link URI, and false for anything else.
func CanonicalDL(s string) (string, bool) {
	if strings.HasPrefix(s, "urn:epc:") {
		return URNToDL(s)
	}
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		dl, err := ParseDigitalLink(s)
		if err != nil {
			return "", false
		}
		return dl.Canonical(), true
	}
	return "", false
}

// PrefixResolver returns the length (6 to 12) of the GS1 Company Prefix
// that digits starts with, or 0 when it is unknown. digits is a GS1 key
// without its indicator/extension digit (GTIN, SSCC) or the whole GLN.
type PrefixResolver func(digits string) int

// PrefixList returns a resolver that knows exactly the given company
// prefixes (longest match wins).
func PrefixList(prefixes ...string) PrefixResolver {
	ps := append([]string(nil), prefixes...)
	sort.Slice(ps, func(i, j int) bool { return len(ps[i]) > len(ps[j]) })
	return func(digits string) int {
		for _, p := range ps {
			if len(p) >= 6 && len(p) <= 12 && strings.HasPrefix(digits, p) {
				return len(p)
			}
		}
		return 0
	}
}

// urnEscaper escapes the characters an EPC URI serial may not hold literally.
var urnEscaper = strings.NewReplacer("%", "%25", "\"", "%22", "&", "%26", "/", "%2F", "<", "%3C", ">", "%3E", "?", "%3F", "#", "%23")

// ToURN converts a GS1 Digital Link URI to the EPC pure-identity URN (or
// class / pattern URN for a GTIN with a lot or without a serial), using
// resolve for the company prefix length. It returns false when s is not a
// Digital Link or when the prefix length is unknown.
func ToURN(s string, resolve PrefixResolver) (string, bool) {
	dl, err := ParseDigitalLink(s)
	if err != nil || resolve == nil {
		return "", false
	}
	return dl.URN(resolve)
}

// URN converts the Digital Link to an EPC URI; see ToURN.
func (dl *DigitalLink) URN(resolve PrefixResolver) (string, bool) {
	q := dl.Qualifiers
	switch dl.Key {
	case "01":
		n := resolve(dl.Value[1:13])
		if n < 6 || n > 12 {
			return "", false
		}
		cp, ref := dl.Value[1:1+n], dl.Value[:1]+dl.Value[1+n:13]
		switch {
		case q["21"] != "":
			return "urn:epc:id:sgtin:" + cp + "." + ref + "." + urnEscaper.Replace(q["21"]), true
		case q["10"] != "":
			return "urn:epc:class:lgtin:" + cp + "." + ref + "." + urnEscaper.Replace(q["10"]), true
		default:
			return "urn:epc:idpat:sgtin:" + cp + "." + ref + ".*", true
		}
	case "00":
		n := resolve(dl.Value[1:17])
		if n < 6 || n > 12 {
			return "", false
		}
		return "urn:epc:id:sscc:" + dl.Value[1:1+n] + "." + dl.Value[:1] + dl.Value[1+n:17], true
	case "414", "417":
		n := resolve(dl.Value[:12])
		if n < 6 || n > 12 {
			return "", false
		}
		if dl.Key == "417" {
			return "urn:epc:id:pgln:" + dl.Value[:n] + "." + dl.Value[n:12], true
		}
		ext := q["254"]
		if ext == "" {
			ext = "0"
		}
		return "urn:epc:id:sgln:" + dl.Value[:n] + "." + dl.Value[n:12] + "." + urnEscaper.Replace(ext), true
	case "8003":
		if len(dl.Value) < 14 || !allDigits(dl.Value[:14]) {
			return "", false
		}
		n := resolve(dl.Value[1:13])
		if n < 6 || n > 12 || len(dl.Value) == 14 {
			return "", false
		}
		return "urn:epc:id:grai:" + dl.Value[1:1+n] + "." + dl.Value[1+n:13] + "." + urnEscaper.Replace(dl.Value[14:]), true
	case "8004":
		n := resolve(dl.Value)
		if n < 6 || n > 12 || len(dl.Value) <= n {
			return "", false
		}
		return "urn:epc:id:giai:" + dl.Value[:n] + "." + urnEscaper.Replace(dl.Value[n:]), true
	}
	return "", false
}

// SGTIN is a serialized GTIN taken from an EPC URI or a Digital Link.
type SGTIN struct {
	GTIN   string // 14 digits
	Serial string // unescaped
}

// ParseSGTIN extracts GTIN-14 and serial from urn:epc:id:sgtin:… or a
// Digital Link with AI 01 and 21.
func ParseSGTIN(s string) (SGTIN, bool) {
	dlStr, ok := CanonicalDL(s)
	if !ok {
		return SGTIN{}, false
	}
	dl, err := ParseDigitalLink(dlStr)
	if err != nil || dl.Key != "01" || dl.Qualifiers["21"] == "" {
		return SGTIN{}, false
	}
	return SGTIN{GTIN: dl.Value, Serial: dl.Qualifiers["21"]}, true
}
