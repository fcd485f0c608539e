package imagetest

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Variants lists every image BuildImage can make, by name.
var Variants = []string{
	"ext4", "ext4-1k",
	"iso9660", "iso9660-nohardlinks", "iso9660-genisoimage",
	"squashfs-gzip", "squashfs-xz", "squashfs-zstd", "squashfs-lz4",
	"erofs", "erofs-lz4",
	"fat32", "fat16",
	"tar", "tar.gz", "zip", "zip-stored",
}

// BuildImage builds the image variant of tree (see Variants) with the real
// tool into t.TempDir and returns its path. Formats that cannot hold some
// entries get a filtered copy of the tree (see PlainCopy); which entries a
// variant drops is what Quirks documents.
func BuildImage(t testing.TB, tree, variant string) string {
	t.Helper()
	dir := t.TempDir()
	img := filepath.Join(dir, "image."+variant)
	switch variant {
	case "ext4":
		Need(t, "mkfs.ext4")
		Run(t, dir, "mkfs.ext4", "-q", "-F", "-b", "4096", "-d", tree, img, "96M")
	case "ext4-1k":
		Need(t, "mkfs.ext4", "e2fsck")
		Run(t, dir, "mkfs.ext4", "-q", "-F", "-b", "1024", "-g", "2048", "-d", tree, img, "96M")
		runAllowExit(t, dir, []int{0, 1}, "e2fsck", "-fyD", img) // htree-index directories
	case "iso9660":
		Need(t, "xorriso")
		Run(t, dir, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-joliet-long", "--hardlinks", "-o", img, tree)
	case "iso9660-nohardlinks":
		Need(t, "xorriso")
		Run(t, dir, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-joliet-long", "-o", img, tree)
	case "iso9660-genisoimage":
		Need(t, "genisoimage")
		Run(t, dir, "genisoimage", "-quiet", "-R", "-J", "-joliet-long", "-o", img, tree)
	case "squashfs-gzip", "squashfs-xz", "squashfs-zstd", "squashfs-lz4":
		Need(t, "mksquashfs")
		Run(t, dir, "mksquashfs", tree, img, "-noappend", "-quiet", "-no-progress", "-comp", variant[len("squashfs-"):])
	case "erofs":
		Need(t, "mkfs.erofs")
		Run(t, dir, "mkfs.erofs", "--quiet", "--preserve-mtime", img, tree)
	case "erofs-lz4":
		Need(t, "mkfs.erofs")
		Run(t, dir, "mkfs.erofs", "--quiet", "--preserve-mtime", "-zlz4", img, tree)
	case "fat32", "fat16":
		Need(t, "mkfs.vfat", "mcopy")
		plain := PlainCopy(t, tree)
		size := "98304" // KiB
		fat := "32"
		if variant == "fat16" {
			fat = "16"
		}
		Run(t, dir, "mkfs.vfat", "-C", "-F", fat, "-n", "FSBRIDGE", img, size)
		ents, err := os.ReadDir(plain)
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"-s", "-p", "-m", "-i", img}
		for _, e := range ents {
			args = append(args, filepath.Join(plain, e.Name()))
		}
		Run(t, dir, "mcopy", append(args, "::/")...)
	case "tar":
		Need(t, "tar")
		Run(t, dir, "tar", "--format=pax", "--sort=name", "-cf", img, "-C", tree, ".")
	case "tar.gz":
		Need(t, "tar", "gzip")
		Run(t, dir, "tar", "--format=pax", "--sort=name", "-czf", img, "-C", tree, ".")
	case "zip", "zip-stored":
		Need(t, "zip")
		// zip would read device nodes and FIFOs as files; give it the rest.
		src := PlainCopy(t, tree, KeepSymlinks)
		args := []string{"-q", "-r", "-y"}
		if variant == "zip-stored" {
			args = append(args, "-0")
		}
		Run(t, src, "zip", append(args, img, ".")...)
	default:
		t.Fatalf("imagetest: unknown variant %q", variant)
	}
	return img
}

// KeepSymlinks makes PlainCopy keep symlinks.
const KeepSymlinks = true

// PlainCopy copies tree into a fresh directory keeping only directories and
// regular files (and symlinks with KeepSymlinks): for formats and tools that
// cannot store the rest (FAT; zip reads device nodes as files). Hard links
// are kept as hard links, modes, owners and mtimes are preserved.
func PlainCopy(t testing.TB, tree string, keepSymlinks ...bool) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "plain")
	// cp -a, then remove what the format cannot hold.
	Run(t, "", "cp", "-a", tree, dst)
	var drop []string
	err := filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			if len(keepSymlinks) == 0 || !keepSymlinks[0] {
				drop = append(drop, p)
			}
		case d.Type()&(fs.ModeDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeCharDevice) != 0:
			drop = append(drop, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Removing entries bumps their directories' mtimes; put back the times
	// cp -a preserved, so the image's directories match the tree.
	mtimes := map[string]time.Time{}
	for _, p := range drop {
		dir := filepath.Dir(p)
		if _, ok := mtimes[dir]; !ok {
			st, err := os.Lstat(dir)
			if err != nil {
				t.Fatal(err)
			}
			mtimes[dir] = st.ModTime()
		}
	}
	for _, p := range drop {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	for dir, mt := range mtimes {
		if err := os.Chtimes(dir, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func runAllowExit(t testing.TB, dir string, ok []int, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	if ee, isExit := err.(interface{ ExitCode() int }); isExit {
		for _, c := range ok {
			if ee.ExitCode() == c {
				return
			}
		}
	}
	t.Fatalf("%s %v: %v\n%s", name, args, err, out)
}
