package formats

import (
	"fmt"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"
)

// colCursor streams one column chunk as Column values. It converts a page
// at a time and hands out slices of it, so memory stays at one page per
// column plus the batch being filled.
type colCursor struct {
	info    *leafInfo
	pages   parquet.Pages
	cur     Column // the current page, converted, nulls expanded
	dense   Column // scratch: non-null values of a page with nulls
	pos     int    // next row of cur to hand out
	n       int    // rows in cur
	dict    parquet.Dictionary
	dictCol Column // dict converted
	lastStr []byte // interning of repeated plain strings
	lastS   string
	// maxValue bounds one string value in bytes; 0: no limit.
	maxValue int
	// deep checks every page before parquet-go reads it (checkPage): set
	// for input files, not for the store's own partitions.
	deep bool
	// resident is what reading the current chunk holds at once (see
	// checkPageHeaders).
	resident int64
}

// reset points the cursor at the chunk of leaf column leaf in row group rg.
func (c *colCursor) reset(f *parquet.File, rg, leaf int) error {
	if c.pages != nil {
		c.pages.Close()
		c.pages = nil
	}
	c.pos, c.n = 0, 0
	c.dict = nil
	md := f.Metadata()
	groups := f.RowGroups()
	if rg >= len(groups) || rg >= len(md.RowGroups) || leaf >= len(md.RowGroups[rg].Columns) || leaf >= len(groups[rg].ColumnChunks()) {
		return fmt.Errorf("row group %d lacks column %q: %w", rg, c.info.Name, errCorruptPage)
	}
	// parquet-go decodes every chunk of a column with the codec of the
	// first row group's chunk.
	if leaf >= len(md.RowGroups[0].Columns) || md.RowGroups[0].Columns[leaf].MetaData.Codec != md.RowGroups[rg].Columns[leaf].MetaData.Codec {
		return fmt.Errorf("column %q changes compression codec between row groups: %w", c.info.Name, ErrUnsupported)
	}
	var err error
	if c.resident, err = checkPageHeaders(f, &md.RowGroups[rg].Columns[leaf].MetaData, c.deep, c.info.Optional); err != nil {
		return fmt.Errorf("column %q: %w", c.info.Name, err)
	}
	c.pages = groups[rg].ColumnChunks()[leaf].Pages()
	return nil
}

func (c *colCursor) close() {
	if c.pages != nil {
		c.pages.Close()
		c.pages = nil
	}
}

// read appends up to n rows to dst and returns how many it appended; 0
// with io.EOF at the end of the chunk.
func (c *colCursor) read(dst *Column, n int) (int, error) {
	for c.pos >= c.n {
		page, err := c.pages.ReadPage()
		if err != nil {
			return 0, err
		}
		if rows := int(page.NumValues()); rows <= n && dst.Null == nil && page.NumNulls() == 0 {
			// The caller takes the whole page: convert straight into dst
			// instead of staging it in c.cur and copying.
			err = c.load(page, dst, false)
			parquet.Release(page)
			if err != nil || rows == 0 {
				if err != nil {
					return 0, err
				}
				continue
			}
			return rows, nil
		}
		err = c.load(page, &c.cur, true)
		parquet.Release(page)
		if err != nil {
			return 0, err
		}
	}
	k := min(n, c.n-c.pos)
	appendColumnRange(dst, &c.cur, c.info.Type, c.pos, c.pos+k)
	c.pos += k
	return k, nil
}

func truncateColumn(c *Column) {
	c.Int, c.Float, c.Str, c.Bool = c.Int[:0], c.Float[:0], c.Str[:0], c.Bool[:0]
	c.Null = nil
}

