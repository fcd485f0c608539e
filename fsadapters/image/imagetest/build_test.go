package imagetest

import (
	"os"
	"testing"
)

// TestBuildAll checks that the reference tree builds and that every variant
// the format tests use can be made with the installed tools.
func TestBuildAll(t *testing.T) {
	Need(t, "cp")
	tree := MakeTree(t)
	ref, err := Walk(tree)
	if err != nil {
		t.Fatal(err)
	}
	if e := ref[HardA]; e == nil || e.Nlink != 2 || e.Ino != ref[HardB].Ino {
		t.Fatalf("hard link missing in the reference tree: %+v", e)
	}
	if e := ref[BigFile]; e == nil || e.Size != BigFileSize {
		t.Fatalf("big file: %+v", e)
	}
	for _, v := range Variants {
		t.Run(v, func(t *testing.T) {
			img := BuildImage(t, tree, v)
			st, err := os.Stat(img)
			if err != nil || st.Size() < BigFileSize/4 {
				t.Fatalf("image %s: %v size %d", img, err, st.Size())
			}
		})
	}
}
