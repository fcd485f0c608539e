package nfs4

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fsbridge/fsbridge/proto/xdr"
)

var ops42 = []Op{OpAllocate, OpDeallocate, OpSeek, OpCopy, OpOffloadCancel, OpOffloadStatus,
	OpClone, OpReadPlus, OpIOAdvise, OpLayoutError, OpLayoutStats, OpWriteSame, OpCopyNotify,
	OpGetXattr, OpSetXattr, OpListXattrs, OpRemoveXattr}

func samples42() []sample41 {
	locs := []NetLoc{
		{Type: NL4Name, Name: []byte("server.example")},
		{Type: NL4URL, Name: []byte("nfs://server/export")},
		{Type: NL4NetAddr, Addr: NetAddr{NetID: []byte("tcp"), Addr: []byte("127.0.0.1.8.1")}},
	}
	complete := ErrIO
	wr := WriteResponse{CallbackID: &sid41, Count: 1 << 33, Committed: FileSync4, WriteVerf: verf41}
	cinfo := ChangeInfo{Atomic: true, Before: 10, After: 11}
	return []sample41{
		{"ALLOCATE args", &AllocateArgs{StateID: sid41, Offset: 4096, Length: 1 << 30}},
		{"ALLOCATE res", &AllocateRes{StatusRes{Status: OK}}},
		{"DEALLOCATE args", &DeallocateArgs{StateID: sid41, Offset: 1, Length: 2}},
		{"DEALLOCATE res", &DeallocateRes{StatusRes{Status: ErrNoSpc}}},
		{"SEEK args", &SeekArgs{StateID: sid41, Offset: 123, What: ContentHole}},
		{"SEEK res", &SeekRes{EOF: true, Offset: 1 << 40}},
		{"COPY args intra", &CopyArgs{SrcStateID: sid41, DstStateID: BypassStateID, SrcOffset: 1, DstOffset: 2,
			Count: 3, Consecutive: true, Synchronous: true}},
		{"COPY args inter", &CopyArgs{SrcStateID: sid41, DstStateID: sid41, Count: 1 << 20, SourceServer: locs}},
		{"COPY res async", &CopyRes{Response: wr, Requirements: CopyRequirements{Consecutive: true}}},
		{"COPY res sync", &CopyRes{Response: WriteResponse{Count: 5, Committed: Unstable4, WriteVerf: verf41},
			Requirements: CopyRequirements{Consecutive: true, Synchronous: true}}},
		{"COPY res OFFLOAD_NO_REQS", &CopyRes{Status: ErrOffloadNoReqs, Requirements: CopyRequirements{Synchronous: true}}},
		{"OFFLOAD_CANCEL args", &OffloadCancelArgs{StateID: sid41}},
		{"OFFLOAD_CANCEL res", &OffloadCancelRes{}},
		{"OFFLOAD_STATUS args", &OffloadStatusArgs{StateID: sid41}},
		{"OFFLOAD_STATUS res running", &OffloadStatusRes{Count: 77}},
		{"OFFLOAD_STATUS res complete", &OffloadStatusRes{Count: 78, Complete: &complete}},
		{"CLONE args", &CloneArgs{SrcStateID: sid41, DstStateID: AnonStateID, SrcOffset: 4096, DstOffset: 8192, Count: 0}},
		{"CLONE res", &CloneRes{StatusRes{Status: ErrXDev}}},
		{"READ_PLUS args", &ReadPlusArgs{StateID: sid41, Offset: 0, Count: 1 << 20}},
		{"READ_PLUS res", &ReadPlusRes{EOF: true, Contents: []ReadPlusContent{
			{Content: ContentData, Offset: 0, Data: []byte("hello")},
			{Content: ContentHole, Offset: 5, Length: 4091},
			{Content: ContentData, Offset: 4096, Data: []byte{1, 2, 3, 4}},
		}}},
		{"READ_PLUS res empty", &ReadPlusRes{EOF: true}},
		{"READ_PLUS res void arm", &ReadPlusRes{Contents: []ReadPlusContent{{Content: 7}}}},
		{"IO_ADVISE args", &IOAdviseArgs{StateID: sid41, Offset: 1, Count: 2, Hints: Bitmap{0x1c}}},
		{"IO_ADVISE res", &IOAdviseRes{Hints: Bitmap{0x4}}},
		{"LAYOUTERROR args", &LayoutErrorArgs{Offset: 1, Length: 2, StateID: sid41, Errors: []DeviceError{
			{DeviceID: DeviceID{9}, Status: ErrIO, OpNum: OpRead}, {Status: ErrNXIO, OpNum: OpWrite}}}},
		{"LAYOUTERROR res", &LayoutErrorRes{StatusRes{Status: ErrNotSupp}}},
		{"LAYOUTSTATS args", &LayoutStatsArgs{Offset: 1, Length: 2, StateID: sid41, Read: IOInfo{1, 2},
			Write: IOInfo{3, 4}, DeviceID: DeviceID{5}, LayoutUpdate: LayoutUpdate{Type: 1, Body: []byte{6}}}},
		{"LAYOUTSTATS res", &LayoutStatsRes{StatusRes{Status: ErrNotSupp}}},
		{"WRITE_SAME args", &WriteSameArgs{StateID: sid41, Stable: DataSync4, ADB: AppDataBlock{Offset: 1,
			BlockSize: 512, BlockCount: 8, RelOffBlockNo: 0, BlockNum: 3, RelOffPattern: 16, Pattern: []byte{0xab, 0xcd}}}},
		{"WRITE_SAME res", &WriteSameRes{Response: wr}},
		{"COPY_NOTIFY args", &CopyNotifyArgs{SrcStateID: sid41, DestinationServer: locs[2]}},
		{"COPY_NOTIFY res", &CopyNotifyRes{LeaseTime: Time{Seconds: 90}, StateID: sid41, SourceServer: locs[:2]}},
		{"GETXATTR args", &GetXattrArgs{Name: []byte("user.mime")}},
		{"GETXATTR res", &GetXattrRes{Value: []byte("text/plain")}},
		{"GETXATTR res empty value", &GetXattrRes{}},
		{"SETXATTR args", &SetXattrArgs{Option: SetXattrCreate, Name: []byte("user.a"), Value: []byte{0, 1, 2}}},
		{"SETXATTR res", &SetXattrRes{CInfo: cinfo}},
		{"LISTXATTRS args", &ListXattrsArgs{Cookie: 3, MaxCount: 4096}},
		{"LISTXATTRS res", &ListXattrsRes{Cookie: 5, Names: [][]byte{[]byte("user.a"), []byte("user.bcd")}, EOF: true}},
		{"LISTXATTRS res none", &ListXattrsRes{Cookie: 0, EOF: true}},
		{"REMOVEXATTR args", &RemoveXattrArgs{Name: []byte("user.a")}},
		{"REMOVEXATTR res", &RemoveXattrRes{CInfo: cinfo}},
	}
}

