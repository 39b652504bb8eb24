package module

import "testing"

func TestFactRememberedOnlyWithinOneMessageType(t *testing.T) {
	ctx := &Context{}
	calls := 0
	// The state answers true, false, false, true on successive reads.
	answers := []bool{true, false, false, true}
	fact := func() bool { calls++; return answers[calls-1] }

	ctx.BeginMsg("/a")
	if !ctx.Fact("k", fact) || calls != 1 {
		t.Fatalf("first read: calls = %d", calls)
	}
	ctx.BeginMsg("/a")
	if !ctx.Fact("k", fact) || calls != 1 {
		t.Fatalf("same type: fact read again (calls = %d)", calls)
	}
	if ctx.Fact("other", fact) || calls != 2 {
		t.Fatalf("another key must be read: calls = %d", calls)
	}
	// A message of another type may have changed the state: read again.
	ctx.BeginMsg("/b")
	if ctx.Fact("k", fact) || calls != 3 {
		t.Fatalf("after another type: calls = %d", calls)
	}
	ctx.BeginMsg("/a")
	if !ctx.Fact("k", fact) || calls != 4 {
		t.Fatalf("back to the first type: calls = %d", calls)
	}
}
