package formats

import (
	"fmt"
	"io"
	"strings"
)

// readHeader finds the header line (skipping a one-line preamble such as
// CryptoDataDownload's "Created on ..."), or takes opt.Header for a
// headerless file, and maps the columns.
func (d *csvDecoder) readHeader() error {
	rec, err := d.sc.Next()
	if err == io.EOF {
		return d.notBars("no rows (empty CSV)")
	}
	if err != nil {
		return d.withFile(err)
	}
	hdr := copyStrings(rec)
	hdrLine := d.sc.Line()
	if looksLikeData(rec) {
		if len(d.opt.Header) == 0 {
			return d.notBars("no header: line %d looks like data (%s); name the columns or write into an existing dataset", hdrLine, clip(strings.Join(hdr, ",")))
		}
		d.first = newRawRows(len(rec))
		d.first.add(rec, hdrLine)
		hdr = append([]string(nil), d.opt.Header...)
	} else if countRecognized(hdr) < 2 {
		// A preamble line: the header may be the next line.
		next, err := d.sc.Next()
		if err != nil && err != io.EOF {
			return d.withFile(err)
		}
		if err == nil && countRecognized(next) >= 4 {
			hdr = copyStrings(next)
			hdrLine = d.sc.Line()
		} else if err == nil {
			d.first = newRawRows(len(rec))
			d.first.add(next, d.sc.Line())
		}
	}
	d.header = hdr
	d.nfields = len(hdr)
	if d.first != nil && d.first.nf != d.nfields {
		return d.perr(d.first.lines[0], -1, nil, fmt.Errorf("%w: %d, header has %d", errFieldCount, d.first.nf, d.nfields))
	}
	return d.mapColumns(hdrLine)
}

// mapColumns assigns a role to every source field and fixes the provider
// of rows without a provider column.
func (d *csvDecoder) mapColumns(line int64) error {
	h := headerSpec{file: d.opt.File, line: line, names: d.header, datePair: true, indexTS: -1, provider: d.opt.Provider}
	m, err := mapHeader(h)
	if err != nil {
		return err
	}
	if err := m.checkRequired(h); err != nil {
		return err
	}
	d.columnMap = m
	d.stats.Vendor = m.vendor
	d.provider = m.vendor
	if d.opt.Provider != "" {
		d.provider = strings.ToLower(strings.TrimSpace(d.opt.Provider))
	}
	return nil
}

func copyStrings(rec [][]byte) []string {
	out := make([]string, len(rec))
	for i, f := range rec {
		out[i] = string(f)
	}
	return out
}

// looksLikeData reports whether a first line is a data row rather than a
// header: no field is a known column name, the first field starts with a
// digit (a date, an epoch, a tick time) and at least two others are numbers.
func looksLikeData(rec [][]byte) bool {
	if len(rec) < 3 || countRecognized(rec) > 0 {
		return false
	}
	first := trimBytes(rec[0])
	if len(first) == 0 || first[0] < '0' || first[0] > '9' {
		return false
	}
	nums := 0
	for _, f := range rec[1:] {
		if _, ok := parseFloatFast(trimBytes(f)); ok {
			nums++
		}
	}
	return nums >= 2
}
