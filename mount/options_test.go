package mount

import (
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

func TestParseOptions(t *testing.T) {
	var o Options
	err := o.ParseOptions("defaults,_netdev,noauto,nofail,user,users,x-systemd.automount,x-foo=1," +
		"uid=1234,gid=5678,default_permissions,ro,allow_other,fsname=src,subtype=st," +
		"attr_timeout=2.5,connect_timeout=3,noatime,sync,nosuid,max_background=12")
	if err != nil {
		t.Fatal(err)
	}
	if !o.SetUID || o.UID != 1234 || !o.SetGID || o.GID != 5678 {
		t.Errorf("uid/gid: %+v", o)
	}
	if !o.DefaultPermissions || !o.ReadOnly || !o.AllowOther || o.FsName != "src" || o.Subtype != "st" {
		t.Errorf("flags: %+v", o)
	}
	if o.AttrTimeout != 2500*time.Millisecond || o.ConnectTimeout != 3*time.Second {
		t.Errorf("timeouts: %v %v", o.AttrTimeout, o.ConnectTimeout)
	}
	if o.MountFlags != syscall.MS_NOATIME|syscall.MS_SYNCHRONOUS || !slices.Equal(o.flagOpts, []string{"noatime", "sync"}) {
		t.Errorf("mount flags %#x %v", o.MountFlags, o.flagOpts)
	}
	// fstab-only options are dropped; unknown ones pass through.
	if !slices.Equal(o.Extra, []string{"nosuid", "max_background=12"}) {
		t.Errorf("extra: %q", o.Extra)
	}
	for _, bad := range []string{"uid=abc", "gid=-1", "uid=", "attr_timeout=x", "connect_timeout=-1", "foo="} {
		var o Options
		if err := o.ParseOptions(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	var o3 Options
	if err := o3.ParseOptions("nodeleg,nowritebehind,writeback"); err != nil || !o3.NoDeleg || !o3.NoWriteBehind || !o3.Writeback {
		t.Errorf("nodeleg,nowritebehind,writeback: %+v, %v", o3, err)
	}
	if o3.ParseOptions("deleg,writebehind,nowriteback"); o3.NoDeleg || o3.NoWriteBehind || o3.Writeback {
		t.Errorf("deleg,writebehind,nowriteback: %+v", o3)
	}
	var o2 Options
	o2.ParseOptions("sync,async,noatime,atime")
	if o2.MountFlags != 0 {
		t.Errorf("sync,async,noatime,atime: %#x", o2.MountFlags)
	}
}

func TestMapOwner(t *testing.T) {
	o := Options{UID: 7, SetUID: true}
	var out fuse.EntryOut
	out.Uid, out.Gid = 1, 2
	o.entryTimeouts(&out)
	if out.Uid != 7 || out.Gid != 2 {
		t.Errorf("uid= only: %d %d", out.Uid, out.Gid)
	}
	o = Options{GID: 9, SetGID: true}
	var ao fuse.AttrOut
	ao.Uid, ao.Gid = 1, 2
	o.attrTimeout(&ao)
	if ao.Uid != 1 || ao.Gid != 9 {
		t.Errorf("gid= only: %d %d", ao.Uid, ao.Gid)
	}
}
