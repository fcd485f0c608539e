package image

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

type mbrSlot struct {
	status, typ  byte
	start, count uint32
}

func putMBR(img []byte, at int64, slots []mbrSlot) {
	sec := img[at : at+512]
	for i, s := range slots {
		b := sec[446+16*i:]
		b[0], b[4] = s.status, s.typ
		binary.LittleEndian.PutUint32(b[8:], s.start)
		binary.LittleEndian.PutUint32(b[12:], s.count)
	}
	sec[510], sec[511] = 0x55, 0xAA
}

func TestMBR(t *testing.T) {
	const sectors = 4096
	img := make([]byte, sectors*512)
	// Primary 1 (Linux), slot 2 empty, 3 extended with three logicals, 4 FAT32.
	putMBR(img, 0, []mbrSlot{{0x80, 0x83, 2048, 100}, {}, {0, 0x05, 1000, 900}, {0, 0x0C, 3000, 2000}})
	// EBR chain: logical at EBR+rel, next EBR relative to the extended start.
	putMBR(img, 1000*512, []mbrSlot{{0, 0x83, 10, 50}, {0, 0x05, 100, 200}})
	putMBR(img, 1100*512, []mbrSlot{{0, 0x82, 10, 20}, {0, 0x05, 300, 200}})
	putMBR(img, 1300*512, []mbrSlot{{0, 0x83, 1, 10}})
	ps, err := ReadPartitions(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	want := []Partition{
		{Index: 1, Start: 2048 * 512, Size: 100 * 512, Type: "0x83 Linux"},
		{Index: 5, Start: 1010 * 512, Size: 50 * 512, Type: "0x83 Linux"},
		{Index: 6, Start: 1110 * 512, Size: 20 * 512, Type: "0x82 Linux swap"},
		{Index: 7, Start: 1301 * 512, Size: 10 * 512, Type: "0x83 Linux"},
		// Runs past the image end (3000+2000 > 4096): clamped.
		{Index: 4, Start: 3000 * 512, Size: (sectors - 3000) * 512, Type: "0x0c W95 FAT32 (LBA)"},
	}
	if len(ps) != len(want) {
		t.Fatalf("got %+v", ps)
	}
	for i := range want {
		if ps[i] != want[i] {
			t.Errorf("partition %d = %+v, want %+v", i, ps[i], want[i])
		}
	}
	out := FormatPartitions(ps, func(p Partition) string { return map[int]string{1: "ext4"}[p.Index] })
	if !strings.Contains(out, "ext4") || strings.Count(out, "\n") != len(want)+1 {
		t.Errorf("FormatPartitions:\n%s", out)
	}
}

func TestMBRBadInput(t *testing.T) {
	img := make([]byte, 64*512)
	if _, err := ReadPartitions(bytes.NewReader(img), int64(len(img))); err != ErrNoPartitionTable {
		t.Errorf("zeros: %v", err)
	}
	// A boot-sector signature with a nonsense status byte is no table.
	putMBR(img, 0, []mbrSlot{{0x33, 0x83, 1, 10}})
	if _, err := ReadPartitions(bytes.NewReader(img), int64(len(img))); err != ErrNoPartitionTable {
		t.Errorf("bad status: %v", err)
	}
	// A partition starting past the end is dropped.
	putMBR(img, 0, []mbrSlot{{0, 0x83, 1, 10}, {0, 0x83, 1000, 10}})
	ps, err := ReadPartitions(bytes.NewReader(img), int64(len(img)))
	if err != nil || len(ps) != 1 || ps[0].Index != 1 {
		t.Errorf("out-of-image partition: %+v %v", ps, err)
	}
	// An EBR chain that loops terminates with an error.
	clear(img)
	putMBR(img, 0, []mbrSlot{{0, 0x0F, 8, 50}, {0, 0x83, 60, 2}})
	putMBR(img, 8*512, []mbrSlot{{0, 0x83, 1, 2}, {0, 0x05, 4, 10}})
	putMBR(img, 12*512, []mbrSlot{{0, 0x83, 1, 2}, {0, 0x05, 0, 10}}) // back to the first EBR
	ps, err = ReadPartitions(bytes.NewReader(img), int64(len(img)))
	if err == nil || !strings.Contains(err.Error(), "loops") || len(ps) != 3 || ps[0].Index != 5 || ps[1].Index != 6 || ps[2].Index != 2 {
		t.Errorf("EBR loop: %+v %v", ps, err)
	}
	// Tiny images.
	for _, n := range []int{0, 1, 511} {
		if _, err := ReadPartitions(bytes.NewReader(img[:n]), int64(n)); err != ErrNoPartitionTable {
			t.Errorf("%d-byte image: %v", n, err)
		}
	}
}

type gptPart struct {
	typ         string // GUID text
	first, last uint64
	name        string
}

func guidBytes(s string) []byte {
	s = strings.ReplaceAll(s, "-", "")
	var b [16]byte
	var raw [16]byte
	for i := 0; i < 16; i++ {
		var v byte
		for _, c := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			default:
				v |= byte(c-'A') + 10
			}
		}
		raw[i] = v
	}
	// Mixed endian: the first three groups are little-endian.
	b[0], b[1], b[2], b[3] = raw[3], raw[2], raw[1], raw[0]
	b[4], b[5] = raw[5], raw[4]
	b[6], b[7] = raw[7], raw[6]
	copy(b[8:], raw[8:])
	return b[:]
}

