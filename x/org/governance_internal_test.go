package org

import (
	"errors"
	"math/big"
	"testing"
)

// TestPasses checks Passes against the exact rule: yes/n > 2/3 in rational
// arithmetic, and against the known minimum approvals per electorate size.
func TestPasses(t *testing.T) {
	twoThirds := big.NewRat(2, 3)
	minYes := map[int]int{1: 1, 2: 2, 3: 3, 4: 3, 5: 4, 6: 5, 7: 5, 8: 6, 9: 7, 10: 7}
	for n := 1; n <= 10; n++ {
		first := -1
		for yes := 0; yes <= n; yes++ {
			want := big.NewRat(int64(yes), int64(n)).Cmp(twoThirds) > 0
			if got := Passes(yes, n); got != want {
				t.Errorf("Passes(%d, %d): got %v, want %v", yes, n, got, want)
			}
			if want && first < 0 {
				first = yes
			}
		}
		if first != minYes[n] {
			t.Errorf("n=%d: smallest passing yes count got %d, want %d", n, first, minYes[n])
		}
	}
}

func TestCheckPowerCap(t *testing.T) {
	ps := func(powers ...int64) []orgPower {
		out := make([]orgPower, len(powers))
		for i, p := range powers {
			out[i] = orgPower{org: string(rune('a' + i)), power: p}
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		powers []orgPower
		want   error // nil, ErrPowerCap or ErrNoValidators
	}{
		{"four equal", ps(10, 10, 10, 10), nil},
		{"just under a third", ps(10, 10, 10, 14), nil},                  // 14/44
		{"exactly a third is rejected", ps(10, 10, 10, 15), ErrPowerCap}, // 15/45
		{"over a third", ps(10, 10, 10, 20), ErrPowerCap},                // 20/50
		{"five, exactly a third", ps(1, 1, 1, 1, 2), ErrPowerCap},        // 2/6
		{"three running: no cap", ps(10, 10, 100), nil},
		{"four orgs, three running: no cap", ps(0, 10, 10, 100), nil},
		{"single org", ps(5), nil},
		{"no power", ps(0, 0, 0), ErrNoValidators},
		{"no orgs", nil, ErrNoValidators},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPowerCap(tc.powers)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("CheckPowerCap(%v): got %v, want nil", tc.powers, err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("CheckPowerCap(%v): got %v, want an error wrapping %v", tc.powers, err, tc.want)
			}
		})
	}
}