// load converts page into out: appended to it, or replacing its content
// (and becoming the cursor's current page) when staged.
func (c *colCursor) load(page parquet.Page, out *Column, staged bool) error {
	if len(page.RepetitionLevels()) > 0 {
		return fmt.Errorf("column %q is repeated: %w", c.info.Name, ErrUnsupported)
	}
	rows := int(page.NumValues())
	defs := page.DefinitionLevels()
	nonNull := rows
	if len(defs) == 0 && rows > 0 && page.NumNulls() == int64(rows) {
		// A column of logical type NULL: no levels, no values.
		if data := page.Data(); data.Kind() == encoding.Undefined {
			defs = make([]byte, rows)
		}
	}
	if len(defs) > 0 {
		if len(defs) != rows {
			return errCorruptPage
		}
		nonNull = 0
		for _, d := range defs {
			if d != 0 {
				nonNull++
			}
		}
	}
	dst := out
	if nonNull != rows {
		if !staged {
			return errCorruptPage
		}
		dst = &c.dense
	}
	if staged {
		truncateColumn(dst)
	}
	before := dst.Len(c.info.Type)
	if dict := page.Dictionary(); dict != nil {
		if dict != c.dict {
			truncateColumn(&c.dictCol)
			dp := dict.Page()
			if err := c.convert(&c.dictCol, dp.Data(), int(dp.NumValues())); err != nil {
				return err
			}
			c.dict = dict
		}
		data := page.Data()
		if data.Kind() != encoding.Int32 {
			return errCorruptPage
		}
		idx := data.Int32()
		if len(idx) != nonNull {
			return errCorruptPage
		}
		if err := gather(dst, &c.dictCol, c.info.Type, idx); err != nil {
			return err
		}
	} else if nonNull > 0 {
		if err := c.convert(dst, page.Data(), nonNull); err != nil {
			return err
		}
	}
	if dst.Len(c.info.Type)-before != nonNull {
		return errCorruptPage
	}
	if dst == &c.dense {
		scatter(&c.cur, &c.dense, c.info.Type, defs)
	}
	if staged {
		c.pos, c.n = 0, rows
	}
	return nil
}

// gather sets dst to dict[idx[i]] for each i.
func gather(dst, dict *Column, t Type, idx []int32) error {
	n := dict.Len(t)
	for _, i := range idx {
		if uint(i) >= uint(n) {
			return fmt.Errorf("corrupt page: dictionary index %d out of range [0,%d)", i, n)
		}
	}
	switch t {
	case TypeTimestamp, TypeInt64:
		for _, i := range idx {
			dst.Int = append(dst.Int, dict.Int[i])
		}
	case TypeFloat64:
		for _, i := range idx {
			dst.Float = append(dst.Float, dict.Float[i])
		}
	case TypeString:
		for _, i := range idx {
			dst.Str = append(dst.Str, dict.Str[i])
		}
	case TypeBool:
		for _, i := range idx {
			dst.Bool = append(dst.Bool, dict.Bool[i])
		}
	}
	return nil
}

// scatter expands the non-null values in dense to one slot per level in
// dst, marking slots with level 0 null.
func scatter(dst, dense *Column, t Type, defs []byte) {
	truncateColumn(dst)
	n := len(defs)
	null := make([]bool, n)
	for i, d := range defs {
		null[i] = d == 0
	}
	switch t {
	case TypeTimestamp, TypeInt64:
		dst.Int = scatterValues(dst.Int, dense.Int, null)
	case TypeFloat64:
		dst.Float = scatterValues(dst.Float, dense.Float, null)
	case TypeString:
		dst.Str = scatterValues(dst.Str, dense.Str, null)
	case TypeBool:
		dst.Bool = scatterValues(dst.Bool, dense.Bool, null)
	}
	dst.Null = null
}

// scatterValues reuses dst for one slot per entry of null, filling the
// non-null slots with dense's values in order and zeroing the others.
func scatterValues[T any](dst, dense []T, null []bool) []T {
	n := len(null)
	if cap(dst) < n {
		dst = make([]T, n)
	} else {
		dst = dst[:n]
		clear(dst)
	}
	j := 0
	for i, isNull := range null {
		if !isNull {
			dst[i] = dense[j]
			j++
		}
	}
	return dst
}