// gptImage writes a protective MBR, primary and backup GPT (128 entries).
func gptImage(sectors int64, parts []gptPart) []byte {
	img := make([]byte, sectors*512)
	putMBR(img, 0, []mbrSlot{{0, 0xEE, 1, uint32(sectors - 1)}})
	arr := make([]byte, 128*128)
	for i, p := range parts {
		e := arr[i*128:]
		copy(e, guidBytes(p.typ))
		copy(e[16:], guidBytes("11111111-2222-3333-4444-55555555555"+string(rune('0'+i))))
		binary.LittleEndian.PutUint64(e[32:], p.first)
		binary.LittleEndian.PutUint64(e[40:], p.last)
		for j, u := range utf16.Encode([]rune(p.name)) {
			binary.LittleEndian.PutUint16(e[56+2*j:], u)
		}
	}
	header := func(my, alt, entries uint64) []byte {
		h := make([]byte, 92)
		copy(h, "EFI PART")
		binary.LittleEndian.PutUint32(h[8:], 0x00010000)
		binary.LittleEndian.PutUint32(h[12:], 92)
		binary.LittleEndian.PutUint64(h[24:], my)
		binary.LittleEndian.PutUint64(h[32:], alt)
		binary.LittleEndian.PutUint64(h[40:], 34)
		binary.LittleEndian.PutUint64(h[48:], uint64(sectors-34))
		binary.LittleEndian.PutUint64(h[72:], entries)
		binary.LittleEndian.PutUint32(h[80:], 128)
		binary.LittleEndian.PutUint32(h[84:], 128)
		binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(arr))
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h))
		return h
	}
	last := uint64(sectors - 1)
	copy(img[512:], header(1, last, 2))
	copy(img[2*512:], arr)
	copy(img[(sectors-33)*512:], arr)
	copy(img[last*512:], header(last, 1, uint64(sectors-33)))
	return img
}

func TestGPT(t *testing.T) {
	const sectors = 8192
	parts := []gptPart{
		{"C12A7328-F81F-11D2-BA4B-00A0C93EC93B", 2048, 4095, "EFI"},
		{"0FC63DAF-8483-4772-8E79-3D69D8477DE4", 4096, 8000, "rootfs ü"},
		{"01234567-89AB-CDEF-0123-456789ABCDEF", 100, 200, ""},
	}
	want := []Partition{
		{Index: 1, Start: 2048 * 512, Size: 2048 * 512, Type: "EFI System", Name: "EFI"},
		{Index: 2, Start: 4096 * 512, Size: 3905 * 512, Type: "Linux filesystem", Name: "rootfs ü"},
		{Index: 3, Start: 100 * 512, Size: 101 * 512, Type: "01234567-89AB-CDEF-0123-456789ABCDEF"},
	}
	check := func(name string, img []byte) {
		t.Helper()
		ps, err := ReadPartitions(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(ps) != len(want) {
			t.Fatalf("%s: %+v", name, ps)
		}
		for i := range want {
			if ps[i] != want[i] {
				t.Errorf("%s: partition %d = %+v, want %+v", name, i, ps[i], want[i])
			}
		}
	}
	check("intact", gptImage(sectors, parts))
	img := gptImage(sectors, parts)
	img[512+30] ^= 1 // primary header damaged: the backup serves
	check("primary header CRC", img)
	img = gptImage(sectors, parts)
	img[2*512+40] ^= 1 // primary entry array damaged
	check("primary array CRC", img)
	img[(sectors-1)*512+20] ^= 0xff // and the backup header too
	if _, err := ReadPartitions(bytes.NewReader(img), int64(len(img))); err == nil || !strings.Contains(err.Error(), "GPT") {
		t.Errorf("both copies damaged: %v", err)
	}
	// A truncated image: the primary still parses; the partition running
	// past the new end is clamped.
	img = gptImage(sectors, parts)
	ps, err := ReadPartitions(bytes.NewReader(img[:6000*512]), 6000*512)
	if err != nil || len(ps) != 3 || ps[1].Size != (6000-4096)*512 {
		t.Errorf("truncated: %+v %v", ps, err)
	}
	// Absurd entry counts are refused, not allocated.
	img = gptImage(sectors, parts)
	h := img[512 : 512+92]
	binary.LittleEndian.PutUint32(h[80:], 1<<30)
	binary.LittleEndian.PutUint32(h[16:], 0)
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h))
	check("huge entry count in primary", img)
}

