package formats

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// FuzzCSVRawRows: the one-copy path of the reader (nextLine into rawRows,
// record for the lines it leaves) yields exactly the records, lines and
// errors of RecordScanner.Next, and rawRows gives every field back.
func FuzzCSVRawRows(f *testing.F) {
	for _, s := range []string{
		"a,b,c\n1,2,3\n\n4,5,6\r\n7,8\n9,10,11,12\n",
		"\ufeffx,y\n\"q,1\",2\n3,\"multi\nline\"\n,\n",
		"1,2,3\n\"bad\"x,2,3\n",
		"1,2,3",
		",,\n,,\r\n\"\",,\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, nf uint8) { checkRawRows(t, data, int(nf%6)+1) })
}

// TestCSVRawRowsRandom runs the FuzzCSVRawRows check on random text where
// commas, quotes and line ends fall at every offset of the 8-byte words.
func TestCSVRawRowsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const alphabet = "abc0123456789,,,,,\"\n\n\r "
	for i := 0; i < 2000; i++ {
		data := make([]byte, r.IntN(1000))
		for j := range data {
			data[j] = alphabet[r.IntN(len(alphabet))]
		}
		checkRawRows(t, data, 1+r.IntN(6))
	}
}

func checkRawRows(t *testing.T, data []byte, n int) {
	t.Helper()
	fast, ref := NewRecordScanner(bytes.NewReader(data)), NewRecordScanner(bytes.NewReader(data))
	r := newRawRows(n)
	var want [][]string
	for {
		added, err := fast.nextLine(r)
		wrec, werr := ref.Next()
		if added {
			if werr != nil || len(wrec) != n {
				t.Fatalf("added a row of %d fields where Next gives %d fields, err %v", n, len(wrec), werr)
			}
			if fast.Line() != ref.Line() {
				t.Fatalf("line %d, Next says %d", fast.Line(), ref.Line())
			}
			want = append(want, fieldStrings(wrec))
			continue
		}
		rec, err := fast.record(err)
		if fmt.Sprint(err) != fmt.Sprint(werr) {
			t.Fatalf("error %v, Next gives %v", err, werr)
		}
		if err != nil {
			break
		}
		if fmt.Sprintf("%q", fieldStrings(rec)) != fmt.Sprintf("%q", fieldStrings(wrec)) || fast.Line() != ref.Line() {
			t.Fatalf("record %q at line %d, Next gives %q at %d", fieldStrings(rec), fast.Line(), fieldStrings(wrec), ref.Line())
		}
		if len(rec) == n {
			r.add(rec, fast.Line())
			want = append(want, fieldStrings(rec))
		}
	}
	if r.len() != len(want) {
		t.Fatalf("%d rows held, want %d", r.len(), len(want))
	}
	var row [][]byte
	for i, w := range want {
		row = r.row(i, row)
		for j := range w {
			if string(row[j]) != w[j] || string(r.field(i, j)) != w[j] {
				t.Fatalf("row %d field %d: %q / %q, want %q", i, j, row[j], r.field(i, j), w[j])
			}
		}
	}
	if r.textLen() != textLen(want) {
		t.Fatalf("textLen %d, want %d", r.textLen(), textLen(want))
	}
	if len(want) > 0 {
		r.drop()
		if r.len() != len(want)-1 || r.textLen() != textLen(want[:len(want)-1]) {
			t.Fatalf("after drop: %d rows, %d bytes", r.len(), r.textLen())
		}
	}
}

func fieldStrings(rec [][]byte) []string {
	out := make([]string, len(rec))
	for i, f := range rec {
		out[i] = string(f)
	}
	return out
}

func textLen(rows [][]string) int {
	n := 0
	for _, r := range rows {
		for _, f := range r {
			n += len(f)
		}
	}
	return n
}
