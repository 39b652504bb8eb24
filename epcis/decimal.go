package epcis

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseMilli parses a decimal number ("-18.5", "4", "2.0125", "1E2") into
// thousandths, rounding half away from zero beyond three fractional
// digits. No floating point is involved.
func ParseMilli(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty number")
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 30 || e < -30 {
			return 0, errors.New("bad exponent")
		}
		exp = e
		s = s[:i]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return 0, errors.New("not a number")
	}
	digits := intPart + frac
	if !allDigits(digits) {
		return 0, errors.New("not a decimal number")
	}
	// value = digits × 10^(exp − len(frac)); we want value × 1000.
	shift := exp - len(frac) + 3
	digits = strings.TrimLeft(digits, "0")
	var v int64
	roundUp := false
	if shift >= 0 {
		if len(digits)+shift > 18 {
			return 0, errors.New("number out of range")
		}
		digits += strings.Repeat("0", shift)
	} else {
		cut := len(digits) + shift
		if cut < 0 {
			digits, cut = "", 0
		} else {
			roundUp = digits[cut] >= '5'
			digits = digits[:cut]
		}
		if len(digits) > 18 {
			return 0, errors.New("number out of range")
		}
	}
	if digits != "" {
		n, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			return 0, errors.New("number out of range")
		}
		v = n
	}
	if roundUp {
		if v == math.MaxInt64 {
			return 0, errors.New("number out of range")
		}
		v++
	}
	if neg {
		v = -v
	}
	return v, nil
}

// divRound divides rounding half away from zero.
func divRound(a, b int64) int64 {
	q, r := a/b, a%b
	if 2*abs64(r) >= abs64(b) {
		if (a < 0) != (b < 0) {
			q--
		} else {
			q++
		}
	}
	return q
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// ToCelsiusMilli converts a temperature in thousandths of uom (CEL, FAH or
// KEL, the UN/CEFACT codes EPCIS uses) to thousandths of a degree Celsius
// with integer arithmetic.
func ToCelsiusMilli(v int64, uom string) (int64, error) {
	if v > 1<<53 || v < -(1<<53) {
		return 0, errors.New("temperature out of range")
	}
	switch uom {
	case "CEL", "":
		return v, nil
	case "FAH":
		return divRound((v-32000)*5, 9), nil
	case "KEL":
		return v - 273150, nil
	}
	return 0, errors.New("unknown temperature unit " + clip(uom))
}

// ParseTime parses an EPCIS date-time: RFC 3339 with a mandatory time zone
// (Z or ±hh:mm) and any number of fractional-second digits.
func ParseTime(s string) (time.Time, error) {
	if len(s) < 17 || len(s) > 40 || s[10] != 'T' {
		return time.Time{}, errors.New("not an ISO 8601 date-time with time zone (e.g. 2024-05-01T10:00:00.000+02:00)")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		// hh:mm without seconds, as some published documents write
		t, err = time.Parse("2006-01-02T15:04Z07:00", s)
	}
	if err != nil {
		return time.Time{}, errors.New("not an ISO 8601 date-time with time zone (e.g. 2024-05-01T10:00:00.000+02:00)")
	}
	return t, nil
}

// validOffset reports whether s is a time-zone offset ±hh:mm (hh ≤ 14).
func validOffset(s string) bool {
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' || !allDigits(s[1:3]) || !allDigits(s[4:6]) {
		return false
	}
	h, _ := strconv.Atoi(s[1:3])
	m, _ := strconv.Atoi(s[4:6])
	return h <= 14 && m < 60
}
