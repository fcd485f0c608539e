// Package mounttest checks image exports end to end: the real fs_serv
// binary serves an image built by the real tool, the real mount_remote
// mounts it through FUSE, and the mounted tree is compared with the
// reference tree (imagetest). The tests are in mount_test.go; this file
// holds what each image variant legitimately cannot reproduce.
package mounttest

import (
	"strings"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters/image/imagetest"
)

// FormatOf returns the registered format name that serves an imagetest
// variant ("ext4-1k" → "ext4", "squashfs-xz" → "squashfs", "fat16" →
// "fat", "tar.gz" → "tar").
func FormatOf(variant string) string {
	for _, f := range []string{"ext4", "iso9660", "squashfs", "erofs", "fat", "tar", "zip"} {
		if strings.HasPrefix(variant, f) {
			return f
		}
	}
	return variant
}

// QuirksFor returns the differences a variant cannot avoid when its image
// is compared, through a mount, with the reference tree. Each quirk is a
// limitation of the format or of the tool that builds it (the per-format
// lists come from the format readers' reports and are documented in the
// README).
func QuirksFor(variant string) imagetest.Quirks {
	var q imagetest.Quirks
	switch FormatOf(variant) {
	case "ext4":
		// mkfs.ext4 always creates lost+found in the root (so the root
		// has one more subdirectory and mkfs's mtime); mke2fs -d stores
		// no nanoseconds although the inodes have room for them.
		q.Extra = []string{"lost+found", "lost+found/"}
		q.NoRootMeta = true
		q.MtimeGranule = time.Second
	case "squashfs":
		// squashfs inodes store mtime as 32-bit seconds.
		q.MtimeGranule = time.Second
	case "iso9660":
		// xorriso and genisoimage write Rock Ridge TF timestamps in the
		// 7-byte form (whole seconds).
		q.MtimeGranule = time.Second
	case "fat":
		// FAT stores no owners, permissions, links, symlinks, devices or
		// FIFOs (imagetest.PlainCopy leaves them out), times in 2 s
		// steps, and no entry for the root. mtools 4.0.32 writes U+1F600
		// as the single unit U+F600 (the tool's bug: the reader decodes
		// surrogate pairs, see fat's TestLFN).
		q.NoOwners, q.NoPerms, q.NoHardLinks, q.NoRootMeta = true, true, true, true
		q.MtimeGranule = 2 * time.Second
		q.Missing = []string{"docs/rel-link", "docs/abs-link", "docs/dir-link", "docs/dangling-link",
			imagetest.DeviceNode, imagetest.FIFO, imagetest.UnicodeName}
		q.Extra = []string{"docs/héllo wörld – 日本語 \uf600.txt"}
	case "zip":
		// zip cannot store device nodes, FIFOs or hard links; the
		// extended timestamp holds seconds; `zip -r` stores no root entry.
		q.Missing = []string{imagetest.DeviceNode, imagetest.FIFO}
		q.NoHardLinks, q.NoRootMeta = true, true
		q.MtimeGranule = time.Second
	}
	switch variant {
	case "iso9660-nohardlinks", "iso9660-genisoimage":
		// Without --hardlinks (xorriso) or at all (genisoimage) hard
		// links are written as separate files with nlink 1.
		q.NoHardLinks = true
	}
	return q
}