// TestRealTools partitions images with sfdisk when it is installed.
func TestRealTools(t *testing.T) {
	sfdisk, err := exec.LookPath("sfdisk")
	if err != nil {
		t.Skip("sfdisk not installed")
	}
	for _, label := range []string{"dos", "gpt"} {
		t.Run(label, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "disk.img")
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, 64<<20); err != nil {
				t.Fatal(err)
			}
			script := "label: " + label + "\n,16MiB,L\n,16MiB,L\n,,L\n"
			if label == "dos" {
				script = "label: dos\n,16MiB,L\n,,E\n,8MiB,L\n,8MiB,S\n"
			}
			cmd := exec.Command(sfdisk, "-q", p)
			cmd.Stdin = strings.NewReader(script)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("sfdisk: %v\n%s", err, out)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			ps, err := ReadPartitions(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			wantIdx := []int{1, 2, 3}
			if label == "dos" {
				wantIdx = []int{1, 5, 6}
			}
			if len(ps) != len(wantIdx) {
				t.Fatalf("%+v", ps)
			}
			for i, p := range ps {
				if p.Index != wantIdx[i] || p.Start%512 != 0 || p.Start+p.Size > int64(len(data)) {
					t.Errorf("partition %+v", p)
				}
			}
			if ps[0].Start != 1<<20 || ps[0].Size != 16<<20 {
				t.Errorf("first partition %+v", ps[0])
			}
		})
	}
}

// TestPartitionsMutated: random damage to MBR/EBR/GPT tables never
// panics, and every partition returned lies inside the image.
func TestPartitionsMutated(t *testing.T) {
	seeds := partitionSeeds()
	rng := uint64(12345)
	next := func(n int) int { rng = rng*6364136223846793005 + 1442695040888963407; return int(rng>>33) % n }
	for trial := 0; trial < 1000; trial++ {
		img := append([]byte(nil), seeds[trial%len(seeds)]...)
		for k := next(8) + 1; k > 0; k-- {
			// Damage the table areas: the first sectors, the EBRs and the end.
			var off int
			switch next(3) {
			case 0:
				off = next(3 * 512)
			case 1:
				off = next(len(img))
			default:
				off = len(img) - 1 - next(34*512)
			}
			img[off] = byte(next(256))
		}
		checkPartitions(t, img)
	}
}

func checkPartitions(t *testing.T, img []byte) {
	ps, _ := ReadPartitions(bytes.NewReader(img), int64(len(img)))
	for _, p := range ps {
		if p.Start < 0 || p.Size <= 0 || p.Start+p.Size > int64(len(img)) {
			t.Fatalf("partition outside the image: %+v (size %d)", p, len(img))
		}
	}
}

func partitionSeeds() [][]byte {
	mbr := make([]byte, 512*512)
	putMBR(mbr, 0, []mbrSlot{{0x80, 0x83, 100, 100}, {0, 0x05, 300, 900}})
	putMBR(mbr, 300*512, []mbrSlot{{0, 0x83, 10, 50}, {0, 0x05, 100, 200}})
	putMBR(mbr, 400*512, []mbrSlot{{0, 0x82, 10, 20}})
	gpt := gptImage(256, []gptPart{{"0FC63DAF-8483-4772-8E79-3D69D8477DE4", 40, 100, "a"}, {"C12A7328-F81F-11D2-BA4B-00A0C93EC93B", 110, 250, "b"}})
	return [][]byte{mbr, gpt}
}

func FuzzReadPartitions(f *testing.F) {
	for _, s := range partitionSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, img []byte) { checkPartitions(t, img) })
}
