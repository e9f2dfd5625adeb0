package main

import (
	"testing"

	"bcfs/fusefs"
)

func TestMountSharingFlags(t *testing.T) {
	var f fusefs.Options
	if err := (mountOptions{UID: 1000, GID: -1, Umask: "002"}).sharing(&f); err != nil {
		t.Fatal(err)
	}
	if f.UID == nil || *f.UID != 1000 || f.GID != nil || f.Umask == nil || *f.Umask != 0o002 {
		t.Fatalf("options %+v", f)
	}
	for _, o := range []mountOptions{{UID: -2, GID: -1}, {UID: -1, GID: -1, Umask: "9"}, {UID: -1, GID: -1, Umask: "1000"}} {
		if err := o.sharing(&fusefs.Options{}); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
