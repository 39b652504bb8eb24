package harness

import (
	"fmt"
	"sync"
	"time"
)

// Heights returns the height of each node in idx; a node that does not
// answer within 3 s is absent from the map.
func (tn *Testnet) Heights(idx ...int) map[int]int64 {
	out := map[int]int64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if h, err := tn.Node(i).Height(); err == nil {
				mu.Lock()
				out[i] = h
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// MaxHeight returns the highest height among the nodes in idx that answer
// (0 if none does).
func (tn *Testnet) MaxHeight(idx ...int) int64 {
	var m int64
	for _, h := range tn.Heights(idx...) {
		m = max(m, h)
	}
	return m
}

// WaitHeight waits until every node in idx is at height h or above.
func (tn *Testnet) WaitHeight(h int64, timeout time.Duration, idx ...int) error {
	deadline := time.Now().Add(timeout)
	for {
		hs := tn.Heights(idx...)
		behind := map[string]int64{}
		for _, i := range idx {
			if hs[i] < h {
				if _, ok := hs[i]; ok {
					behind[tn.Node(i).Info.Name] = hs[i]
				} else {
					behind[tn.Node(i).Info.Name] = -1
				}
			}
		}
		if len(behind) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not at height %d within %s: %v (-1: not answering)", h, timeout, behind)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// WaitProgress waits until the highest height among idx has grown by n
// blocks, and returns the heights before and after.
func (tn *Testnet) WaitProgress(n int64, timeout time.Duration, idx ...int) (from, to int64, err error) {
	from = tn.MaxHeight(idx...)
	deadline := time.Now().Add(timeout)
	for {
		to = tn.MaxHeight(idx...)
		if to >= from+n {
			return from, to, nil
		}
		if time.Now().After(deadline) {
			return from, to, fmt.Errorf("height went from %d to only %d in %s (want +%d)", from, to, timeout, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ExpectNoProgress watches the nodes in idx for d and fails if any of them
// commits a block meanwhile. It returns the highest height seen.
func (tn *Testnet) ExpectNoProgress(d time.Duration, idx ...int) (int64, error) {
	start := tn.Heights(idx...)
	deadline := time.Now().Add(d)
	var top int64
	for _, h := range start {
		top = max(top, h)
	}
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		for i, h := range tn.Heights(idx...) {
			s, ok := start[i]
			if !ok {
				start[i] = h
				continue
			}
			if h > s {
				return h, fmt.Errorf("%s committed height %d (from %d) while no quorum should exist", tn.Node(i).Info.Name, h, s)
			}
		}
	}
	return top, nil
}
