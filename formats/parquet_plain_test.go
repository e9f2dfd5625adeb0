package formats

import (
	"bytes"
	"testing"
)

// A page of numbers without nulls is copied from memory as it is; the file
// must be byte for byte the one the value-by-value encoder writes.
func TestPartitionPlainCopyBytes(t *testing.T) {
	for _, nulls := range []bool{false, true} {
		b := makeBars(partitionSchema(), 0, 3000, nulls)
		fast, _ := writePartition(t, b, 1000, 7, 993)
		nativeLittleEndian = false
		slow, _ := writePartition(t, b, 1000, 7, 993)
		nativeLittleEndian = true
		if !bytes.Equal(fast, slow) {
			t.Fatalf("nulls %v: the copied pages differ from the encoded ones (%d and %d bytes)", nulls, len(fast), len(slow))
		}
	}
}
