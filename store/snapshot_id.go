package store

import "time"

// Committed is the commit time of the snapshot's version (Entry.Committed):
// with the name and version it tells a version from one of the same number
// in a dataset deleted and made again.
func (sn *Snapshot) Committed() time.Time { return sn.m.CommittedAt }
