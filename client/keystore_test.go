package client

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
)

func init() { scryptLogN = 10 } // fast tests; the format records the parameter

func newKeystore(t *testing.T, passphrase string) (*Keystore, string) {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	ks, err := CreateKeystore(home, []byte(passphrase))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close() })
	return ks, home
}

func TestKeystoreRoundTrip(t *testing.T) {
	ks, home := newKeystore(t, "")
	other, _ := newKeystore(t, "")
	if _, err := ks.AddContact(other.Card(), "bob", false); err != nil {
		t.Fatal(err)
	}
	did := ks.DID()
	stamp, err := ks.NextAuthStamp(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ks.Close()

	ks2, err := OpenKeystore(home, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ks2.Close()
	if ks2.DID() != did {
		t.Errorf("DID %s after reopening, want %s", ks2.DID(), did)
	}
	cs := ks2.Contacts()
	if len(cs) != 1 || cs[0].DID != other.DID() || cs[0].Name != "bob" || !cs[0].HasBundle || cs[0].HasKEM {
		t.Errorf("contacts after reopening: %+v", cs)
	}
	// A clock that went back an hour still gives a larger stamp.
	next, err := ks2.NextAuthStamp(time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if next <= stamp {
		t.Errorf("auth stamp %d after %d: not increasing", next, stamp)
	}
}

func TestKeystorePermissions(t *testing.T) {
	ks, home := newKeystore(t, "")
	for path, want := range map[string]os.FileMode{home: 0o700, ks.st.(*dirStorage).path(): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %#o, want %#o", path, fi.Mode().Perm(), want)
		}
	}
	ks.Close()
	if err := os.Chmod(filepath.Join(home, keystoreName), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenKeystore(home, nil); !errors.Is(err, ErrInsecure) {
		t.Errorf("opening a keystore of mode 0644: %v, want ErrInsecure", err)
	}
}

func TestKeystorePassphrase(t *testing.T) {
	ks, home := newKeystore(t, "correct horse")
	seed := ks.Identity().Bytes()
	did := ks.DID()
	ks.Close()
	raw, err := os.ReadFile(filepath.Join(home, keystoreName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, seed) {
		t.Error("the identity seed is in the encrypted file in the clear")
	}
	if _, err := OpenKeystore(home, nil); !errors.Is(err, ErrPassphraseNeeded) {
		t.Errorf("no passphrase: %v, want ErrPassphraseNeeded", err)
	}
	if _, err := OpenKeystore(home, []byte("wrong horse")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	ks2, err := OpenKeystore(home, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if ks2.DID() != did || !ks2.Encrypted() {
		t.Errorf("reopened: DID %s encrypted %v", ks2.DID(), ks2.Encrypted())
	}
	// A save keeps it encrypted, under a fresh nonce.
	if _, err := ks2.NextAuthStamp(time.Now()); err != nil {
		t.Fatal(err)
	}
	ks2.Close()
	raw2, _ := os.ReadFile(filepath.Join(home, keystoreName))
	if bytes.Equal(raw, raw2) || bytes.Contains(raw2, seed) {
		t.Error("saving did not re-encrypt under a new nonce")
	}
	// A flipped bit anywhere is refused, not misread.
	raw2[len(raw2)-5] ^= 1
	os.WriteFile(filepath.Join(home, keystoreName), raw2, 0o600)
	if _, err := OpenKeystore(home, []byte("correct horse")); err == nil {
		t.Error("a damaged keystore opened")
	}
}

func TestKeystoreLock(t *testing.T) {
	_, home := newKeystore(t, "")
	if _, err := OpenKeystore(home, nil); !errors.Is(err, ErrInUse) {
		t.Errorf("second open while the first is open: %v, want ErrInUse", err)
	}
	if _, err := CreateKeystore(t.TempDir(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestKeystoreExists(t *testing.T) {
	ks, home := newKeystore(t, "")
	ks.Close()
	if _, err := CreateKeystore(home, nil); !errors.Is(err, ErrKeystoreExists) {
		t.Errorf("creating over an existing keystore: %v, want ErrKeystoreExists", err)
	}
	if _, err := OpenKeystore(filepath.Join(home, "nope"), nil); !errors.Is(err, ErrNoKeystore) {
		t.Errorf("opening a missing home: %v, want ErrNoKeystore", err)
	}
}

// A write that fails before its rename leaves the old keystore whole and no
// temporary file behind.
func TestKeystoreWriteFailsCleanly(t *testing.T) {
	ks, home := newKeystore(t, "")
	before, _ := os.ReadFile(ks.st.(*dirStorage).path())
	beforeRename = func(string) error { return errors.New("power cut") }
	defer func() { beforeRename = nil }()
	if _, err := ks.NextAuthStamp(time.Now()); err == nil {
		t.Fatal("save succeeded with a failing write")
	}
	after, _ := os.ReadFile(ks.st.(*dirStorage).path())
	if !bytes.Equal(before, after) {
		t.Error("a failed write changed the keystore")
	}
	if left, _ := filepath.Glob(filepath.Join(home, ".keystore.tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// A process killed (SIGKILL) while it saves over and over leaves a keystore
// that opens, whatever the moment; the temporary files it left are removed.
func TestKeystoreKilledMidWrite(t *testing.T) {
	if os.Getenv("CAIRN_KEYSTORE_WRITER") != "" {
		return // the child: see keystoreWriter
	}
	ks, home := newKeystore(t, "")
	ks.Close()
	for i := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKeystoreWriterChild$")
		cmd.Env = append(os.Environ(), "CAIRN_KEYSTORE_WRITER="+home)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1) // the child writes a byte once it is saving
		stdout.Read(buf)
		time.Sleep(time.Duration(5+10*i) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		ks, err := OpenKeystore(home, nil)
		if err != nil {
			t.Fatalf("after kill %d: %v", i, err)
		}
		ks.Close()
		if left, _ := filepath.Glob(filepath.Join(home, ".keystore.tmp-*")); len(left) != 0 {
			t.Errorf("temporary files left after reopening: %v", left)
		}
	}
}

func TestKeystoreWriterChild(t *testing.T) {
	home := os.Getenv("CAIRN_KEYSTORE_WRITER")
	if home == "" {
		t.Skip("run by TestKeystoreKilledMidWrite")
	}
	ks, err := OpenKeystore(home, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.Write([]byte{'.'})
	for i := 0; ; i++ {
		// Grow the state so writes take a while.
		ks.mu.Lock()
		ks.seen.add(codec.ID([]byte(strconv.Itoa(i) + "................")[:16]))
		ks.mu.Unlock()
		if _, err := ks.NextAuthStamp(time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSeenSetBound(t *testing.T) {
	var s seenSet
	for i := range seenCapacity + 10 {
		var id codec.ID
		id[0], id[1] = byte(i), byte(i>>8)
		if !s.add(id) {
			t.Fatalf("id %d not new", i)
		}
		if s.add(id) {
			t.Fatalf("id %d added twice", i)
		}
	}
	if len(s.order) != seenCapacity || len(s.index) != seenCapacity {
		t.Errorf("holds %d ids (%d indexed), want %d", len(s.order), len(s.index), seenCapacity)
	}
	last := seenCapacity + 9
	if s.has(codec.ID{0, 0}) || !s.has(codec.ID{byte(last), byte(last >> 8)}) {
		t.Error("the oldest id was not the one forgotten")
	}
}
