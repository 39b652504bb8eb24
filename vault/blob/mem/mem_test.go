package mem_test

import (
	"testing"

	"github.com/medchain/medchain/vault/blob"
	"github.com/medchain/medchain/vault/blob/blobtest"
	"github.com/medchain/medchain/vault/blob/mem"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(*testing.T) blob.Store { return mem.New() })
}