func TestOps42RoundTrip(t *testing.T) { runSamples41(t, samples42()) }

func TestOps42Coverage(t *testing.T) { checkCoverage41(t, ops42, samples42()) }

func TestOps42BadInput(t *testing.T) {
	long := func(n int) []byte { return append(words41(uint32(n)), make([]byte, xdr.Padded(n))...) }
	cases := []struct {
		name string
		v    coder41
		in   []byte
	}{
		{"netloc4 type 0", &NetLoc{}, words41(0)},
		{"netloc4 type 4", &NetLoc{}, words41(4, 0)},
		{"wr_callback_id<1> count 2", &WriteResponse{}, append(words41(2), make([]byte, 64)...)},
		{"osr_complete<1> count 2", &OffloadStatusRes{}, words41(0, 0, 0, 2, 0, 0)},
		{"xattr name 256", &GetXattrArgs{}, long(256)},
		{"xattr key 256", &SetXattrArgs{}, append(words41(0), long(256)...)},
		{"xattr value 64KiB+1", &SetXattrArgs{}, append(words41(0, 1, 0x61000000), long(MaxXattrValueLen+1)...)},
		{"getxattr value 64KiB+1", &GetXattrRes{}, append(words41(0), long(MaxXattrValueLen+1)...)},
		{"listxattrs name 256", &ListXattrsRes{}, append(words41(0, 0, 0, 1), long(256)...)},
		{"listxattrs count beyond input", &ListXattrsRes{}, words41(0, 0, 0, 1000, 0)},
		{"source servers above max", &CopyArgs{}, append(make([]byte, 32+24+8), words41(MaxNetLocs+1)...)},
		{"read_plus segments beyond input", &ReadPlusRes{}, words41(0, 1, 100, 0)},
	}
	for _, c := range cases {
		if err := decodeErr41(c.v, c.in); err == nil {
			t.Errorf("%s: decoded without error: %+v", c.name, c.v)
		}
	}
	// The largest legal values still decode.
	var le *xdr.LengthError
	if err := decodeErr41(&GetXattrArgs{}, long(255)); err != nil {
		t.Errorf("255-byte xattr name: %v", err)
	}
	if err := decodeErr41(&GetXattrArgs{}, long(256)); !errors.As(err, &le) {
		t.Errorf("256-byte xattr name: err = %v, want *xdr.LengthError", err)
	}
	if err := decodeErr41(&GetXattrRes{}, append(words41(0), long(MaxXattrValueLen)...)); err != nil {
		t.Errorf("64 KiB xattr value: %v", err)
	}
}

// TestReadPlusZeroCopy checks that data segments alias the input buffer.
func TestReadPlusZeroCopy(t *testing.T) {
	b := encode41(&ReadPlusRes{Contents: []ReadPlusContent{{Content: ContentData, Data: []byte("abcdefgh")}}})
	var r ReadPlusRes
	if err := decodeErr41(&r, b); err != nil {
		t.Fatal(err)
	}
	b[len(b)-8] = 'X'
	if string(r.Contents[0].Data) != "Xbcdefgh" {
		t.Fatalf("data does not alias input: %q", r.Contents[0].Data)
	}
}

// TestCopyResWire pins COPY4res's NFS4ERR_OFFLOAD_NO_REQS arm (RFC 7862 §15.2.2).
func TestCopyResWire(t *testing.T) {
	b := encode41(&CopyRes{Status: ErrOffloadNoReqs, Requirements: CopyRequirements{Consecutive: true}})
	if want := words41(uint32(ErrOffloadNoReqs), 1, 0); !bytes.Equal(b, want) {
		t.Fatalf("got %x want %x", b, want)
	}
}
