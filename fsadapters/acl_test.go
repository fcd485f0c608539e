package fsadapters

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// testACL: owner rw-, user 1001 rwx, owning group (gid 100) r--, group
// 200 -w-, mask rw-, other --x. File owned by 1000:100.
var testACL = []ACLEntry{
	{Tag: ACLUserObj, Perm: 6},
	{Tag: ACLUser, Perm: 7, ID: 1001},
	{Tag: ACLGroupObj, Perm: 4},
	{Tag: ACLGroup, Perm: 2, ID: 200},
	{Tag: ACLMask, Perm: 6},
	{Tag: ACLOther, Perm: 1},
}

func TestAccessAllowedACL(t *testing.T) {
	a := &Attr{Type: TypeRegular, UID: 1000, GID: 100, Mode: 0o661}
	for _, tc := range []struct {
		name string
		cred Cred
		want uint32 // granted of rwx, bit by bit
		all  bool   // CheckAccessACL(rw) succeeds
	}{
		{"owner", Cred{UID: 1000, GID: 5}, MayRead | MayWrite, true},
		{"named user masked", Cred{UID: 1001, GID: 5}, MayRead | MayWrite, true},
		{"owning group", Cred{UID: 1002, GID: 100}, MayRead, false},
		{"named group", Cred{UID: 1002, GID: 7, Groups: []uint32{200}}, MayWrite, false},
		// r from the owning group, w from group 200: each bit granted,
		// but no single entry grants rw (POSIX.1e).
		{"two groups", Cred{UID: 1002, GID: 100, Groups: []uint32{200}}, MayRead | MayWrite, false},
		{"other", Cred{UID: 1003, GID: 7}, MayExec, false},
		{"root", Cred{}, MayRead | MayWrite, true}, // no x bit in mode's owner... but other has x
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := AccessAllowedACL(a, testACL, &tc.cred, MayRead|MayWrite|MayExec)
			if tc.cred.UID == 0 {
				tc.want |= MayExec // mode has an x bit (other)
			}
			if got != tc.want {
				t.Errorf("granted %o, want %o", got, tc.want)
			}
			err := CheckAccessACL(a, testACL, &tc.cred, MayRead|MayWrite)
			if (err == nil) != tc.all {
				t.Errorf("CheckAccessACL(rw) = %v, want ok=%v", err, tc.all)
			}
		})
	}
	// Group member refused by its groups is not judged as other.
	acl := []ACLEntry{{Tag: ACLUserObj, Perm: 7}, {Tag: ACLGroupObj, Perm: 0}, {Tag: ACLOther, Perm: 7}}
	if got := AccessAllowedACL(a, acl, &Cred{UID: 5, GID: 100}, MayRead); got != 0 {
		t.Errorf("group with no perms falls through to other: %o", got)
	}
	if got := AccessAllowedACL(a, acl, &Cred{UID: 5, GID: 9}, MayRead); got != MayRead {
		t.Errorf("other: %o", got)
	}
	// nil ACL: the mode decides.
	if got := AccessAllowedACL(a, nil, &Cred{UID: 1001, GID: 5}, MayRead|MayWrite|MayExec); got != MayExec {
		t.Errorf("no ACL: %o, want x from other bits", got)
	}
}

func TestCheckACL(t *testing.T) {
	if err := CheckACL(testACL); err != nil {
		t.Fatalf("valid ACL refused: %v", err)
	}
	if err := CheckACL(MinimalACL(0o750)); err != nil {
		t.Fatalf("minimal ACL refused: %v", err)
	}
	bad := map[string][]ACLEntry{
		"no other":     testACL[:5],
		"no mask":      {testACL[0], testACL[1], testACL[2], testACL[5]},
		"unsorted":     {testACL[1], testACL[0], testACL[2], testACL[4], testACL[5]},
		"dup user":     {testACL[0], testACL[1], testACL[1], testACL[2], testACL[4], testACL[5]},
		"bad perm":     {{Tag: ACLUserObj, Perm: 8}, testACL[2], testACL[5]},
		"bad tag":      {testACL[0], testACL[2], {Tag: 0x40}},
		"two user_obj": {testACL[0], testACL[0], testACL[2], testACL[5]},
		"empty":        nil,
	}
	for name, acl := range bad {
		if CheckACL(acl) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	shuffled := []ACLEntry{testACL[5], testACL[3], testACL[1], testACL[4], testACL[2], testACL[0]}
	SortACL(shuffled)
	if !slices.Equal(shuffled, testACL) {
		t.Errorf("SortACL = %v", shuffled)
	}
}

func TestACLXattrRoundTrip(t *testing.T) {
	b := EncodeACLXattr(testACL)
	if len(b) != 4+8*len(testACL) || binary.LittleEndian.Uint32(b) != 2 {
		t.Fatalf("bad header/size: %x", b)
	}
	// ACL_UNDEFINED_ID for the owner entry, the uid for the named one.
	if id := binary.LittleEndian.Uint32(b[8:]); id != 0xffffffff {
		t.Errorf("user_obj id %#x", id)
	}
	if id := binary.LittleEndian.Uint32(b[16:]); id != 1001 {
		t.Errorf("user id %d", id)
	}
	got, err := DecodeACLXattr(b)
	if err != nil || !slices.Equal(got, testACL) {
		t.Fatalf("round trip = %v, %v", got, err)
	}
	for name, v := range map[string][]byte{
		"empty":       nil,
		"short":       b[:3],
		"ragged":      b[:len(b)-1],
		"version":     append([]byte{1, 0, 0, 0}, b[4:]...),
		"invalid acl": EncodeACLXattr(testACL[:4]),
		"huge":        make([]byte, 4+8*(MaxACLEntries+1)),
	} {
		if _, err := DecodeACLXattr(v); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestACLModeBits(t *testing.T) {
	if m := ACLModeBits(testACL); m != 0o661 {
		t.Errorf("mode bits %o, want 661 (mask as group)", m)
	}
	if m := ACLModeBits(MinimalACL(0o754)); m != 0o754 {
		t.Errorf("minimal %o", m)
	}
	if !IsMinimalACL(MinimalACL(0o7)) || IsMinimalACL(testACL) {
		t.Error("IsMinimalACL")
	}
	// Default rwx/mask r-x/other ---: a 0666 create becomes 0640 (+setgid kept).
	def := []ACLEntry{{Tag: ACLUserObj, Perm: 7}, {Tag: ACLUser, Perm: 7, ID: 5},
		{Tag: ACLGroupObj, Perm: 5}, {Tag: ACLMask, Perm: 5}, {Tag: ACLOther, Perm: 0}}
	if m := InheritedMode(def, 0o2666); m != 0o2640 {
		t.Errorf("InheritedMode = %o, want 2640", m)
	}
}

func TestCheckAccessACLErr(t *testing.T) {
	a := &Attr{Type: TypeRegular, UID: 1000, GID: 100}
	err := CheckAccessACL(a, testACL, &Cred{UID: 1003, GID: 7}, MayRead)
	if !errors.Is(err, unix.EACCES) {
		t.Errorf("got %v, want EACCES", err)
	}
}
